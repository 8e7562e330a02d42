/**
 * run(): inputs -> submit (or find) -> follow -> verdict -> report. The one place that decides the step's result.
 */
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { coreIO, type ActionIO } from './action-io.js'
import { Input, State } from './constants.js'
import { explainError } from './errors-explained.js'
import { TRACE_TAG, readRunContext, traceLabels } from './github/context.js'
import type { CommentsApi } from './github/pr-comment.js'
import { InputError } from './inputs/read.js'
import { readSettings, type Settings } from './inputs/settings.js'
import { QarnotClient } from './qarnot/client.js'
import { HURRIED_REQUEST_TIMEOUT_MS, HURRIED_RETRY, type RetryPolicy } from './qarnot/retry.js'
import { ActionsHttpTransport, type Transport } from './qarnot/transport.js'
import { liveLog, progressLogger } from './report/live-log.js'
import { NO_OUTPUT, type StepReport } from './report/model.js'
import { decideOutcome, describeOutcome, type StepEnding } from './report/outcome.js'
import { writeReport } from './report/write-report.js'
import { systemClock, type Clock } from './task/clock.js'
import { followTask, type FollowResult } from './task/follow.js'
import { createTask, findTask, taskUrl, type StartedTask } from './task/start.js'
import { SubmitStoppedError, mayHaveCreated } from './task/submit.js'
import { decideVerdict, describeUnexpected } from './task/verdict.js'
import { expandIds } from './ranges.js'
import { USER_AGENT } from './version.js'
import { errorMessage } from './words.js'

export interface RunDependencies {
  readonly io: ActionIO
  readonly env: NodeJS.ProcessEnv
  readonly clock: Clock
  /** Aborted when the runner asks the step to stop (SIGINT, SIGTERM). */
  readonly stop: AbortSignal
  readonly transport?: (settings: Settings) => Transport
  readonly randomHex?: () => string
  /** The client's retry policy, per-request timeout, and how long failed status reads are ridden out; tests shorten them. */
  readonly retry?: RetryPolicy
  readonly requestTimeoutMs?: number
  readonly badReadBudgetMs?: number
  /** GitHub's comments API for `pr-comment` (default: Octokit with the token). */
  readonly comments?: (token: string) => CommentsApi
}

/** How the task came to be and ended, as far as the report needs to know. */
interface Ran {
  readonly ending: StepEnding
  readonly task?: StartedTask
  readonly followed?: FollowResult
}

export async function run(deps: RunDependencies = defaultDependencies()): Promise<void> {
  const started = deps.clock.now()
  const settings = readInputs(deps)
  if (!settings) return
  const transport = deps.transport?.(settings) ?? new ActionsHttpTransport(USER_AGENT)
  const client = new QarnotClient({
    baseUrl: settings.apiUrl,
    token: settings.token,
    userAgent: USER_AGENT,
    transport,
    retry: deps.retry,
    timeoutMs: deps.requestTimeoutMs,
    onRetry: message => deps.io.info(message)
  })
  try {
    const ran = await startAndFollow(settings, client, deps)
    await writeReport(assembleReport(settings, ran, deps.clock.now() - started), {
      io: deps.io,
      env: deps.env,
      summary: settings.summary,
      streamLogs: settings.streamLogs,
      prComment: settings.prComment ? { token: settings.githubToken, comments: deps.comments } : undefined
    })
  } finally {
    transport.close()
  }
}

/** Reads and checks every input, registering secrets first; undefined (and the step failed) when one is wrong. */
function readInputs({ io, env, randomHex }: RunDependencies): Settings | undefined {
  // Registered before anything can be logged, even before the inputs are validated.
  const rawToken = io.getInput(Input.Token)
  if (rawToken !== '') io.setSecret(rawToken)
  try {
    const settings = readSettings(name => io.getInput(name), {
      env,
      randomHex: randomHex?.() ?? randomBytes(5).toString('hex'),
      trace: { labels: traceLabels(readRunContext(env)), tag: TRACE_TAG }
    })
    for (const secret of settings.secrets) if (secret !== rawToken) io.setSecret(secret)
    return settings
  } catch (error) {
    io.setFailed(error instanceof InputError ? error.message : `Invalid inputs: ${errorMessage(error)}`)
    return undefined
  }
}

