/**
 * run(): settings -> submit -> follow -> report. The one place that decides the step's result.
 */
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
import { DEFAULT_REQUEST_TIMEOUT_MS, QarnotClient } from './qarnot/client.js'
import type { RetryPolicy } from './qarnot/retry.js'
import { ActionsHttpTransport, type Transport } from './qarnot/transport.js'
import type { TaskOutputWire } from './qarnot/types.js'
import { expandIds, formatRanges } from './ranges.js'
import { failureMessage } from './report/failure-message.js'
import type { TaskReport } from './report/model.js'
import { buildOutputs } from './report/outputs.js'
import { renderSummary } from './report/summary.js'
import { buildCreateBody, redactCreateBody } from './task/create-body.js'
import { InstanceOutputFiles } from './task/output-files.js'
import { BUSY_READ_BYTES, OutputFollower } from './task/output-follower.js'
import { isFinalState } from './task/states.js'
import { submitTask } from './task/submit.js'
import { decideVerdict, requestedIntervals } from './task/verdict.js'
import { systemClock, watchTask, type Clock, type WatchResult } from './task/watch.js'
import { USER_AGENT } from './version.js'
import { TRACE_TAG, readRunContext, traceLabels } from './github/context.js'
import { commentOnPullRequest } from './github/comment-step.js'
import type { CommentsApi } from './github/pr-comment.js'
import { liveLog, logFailedInstances, progressLogger } from './report/live-log.js'

export interface RunDependencies {
  readonly io: ActionIO
  readonly env: NodeJS.ProcessEnv
  readonly clock: Clock
  /** Aborted when the runner asks the step to stop (SIGINT, SIGTERM). */
  readonly stop: AbortSignal
  readonly transport?: (settings: Settings) => Transport
  readonly randomHex?: () => string
  /** The client's retry policy; tests shorten its waits. */
  readonly retry?: RetryPolicy
  /** The per-request timeout (default 30 s, as the SDKs use); tests shorten it. */
  readonly requestTimeoutMs?: number
  /** GitHub's comments API for `pr-comment` (default: Octokit with the token). */
  readonly comments?: (token: string) => CommentsApi
}

/** After a stop signal the runner allows 7.5 s before SIGTERM and 10 s before killing: wait for Cancelled within that. */
export const CANCEL_WAIT_MS = 5_000
/** Requests after a stop signal must fit in the runner's grace time. */
const HURRIED_TIMEOUT_MS = 2_000
const HURRIED_RETRY: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 200,
  maxDelayMs: 1_000,
  maxTotalMs: 6_000,
  maxRetryAfterMs: 1_000
}
/** After a timeout nothing kills us: give the abort a fair while to complete. */
export const TIMEOUT_CANCEL_WAIT_MS = 60_000

export function taskUrl(uuid: string): string {
  return `${TASQ_TASK_URL}${uuid}`
}

function defaultDependencies(): RunDependencies {
  return { io: coreIO, env: process.env, clock: systemClock, stop: new AbortController().signal }
}

