/**
 * run(): settings -> submit -> watch -> report. The one place that decides the step's result.
 */
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { coreIO, type ActionIO } from './action-io.js'
import {
  Input,
  Outcome,
  Output,
  State,
  TASQ_TASK_URL,
  type OutcomeValue,
  type OutputName
} from './constants.js'
import { explainError } from './errors-explained.js'
import { formatDuration } from './input-formats/duration.js'
import { InputError, SECRET_CONSTANT_PREFIX, readSettings, type Settings } from './inputs.js'
import { QarnotClient } from './qarnot/client.js'
import { ActionsHttpTransport, type Transport } from './qarnot/transport.js'
import type { TaskOutputWire } from './qarnot/types.js'
import { formatRanges } from './ranges.js'
import { failureMessage } from './report/failure-message.js'
import { writeInstanceLog } from './report/log.js'
import { logsDirFor, writeLogsDir } from './report/logs-dir.js'
import type { InstanceOutput, TaskReport } from './report/model.js'
import { buildOutputs } from './report/outputs.js'
import { renderSummary } from './report/summary.js'
import { collectOutputs } from './task/collect.js'
import { buildCreateBody, redactCreateBody } from './task/create-body.js'
import { describeProgress, progressCounts } from './task/progress.js'
import { isKnownState } from './task/states.js'
import { submitTask } from './task/submit.js'
import { decideVerdict } from './task/verdict.js'
import { systemClock, watchTask, type Clock, type WatchResult } from './task/watch.js'
import { USER_AGENT } from './version.js'

export interface RunDependencies {
  readonly io: ActionIO
  readonly env: NodeJS.ProcessEnv
  readonly clock: Clock
  /** Aborted when the runner asks the step to stop (SIGINT, SIGTERM). */
  readonly stop: AbortSignal
  readonly transport?: (settings: Settings) => Transport
  readonly randomHex?: () => string
}

/** After a stop signal the runner allows 7.5 s before SIGTERM and 10 s before killing: wait for Cancelled within that. */
export const CANCEL_WAIT_MS = 6_000
/** After a timeout nothing kills us: give the abort a fair while to complete. */
export const TIMEOUT_CANCEL_WAIT_MS = 60_000
/** Progress lines at most this often, state changes always. */
const PROGRESS_EVERY_MS = 10_000

export function taskUrl(uuid: string): string {
  return `${TASQ_TASK_URL}${uuid}`
}

function defaultDependencies(): RunDependencies {
  return { io: coreIO, env: process.env, clock: systemClock, stop: new AbortController().signal }
}

/** Logs state changes at once and progress at most every PROGRESS_EVERY_MS. */
function progressLogger(io: ActionIO, clock: Clock): (task: TaskOutputWire) => void {
  let lastState = ''
  let lastLine = ''
  let lastAt = 0
  const warned = new Set<string>()
  return task => {
    const line = describeProgress(progressCounts(task))
    if (task.state !== lastState) {
      if (!isKnownState(task.state) && !warned.has(task.state)) {
        warned.add(task.state)
        io.warning(`Qarnot reports the unknown task state "${task.state}"; still waiting for a final state.`)
      }
      io.info(`State: ${task.state} (${line})`)
      lastState = task.state
    } else if (line !== lastLine && clock.now() - lastAt >= PROGRESS_EVERY_MS) {
      io.info(line)
    } else {
      return
    }
    lastLine = line
    lastAt = clock.now()
  }
}

export async function run(deps: RunDependencies = defaultDependencies()): Promise<void> {
  const { io, env } = deps
  // Registered before anything can be logged, even before the inputs are validated.
  const rawToken = io.getInput(Input.Token)
  if (rawToken !== '') io.setSecret(rawToken)

  let settings: Settings
  try {
    settings = readSettings(name => io.getInput(name), {
      env,
      randomHex: deps.randomHex?.() ?? randomBytes(5).toString('hex')
    })
  } catch (error) {
    io.setFailed(error instanceof InputError ? error.message : `Invalid inputs: ${String(error)}`)
    return
  }
  for (const secret of settings.secrets) if (secret !== rawToken) io.setSecret(secret)

  const transport = deps.transport?.(settings) ?? new ActionsHttpTransport(USER_AGENT, 30_000)
  const client = new QarnotClient({
    baseUrl: settings.apiUrl,
    token: settings.token,
    userAgent: USER_AGENT,
    transport,
    onRetry: message => io.info(message)
  })
  try {
    await runTask(settings, client, deps)
  } catch (error) {
    io.setFailed(explainError(error, settings.apiUrl))
  } finally {
    transport.close()
  }
}

