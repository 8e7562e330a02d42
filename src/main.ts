/**
 * run(): inputs -> submit (or find) -> follow -> verdict -> report. The one place that decides the step's result.
 */
import { randomBytes } from 'node:crypto'
import { coreIO, logLine } from './action-io.js'
import { Outcome, Output, type OutcomeValue } from './constants.js'
import { formatDuration } from './input-formats/duration.js'
import type { CommentsApi } from './github/pr-comment.js'
import { readInputs, type Settings } from './inputs/settings.js'
import { QarnotClient } from './qarnot/client.js'
import type { RetryPolicy } from './qarnot/retry.js'
import { ActionsHttpTransport, type Transport } from './qarnot/transport.js'
import { assembleReport } from './report/assemble.js'
import { writeReport } from './report/write-report.js'
import { systemClock } from './task/clock.js'
import { readCost } from './task/cost.js'
import { savedCredits } from './cache/saved-credits.js'
import { submitStep } from './step/submit.js'
import { followWithRetries } from './step/infrastructure-retry.js'
import { prepareFiles, type PreparedFiles } from './storage/session.js'
import { errorMessage } from './words.js'
import { boundedSignal, stepDeadline, type StepContext } from './step/context.js'
import {
  guardPullRequestSource,
  withheldSecrets,
  type SourceCheckContext
} from './step/pull-request-source.js'
import { USER_AGENT } from './version.js'
import type { StepReport } from './report/model.js'
import { collectHandedOff } from './step/collect-handed-off.js'
import type { ApprovedCommit } from './github/fork-gate.js'

export interface RunDependencies extends StepContext, Omit<SourceCheckContext, keyof StepContext> {
  readonly transport?: (settings: Settings) => Transport
  readonly randomHex?: () => string
  /** The client's retry policy and per-request timeout; tests shorten them. */
  readonly retry?: RetryPolicy
  readonly requestTimeoutMs?: number
  /** GitHub's comments API for `pr-comment` (default: Octokit with the token). */
  readonly comments?: (token: string) => CommentsApi
}

type RunContext = RunDependencies & { started: number; deadline: StepContext['deadline'] }

/** What is known before the first request to Qarnot: the settings, the files, who approved a fork's commit. */
interface Ready {
  readonly settings: Settings
  readonly prepared: PreparedFiles | undefined
  readonly approval: ApprovedCommit | undefined
}

export async function run(deps: RunDependencies = defaultDependencies()): Promise<void> {
  const { io, clock } = deps
  const started = clock.now()
  const read = readSettings(deps)
  // The timeout counts from the start, and bounds the walk of the files too.
  const timer = stepDeadline(read?.timeoutMs, started, clock)
  const ready = await readyOrRefused(read, { ...deps, deadline: timer.deadline })
  if (!ready) return timer.clear()
  const { settings, prepared, approval } = ready
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
    const one = (chosen: Settings): Promise<StepReport> =>
      reportTask(chosen, prepared, approval, client, context)
    if (settings.collectHandedOff) await collectHandedOff(settings, client, context, one)
    else await one(settings)
  } finally {
    timer.clear()
    transport.close()
  }
}

/** The settings, unless a fork's pull request was run without the secrets (said as such, not as a bad token). */
function readSettings(deps: RunDependencies): Settings | undefined {
  if (withheldSecrets(deps.io, deps.env)) {
    refuse(deps, Outcome.RefusedFork)
    return undefined
  }
  const settings = readInputs(deps.io, deps.env, deps.randomHex?.() ?? randomBytes(5).toString('hex'))
  if (!settings) refuse(deps, Outcome.Failure)
  return settings
}

/**
 * Where a pull request's code comes from, then the files: both checked before anything is sent to Qarnot
 * (docs/security.md). Undefined when the step was refused, its outcome already set.
 */
async function readyOrRefused(
  read: Settings | undefined,
  deps: RunDependencies & { deadline: StepContext['deadline'] }
): Promise<Ready | undefined> {
  if (!read) return undefined
  const checked = await guardPullRequestSource(read, deps)
  if (typeof checked !== 'object') return void refuse(deps, checked ?? Outcome.Failure)
  const prepared = await checkFiles(checked.settings, deps)
  if (typeof prepared === 'string') return void refuse(deps, prepared)
  return { settings: checked.settings, prepared, approval: checked.approval }
}

/** Refused before anything was made: `outcome` and the counts still say so, for the steps that read them. */
function refuse(deps: Pick<RunDependencies, 'io'>, outcome: OutcomeValue): void {
  deps.io.setOutput(Output.Outcome, outcome)
  for (const count of [Output.InstanceCount, Output.SucceededCount, Output.FailedCount])
    deps.io.setOutput(count, '0')
}

/** One task submitted (or found), followed and reported. */
async function reportTask(
  settings: Settings,
  prepared: PreparedFiles | undefined,
  approval: ApprovedCommit | undefined,
  client: QarnotClient,
  context: RunContext
): Promise<StepReport> {
  const { io, clock } = context
  const submitted = await submitStep(settings, prepared, client, context)
  // Instances the platform failed run again in follow-up tasks (docs/infrastructure-retries.md).
  const { happened, retries } = await followWithRetries(settings, prepared, submitted, client, context)
  // What the tasks that ended cost (a couple of seconds at most, never a reason to fail, never after a stop).
  const stopped = context.stop.aborted
  const debug = (message: string) => io.debug(message)
  const [cost, saved] = await Promise.all([
    readCost(client, stopped ? [] : happened.costed, clock, debug),
    happened.cache && !stopped ? savedCredits(client, happened.cache.sources, clock, debug) : undefined
  ])
  const cache = happened.cache && { ...happened.cache, savedCredits: saved }
  const report = assembleReport(settings, {
    ...happened,
    cache,
    cost,
    elapsedMs: clock.now() - context.started,
    platformRetries: retries
  })
  await writeReport(report, {
    io,
    env: context.env,
    summary: settings.summary,
    streamLogs: settings.streamLogs,
    secrets: settings.secrets,
    prComment: settings.prComment
      ? { token: settings.githubToken, leg: settings.commentLeg, comments: context.comments, approval }
      : undefined
  })
  return report
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