function completedIds(task: TaskOutputWire): Set<number> {
  return new Set((task.completedInstances ?? []).map(i => i.instanceId))
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
      randomHex: deps.randomHex?.() ?? randomBytes(5).toString('hex'),
      trace: { labels: traceLabels(readRunContext(env)), tag: TRACE_TAG }
    })
  } catch (error) {
    io.setFailed(error instanceof InputError ? error.message : `Invalid inputs: ${String(error)}`)
    return
  }
  for (const secret of settings.secrets) if (secret !== rawToken) io.setSecret(secret)

  const requestTimeoutMs = deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const transport = deps.transport?.(settings) ?? new ActionsHttpTransport(USER_AGENT, requestTimeoutMs)
  const client = new QarnotClient({
    baseUrl: settings.apiUrl,
    token: settings.token,
    userAgent: USER_AGENT,
    transport,
    retry: deps.retry,
    timeoutMs: requestTimeoutMs,
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
  const { io, clock } = deps
  if (settings.followTask !== undefined) {
    // Collect a task another step submitted: found by uuid or shortname, then followed like our own.
    const existing = await client.getTask(settings.followTask)
    io.setOutput(Output.TaskUuid, existing.uuid)
    io.setOutput(Output.TaskUrl, taskUrl(existing.uuid))
    io.saveState(State.TaskUuid, existing.uuid)
    io.info(
      `Following existing task ${existing.uuid} ("${existing.name ?? ''}", ${existing.state}): ${taskUrl(existing.uuid)}`
    )
    await followTask(settings, client, deps, existing.uuid, clock.now())
    return
  }
  const body = buildCreateBody(settings)
  const { count, kind, intervals } = settings.instances
  const instances = `${count} instance${count === 1 ? '' : 's'}${kind === 'range' ? ` (${formatRanges(intervals)})` : ''}`
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
  await followTask(settings, client, deps, uuid, started)
}

/** Follows a created task to its end (or timeout, or stop), then reports it. */
async function followTask(
  settings: Settings,
  client: QarnotClient,
  deps: RunDependencies,
  uuid: string,
  started: number
): Promise<void> {
  const progress = { ended: false, sendAbort: undefined as ((why: string) => Promise<unknown>) | undefined }
  try {
    await followAndReport(settings, client, deps, uuid, started, progress)
  } catch (error) {
    // Nobody would be watching a task left running now: abort it (the post step tries again if this fails).
    if (!progress.ended && progress.sendAbort && settings.abortOnCancel) {
      await progress.sendAbort(
        `Following task ${uuid} failed (${error instanceof Error ? error.message : String(error)})`
      )
    }
    throw error
  }
}

async function followAndReport(
  settings: Settings,
  client: QarnotClient,
  deps: RunDependencies,
  uuid: string,
  started: number,
  progress: { ended: boolean; sendAbort: ((why: string) => Promise<unknown>) | undefined }
): Promise<void> {
  const { io, clock, stop } = deps
  const url = taskUrl(uuid)
  const logsDir = join(deps.env.RUNNER_TEMP || tmpdir(), 'qarnot-logs', uuid)
  const files = new InstanceOutputFiles(logsDir)
  const follower = new OutputFollower({
    client,
    uuid,
    files,
    onOutput: settings.streamLogs ? liveLog(io) : undefined,
    log: message => io.info(message),
    stop
  })
  // The abort goes out the moment a stop signal arrives, whatever the loop is doing: every second is billed.
  let abortSent: Promise<unknown> | undefined
  const sendAbort = (why: string): Promise<unknown> => {
    abortSent ??= (async () => {
      io.warning(`${why}: aborting task ${uuid}.`)
      try {
        const abortClient = stop.aborted ? client.hurried(HURRIED_TIMEOUT_MS, HURRIED_RETRY) : client
        if ((await abortClient.abortTask(uuid)) === 'already-ended') io.info('The task had already ended.')
      } catch (error) {
        io.warning(
          `Aborting task ${uuid} failed: ${error instanceof Error ? error.message : String(error)}; the post step tries again.`
        )
      }
    })()
    return abortSent
  }
  progress.sendAbort = sendAbort
  const onStop = (): void => {
    if (settings.abortOnCancel) void sendAbort('The step was cancelled')
  }
  if (stop.aborted) onStop()
  else stop.addEventListener('abort', onStop, { once: true })
  const logProgress = progressLogger(io, clock)
  const onTask = async (task: TaskOutputWire): Promise<void> => {
    logProgress(task)
    // Once the task has ended, finish() reads what is left (and confirms nothing more comes).
    if (!isFinalState(task.state)) await follower.readNew(completedIds(task))
  }
  const busy = (): boolean => follower.lastReadBytes >= BUSY_READ_BYTES
  const deadline = settings.timeoutMs === undefined ? undefined : started + settings.timeoutMs
  let watched: WatchResult = await watchTask({
    client,
    uuid,
    clock,
    deadline,
    stop,
    onTask,
    busy,
    pollFloorMs: settings.pollFloorMs
  })

  let outcome: OutcomeValue | undefined
  if (watched.ending === 'stopped' || watched.ending === 'timeout') {
    const stopped = watched.ending === 'stopped'
    const why = stopped
      ? 'The step was cancelled'
      : `The timeout of ${formatDuration(settings.timeoutMs ?? 0)} expired`
    outcome = stopped ? Outcome.Cancelled : Outcome.TimedOut
    if (stopped && !settings.abortOnCancel) {
      io.warning(`${why}; abort-on-cancel is false, so task ${uuid} goes on running: ${url}`)
      io.saveState(State.TaskEnded, 'true')
      io.setOutput(Output.State, watched.task.state)
      io.setOutput(Output.Outcome, outcome)
      io.setFailed(`${why}; task ${uuid} was left running (abort-on-cancel: false).`)
      return
    }
    await sendAbort(why)
    try {
      watched = await watchTask({
        // After a stop signal, every request must fit in the seconds the runner still gives.
        client: stopped ? client.hurried(HURRIED_TIMEOUT_MS, HURRIED_RETRY) : client,
        uuid,
        clock,
        deadline: clock.now() + (stopped ? CANCEL_WAIT_MS : TIMEOUT_CANCEL_WAIT_MS),
        onTask: logProgress,
        pollFloorMs: 500
      })
    } catch (error) {
      // The report matters more now than one more status: write it from the last one seen.
      io.warning(
        `Could not read task ${uuid} after the abort: ${error instanceof Error ? error.message : String(error)}`
      )
      watched = { task: watched.task, ending: watched.ending }
    }
    if (watched.ending !== 'final') {
      io.warning(`Task ${uuid} is still ${watched.task.state}; the post step checks it again.`)
    }
  }
  if (watched.ending === 'final') {
    progress.ended = true
    io.saveState(State.TaskEnded, 'true')
  }

  // A followed task says which instances it has; a created one falls back on what was asked.
  const fallback = settings.followTask === undefined ? settings.instances.intervals : undefined
  const ids = expandIds(requestedIntervals(watched.task, fallback))
  // After a stop signal the runner gives seconds: report what was read, with no further reads.
  await follower.finish(ids, stop.aborted ? { rounds: 0, repair: false } : {})
  files.ensureFiles(ids)

  const verdict = decideVerdict(watched.task, fallback)
  if (outcome === undefined) {
    outcome = verdict.passed
      ? Outcome.Success
      : watched.task.state === 'Cancelled'
        ? Outcome.Cancelled
        : Outcome.Failure
  }
  const label = `Qarnot task ${uuid}`
  let headline: string
  if (outcome === Outcome.Success) {
    headline = `${label} succeeded: ${verdict.instances.length} instance${verdict.instances.length === 1 ? '' : 's'}.`
  } else if (outcome === Outcome.TimedOut) {
    headline = `${label} was aborted after the timeout of ${formatDuration(settings.timeoutMs ?? 0)} (state ${watched.task.state}).`
  } else if (outcome === Outcome.Cancelled && stop.aborted) {
    headline = `The step was cancelled; ${label} was aborted (state ${watched.task.state}).`
  } else {
    headline = failureMessage(label, verdict)
  }

  const report: TaskReport = {
    uuid,
    url,
    name: settings.name,
    outcome,
    verdict,
    outputs: files,
    logsDir,
    headline,
    elapsedMs: clock.now() - started
  }
  if (settings.streamLogs) logFailedInstances(io, verdict.instances, files)
  io.info(
    `Output: ${follower.bytesRead} bytes read in task-level reads${follower.repairReads > 0 ? `, ${follower.repairReads} per-instance repair reads` : ''}; complete files in ${logsDir}`
  )
  for (const [name, value] of Object.entries(buildOutputs(report))) io.setOutput(name as OutputName, value)
  if (settings.summary) await io.appendSummary(renderSummary(report))
  if (settings.prComment) {
    await commentOnPullRequest({
      io,
      env: deps.env,
      token: settings.githubToken,
      report,
      comments: deps.comments
    })
  }

  if (outcome === Outcome.Success) io.info(headline)
  else io.setFailed(headline)
}