async function startAndFollow(settings: Settings, client: QarnotClient, deps: RunDependencies): Promise<Ran> {
  const { io, clock, stop } = deps
  const hurried = client.with({ timeoutMs: HURRIED_REQUEST_TIMEOUT_MS, retry: HURRIED_RETRY })
  const context = { io, client, hurried, clock, stop }
  let task: StartedTask
  try {
    task = settings.task
      ? await createTask(settings.task, settings, context)
      : await findTask(settings.followTask ?? '', context)
  } catch (error) {
    if (error instanceof SubmitStoppedError)
      return { ending: { kind: 'stopped-creating' }, task: stoppedTask(io, error) }
    // A plain refusal made nothing: the post step has nothing to look for.
    if (!mayHaveCreated(error)) io.saveState(State.TaskEnded, 'true')
    return { ending: { kind: 'not-created', message: explainError(error, settings.apiUrl) } }
  }
  if (!settings.wait) {
    io.saveState(State.TaskEnded, 'true') // not ours to abort in post: the user asked not to wait
    return { ending: { kind: 'submitted' }, task }
  }
  const followed = await followTask({
    client,
    uuid: task.uuid,
    ids: () => expandIds(task.requested),
    clock,
    stop,
    log: io,
    logsDir: join(deps.env.RUNNER_TEMP || tmpdir(), 'qarnot-logs', task.uuid),
    started: clock.now(),
    timeoutMs: settings.timeoutMs,
    abortOnCancel: settings.abortOnCancel,
    pollFloorMs: settings.pollFloorMs,
    badReadBudgetMs: deps.badReadBudgetMs,
    initial: task.initial,
    onTask: progressLogger(io, clock),
    onOutput: settings.streamLogs ? liveLog(io) : undefined
  })
  if (followed.ended || followed.leftRunning) io.saveState(State.TaskEnded, 'true')
  const message =
    followed.ending === 'lost' ? explainError(followed.error, settings.apiUrl, 'follow') : undefined
  return {
    ending: { kind: 'followed', ending: followed.ending, leftRunning: followed.leftRunning, message },
    task,
    followed
  }
}

/** The task an interrupted create made and aborted, if one was found: the post step checks it again. */
function stoppedTask(io: ActionIO, error: SubmitStoppedError): StartedTask | undefined {
  if (!error.uuid) return undefined
  io.saveState(State.TaskUuid, error.uuid)
  return { uuid: error.uuid, name: '', requested: [] }
}

/** The verdict, the outcome and their wording, from what happened. Pure. */
function assembleReport(settings: Settings, ran: Ran, elapsedMs: number): StepReport {
  const { task, followed, ending } = ran
  const verdict = followed && task ? decideVerdict(followed.task, task.requested) : undefined
  const outcome = decideOutcome(ending, verdict)
  const wording = describeOutcome({
    ending,
    outcome,
    verdict,
    uuid: task?.uuid,
    timeoutMs: settings.timeoutMs
  })
  const unexpected = verdict ? describeUnexpected(verdict) : ''
  return {
    outcome,
    ...wording,
    task: task
      ? { uuid: task.uuid, url: taskUrl(task.uuid), name: task.name || settings.task?.name || '' }
      : undefined,
    state: followed?.task?.state ?? (ending.kind === 'submitted' ? 'Submitted' : 'Unknown'),
    verdict,
    requestedCount: settings.task?.instances.count,
    outputs: followed?.files ?? NO_OUTPUT,
    logsDir: followed?.files.dir,
    elapsedMs,
    notes: [...(followed?.output.notes ?? []), ...(unexpected ? [unexpected] : [])]
  }
}

function defaultDependencies(): RunDependencies {
  return { io: coreIO, env: process.env, clock: systemClock, stop: new AbortController().signal }
}
