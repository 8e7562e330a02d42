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
import { expandIds } from './ranges.js'
import { assembleReport, type WhatHappened } from './report/assemble.js'
import { liveLog, progressLogger } from './report/live-log.js'
import { writeReport } from './report/write-report.js'
import { systemClock, type Clock } from './task/clock.js'
import { followTask } from './task/follow.js'
import { startTask, type StartedTask } from './task/start.js'
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
  /** The client's retry policy, per-request timeout, and how long failed status reads are ridden out. */
  readonly retry?: RetryPolicy
  readonly requestTimeoutMs?: number
  readonly badReadBudgetMs?: number
  /** GitHub's comments API for `pr-comment` (default: Octokit with the token). */
  readonly comments?: (token: string) => CommentsApi
}

export async function run(deps: RunDependencies = defaultDependencies()): Promise<void> {
  const { io, clock, stop } = deps
  const started = clock.now()
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
    onRetry: message => io.info(message)
  })
  try {
    const hurried = client.with({ timeoutMs: HURRIED_REQUEST_TIMEOUT_MS, retry: HURRIED_RETRY })
    const start = await startTask(settings, { io, client, hurried, clock, stop })
    let happened: Omit<WhatHappened, 'elapsedMs'>
    if (start.refusal !== undefined) happened = { ending: { kind: 'not-created', message: start.refusal } }
    else if (start.stopped) happened = { ending: { kind: 'stopped-creating' }, task: start.task }
    else if (!settings.wait) happened = submitted(io, start.task)
    else happened = await follow(settings, start.task, client, deps)
    const report = assembleReport(settings, { ...happened, elapsedMs: clock.now() - started })
    await writeReport(report, {
      io,
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

/** `wait: false`: the task is the user's to watch; the post step leaves it alone. */
function submitted(io: ActionIO, task: StartedTask): Omit<WhatHappened, 'elapsedMs'> {
  io.saveState(State.TaskEnded, 'true')
  return { ending: { kind: 'submitted' }, task }
}

async function follow(
  settings: Settings,
  task: StartedTask,
  client: QarnotClient,
  { io, clock, stop, env, badReadBudgetMs }: RunDependencies
): Promise<Omit<WhatHappened, 'elapsedMs'>> {
  const followed = await followTask({
    client,
    uuid: task.uuid,
    ids: () => expandIds(task.requested),
    clock,
    stop,
    log: io,
    logsDir: join(env.RUNNER_TEMP || tmpdir(), 'qarnot-logs', task.uuid),
    started: clock.now(),
    timeoutMs: settings.timeoutMs,
    abortOnCancel: settings.abortOnCancel,
    pollFloorMs: settings.pollFloorMs,
    badReadBudgetMs,
    initial: task.initial,
    onTask: progressLogger(io, clock),
    onOutput: settings.streamLogs ? liveLog(io) : undefined
  })
  if (followed.ended || followed.leftRunning) io.saveState(State.TaskEnded, 'true')
  const { ending, leftRunning, error } = followed
  const message = ending === 'lost' ? explainError(error, settings.apiUrl, 'follow') : undefined
  return { ending: { kind: 'followed', ending, leftRunning, message }, task, followed }
}

function defaultDependencies(): RunDependencies {
  return { io: coreIO, env: process.env, clock: systemClock, stop: new AbortController().signal }
}
