/**
 * run(): inputs (checked in step/ready.ts) -> submit (or find) -> follow -> verdict -> report. The one place that decides the step's result.
 */
import { coreIO, logLine } from './action-io.js'
import { savedCredits } from './cache/saved-credits.js'
import type { ApprovedCommit } from './github/fork-gate.js'
import type { CommentsApi } from './github/pr-comment.js'
import type { Settings } from './inputs/settings.js'
import { QarnotClient } from './qarnot/client.js'
import type { RetryPolicy } from './qarnot/retry.js'
import { ActionsHttpTransport, type Transport } from './qarnot/transport.js'
import { assembleReport } from './report/assemble.js'
import type { StepReport } from './report/model.js'
import { holdingRefusals, reportRefusal } from './report/refused.js'
import { writeReport } from './report/write-report.js'
import { collectHandedOff } from './step/collect-handed-off.js'
import { stepDeadline, type StepContext } from './step/context.js'
import { followWithRetries } from './step/infrastructure-retry.js'
import type { SourceCheckContext } from './step/pull-request-source.js'
import { readSettings, readyOrRefused } from './step/ready.js'
import { submitStep } from './step/submit.js'
import type { PreparedFiles } from './storage/session.js'
import { systemClock } from './task/clock.js'
import { readCost } from './task/cost.js'
import { USER_AGENT } from './version.js'

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

export async function run(deps: RunDependencies = defaultDependencies()): Promise<void> {
  const { io, clock } = deps
  const started = clock.now()
  // Until a task can be made, a refusal is held back, to be reported with a summary (report/refused.ts).
  const early = holdingRefusals(io)
  const read = readSettings({ ...deps, io: early.io })
  // The timeout counts from the start, and bounds the walk of the files too.
  const timer = stepDeadline(typeof read === 'object' ? read.timeoutMs : undefined, started, clock)
  const ready =
    typeof read === 'object'
      ? await readyOrRefused(read, { ...deps, io: early.io, deadline: timer.deadline })
      : read
  if (typeof ready !== 'object') {
    timer.clear()
    return reportRefusal(io, { message: early.message(), outcome: ready, secrets: early.secrets })
  }
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

function defaultDependencies(): RunDependencies {
  return { io: coreIO, env: process.env, clock: systemClock, stop: new AbortController().signal }
}
