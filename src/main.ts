/**
 * run(): inputs -> submit (or find) -> follow -> verdict -> report. The one place that decides the step's result.
 */
import { randomBytes } from 'node:crypto'
import { coreIO, logLine, type ActionIO } from './action-io.js'
import { Outcome, type OutcomeValue } from './constants.js'
import { formatDuration } from './input-formats/duration.js'
import type { CommentsApi } from './github/pr-comment.js'
import { readInputs, type Settings } from './inputs/settings.js'
import { QarnotClient } from './qarnot/client.js'
import type { RetryPolicy } from './qarnot/retry.js'
import { ActionsHttpTransport, type Transport } from './qarnot/transport.js'
import { assembleReport } from './report/assemble.js'
import { reportRefusal } from './report/refused.js'
import { writeReport } from './report/write-report.js'
import { systemClock } from './task/clock.js'
import { readCost } from './task/cost.js'
import { followStep } from './step/follow.js'
import { submitStep } from './step/submit.js'
import { prepareFiles, type PreparedFiles } from './storage/session.js'
import { errorMessage } from './words.js'
import { boundedSignal, stepDeadline, type StepContext } from './step/context.js'
import { USER_AGENT } from './version.js'

export interface RunDependencies extends StepContext {
  readonly transport?: (settings: Settings) => Transport
  readonly randomHex?: () => string
  /** The client's retry policy and per-request timeout; tests shorten them. */
  readonly retry?: RetryPolicy
  readonly requestTimeoutMs?: number
  /** GitHub's comments API for `pr-comment` (default: Octokit with the token). */
  readonly comments?: (token: string) => CommentsApi
}

export async function run(deps: RunDependencies = defaultDependencies()): Promise<void> {
  const { io, clock } = deps
  const started = clock.now()
  // Until a task can be made, a refusal is held back, to be reported with a summary (reportRefusal).
  const refusals: string[] = []
  const secrets: string[] = []
  const early: ActionIO = {
    ...io,
    setFailed: message => {
      refusals.push(message)
    },
    setSecret: value => {
      secrets.push(value)
      io.setSecret(value)
    }
  }
  const settings = readInputs(early, deps.env, deps.randomHex?.() ?? randomBytes(5).toString('hex'))
  // The timeout counts from the start, and bounds the walk of the files too.
  const timer = stepDeadline(settings?.timeoutMs, started, clock)
  const prepared = settings && (await checkFiles(settings, { ...deps, io: early, deadline: timer.deadline }))
  if (!settings || typeof prepared === 'string') {
    timer.clear()
    // Refused before anything was made: `outcome` and the counts still say so, for the steps that read them.
    const outcome = typeof prepared === 'string' ? prepared : Outcome.Failure
    await reportRefusal(io, { message: refusals.join(' ') || 'The inputs were refused.', outcome, secrets })
    return
  }
  const transport = deps.transport?.(settings) ?? new ActionsHttpTransport(USER_AGENT)
  const client = new QarnotClient({
    baseUrl: settings.apiUrl,
    token: settings.token,
    userAgent: USER_AGENT,
    transport,
    retry: deps.retry,
    timeoutMs: deps.requestTimeoutMs,
    onRetry: logLine(io)
  })
  try {
    const context = { ...deps, started, deadline: timer.deadline }
    const submitted = await submitStep(settings, prepared, client, context)
    const happened = await followStep(settings, submitted, client, context)
    // What the tasks that ended cost (a couple of seconds at most, never a reason to fail, never after a stop).
    const costed = deps.stop.aborted ? [] : happened.costed
    const cost = await readCost(client, costed, clock, message => io.debug(message))
    const report = assembleReport(settings, { ...happened, cost, elapsedMs: clock.now() - started })
    await writeReport(report, {
      io,
      env: deps.env,
      summary: settings.summary,
      streamLogs: settings.streamLogs,
      secrets: settings.secrets,
      prComment: settings.prComment
        ? { token: settings.githubToken, leg: settings.commentLeg, comments: deps.comments }
        : undefined
    })
  } finally {
    timer.clear()
    transport.close()
  }
}

/**
 * The files the inputs name, checked on disk before any request, within the step's stop and timeout; when one is
 * wrong (or the walk was cut short), the step has failed and this is its outcome.
 */
async function checkFiles(
  settings: Settings,
  context: Pick<StepContext, 'io' | 'stop' | 'deadline'>
): Promise<PreparedFiles | undefined | OutcomeValue> {
  if (!settings.files) return undefined
  const { io } = context
  const signal = boundedSignal(context)
  try {
    return await prepareFiles(settings.files, { signal, warn: message => io.warning(message) })
  } catch (error) {
    if (context.stop.aborted) {
      io.setFailed(
        'The step was cancelled while the files named by resources were being looked at; no task was created.'
      )
      return Outcome.Cancelled
    }
    if (signal.aborted) {
      io.setFailed(
        `The timeout of ${formatDuration(settings.timeoutMs ?? 0)} passed while the files named by resources were being looked at; no task was created.`
      )
      return Outcome.TimedOut
    }
    io.setFailed(errorMessage(error))
    return Outcome.Failure
  }
}

function defaultDependencies(): RunDependencies {
  return { io: coreIO, env: process.env, clock: systemClock, stop: new AbortController().signal }
}