async function runTask(settings: Settings, client: QarnotClient, deps: RunDependencies): Promise<void> {
  const { io, clock, stop } = deps
  const body = buildCreateBody(settings)
  const instances =
    settings.instances.kind === 'count'
      ? `${settings.instances.count} instance${settings.instances.count === 1 ? '' : 's'}`
      : `${settings.instances.count} instance${settings.instances.count === 1 ? '' : 's'} (${formatRanges(settings.instances.intervals)})`
  io.info(
    `Creating Qarnot task "${settings.name}" (${settings.shortname}): ${instances}, ${settings.pool ? `pool ${settings.pool}` : `profile ${settings.profile}`}, at ${settings.apiUrl}`
  )
  io.debug(`Create body: ${JSON.stringify(redactCreateBody(body, SECRET_CONSTANT_PREFIX))}`)

  const started = clock.now()
  const submission = await submitTask(client, body)
  const uuid = submission.uuid
  const url = taskUrl(uuid)
  // Outputs and state written now still count if the step is cancelled or fails later.
  io.setOutput(Output.TaskUuid, uuid)
  io.setOutput(Output.TaskUrl, url)
  io.saveState(State.TaskUuid, uuid)
  io.info(
    `Task ${uuid} created${submission.adopted ? ' (found by its shortname after a lost answer)' : ''}: ${url}`
  )

  if (!settings.wait) {
    io.setOutput(Output.Outcome, Outcome.Submitted)
    io.setOutput(Output.State, 'Submitted')
    io.saveState(State.TaskEnded, 'true') // not ours to abort in post: the user asked not to wait
    io.info('wait is false: the task goes on without this step.')
    if (settings.summary) {
      await io.appendSummary(`## 📤 Qarnot task submitted\n\n[${settings.name}](${url}) · \`${uuid}\`\n`)
    }
    return
  }

  const onTask = progressLogger(io, clock)
  const deadline = settings.timeoutMs === undefined ? undefined : started + settings.timeoutMs
  let watched: WatchResult = await watchTask({ client, uuid, clock, deadline, stop, onTask })
  let outcome: OutcomeValue | undefined
  if (watched.ending === 'stopped' || watched.ending === 'timeout') {
    const why =
      watched.ending === 'stopped'
        ? 'The step was cancelled'
        : `The timeout of ${formatDuration(settings.timeoutMs ?? 0)} expired`
    outcome = watched.ending === 'stopped' ? Outcome.Cancelled : Outcome.TimedOut
    if (watched.ending === 'stopped' && !settings.abortOnCancel) {
      io.warning(`${why}; abort-on-cancel is false, so task ${uuid} goes on running: ${url}`)
      io.saveState(State.TaskEnded, 'true')
      io.setOutput(Output.State, watched.task.state)
      io.setOutput(Output.Outcome, outcome)
      io.setFailed(`${why}; task ${uuid} was left running (abort-on-cancel: false).`)
      return
    }
    io.warning(`${why}: aborting task ${uuid}.`)
    const answer = await client.abortTask(uuid)
    if (answer === 'already-ended') io.info('The task had already ended.')
    const waitMs = watched.ending === 'stopped' ? CANCEL_WAIT_MS : TIMEOUT_CANCEL_WAIT_MS
    watched = await watchTask({
      client,
      uuid,
      clock,
      deadline: clock.now() + waitMs,
      onTask,
      pollFloorMs: 500
    })
    if (watched.ending !== 'final')
      io.warning(`Task ${uuid} is still ${watched.task.state}; the post step checks it again.`)
  }
  const ended = watched.ending === 'final'
  if (ended) io.saveState(State.TaskEnded, 'true')

  const verdict = decideVerdict(watched.task, settings.instances.intervals)
  if (outcome === undefined) {
    outcome = verdict.passed
      ? Outcome.Success
      : watched.task.state === 'Cancelled'
        ? Outcome.Cancelled
        : Outcome.Failure
  }

  // After a stop signal there is no time to read every instance's output.
  let outputs = new Map<number, InstanceOutput>()
  if (outcome !== Outcome.Cancelled || !stop.aborted) {
    outputs = await collectOutputs(
      client,
      uuid,
      verdict.instances.map(i => i.id)
    )
  }
  const logsDir = logsDirFor(deps.env.RUNNER_TEMP || tmpdir(), uuid)
  await writeLogsDir(logsDir, outputs)

  if (settings.streamLogs) {
    for (const instance of verdict.instances) {
      const output = outputs.get(instance.id) ?? { stdout: '', stderr: '' }
      writeInstanceLog(io, instance.id, instance.state, output.stdout, output.stderr)
    }
  }

  const label = `Qarnot task ${uuid}`
  let headline: string
  if (outcome === Outcome.Success)
    headline = `${label} succeeded: ${verdict.instances.length} instance${verdict.instances.length === 1 ? '' : 's'}.`
  else if (outcome === Outcome.TimedOut) {
    headline = `${label} was aborted after the timeout of ${formatDuration(settings.timeoutMs ?? 0)} (state ${watched.task.state}).`
  } else if (outcome === Outcome.Cancelled && stop.aborted) {
    headline = `The step was cancelled; ${label} was aborted (state ${watched.task.state}).`
  } else headline = failureMessage(label, verdict)

  const report: TaskReport = {
    uuid,
    url,
    name: settings.name,
    outcome,
    verdict,
    outputs,
    logsDir,
    headline,
    elapsedMs: clock.now() - started
  }
  for (const [name, value] of Object.entries(buildOutputs(report))) io.setOutput(name as OutputName, value)
  if (settings.summary) await io.appendSummary(renderSummary(report))

  if (outcome === Outcome.Success) io.info(headline)
  else io.setFailed(headline)
}
