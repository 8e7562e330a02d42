/**
 * run(): inputs -> submit (or find) -> follow -> verdict -> report. The one place that decides the step's result.
 */
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { coreIO, type ActionIO } from './action-io.js'
import { State } from './constants.js'
import { explainError } from './errors-explained.js'
import type { CommentsApi } from './github/pr-comment.js'
import { readInputs, type Settings } from './inputs/settings.js'
import { QarnotClient } from './qarnot/client.js'
import { HURRIED_REQUEST_TIMEOUT_MS, HURRIED_RETRY, type RetryPolicy } from './qarnot/retry.js'
import { ActionsHttpTransport, type Transport } from './qarnot/transport.js'
import { assembleReport, type WhatHappened } from './report/assemble.js'
import { writeReport } from './report/write-report.js'
import { systemClock, type Clock } from './task/clock.js'
import { readCost } from './task/cost.js'
import { bringKeptResults, planAttempt } from './task/earlier.js'
import { followStartedTask } from './task/follow.js'
import { InstanceOutputFiles } from './task/output-files.js'
import { startTask } from './task/start.js'
import { USER_AGENT } from './version.js'

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
  const { io, clock } = deps
  const started = clock.now()
  const settings = readInputs(deps.io, deps.env, deps.randomHex?.() ?? randomBytes(5).toString('hex'))
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
    const happened = await startAndFollow(settings, client, deps)
    // What the tasks that ended cost (a couple of seconds at most, and never a reason to fail).
    const cost = await readCost(client, happened.costed, clock, message => io.debug(message))
    const report = assembleReport(settings, { ...happened, cost, elapsedMs: clock.now() - started })
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

/** What happened, and the tasks that ended, whose cost is read. */
type Happened = Omit<WhatHappened, 'elapsedMs' | 'cost'> & { readonly costed: string[] }

/** Plan the attempt (a re-run computes only what failed), submit (or find), then follow. */
async function startAndFollow(
  settings: Settings,
  client: QarnotClient,
  deps: RunDependencies
): Promise<Happened> {
  const { io, clock, stop, env } = deps
  const plan = await planAttempt(settings, client, message => io.info(message))
  const only = plan.kind === 'some' ? plan.rerun : undefined
  const hurried = client.with({ timeoutMs: HURRIED_REQUEST_TIMEOUT_MS, retry: HURRIED_RETRY })
  const start =
    plan.kind === 'none' ? undefined : await startTask(settings, { io, client, hurried, clock, stop, only })
  if (start?.refusal !== undefined)
    return { ending: { kind: 'not-created', message: start.refusal }, costed: [] }
  if (start?.stopped) return { ending: { kind: 'stopped-creating' }, task: start.task, costed: [] }
  if (start && !settings.wait) {
    io.saveState(State.TaskEnded, 'true') // the user's to watch: the post step leaves it alone
    return { ending: { kind: 'submitted' }, task: start.task, plan, costed: [] }
  }
  const logs = join(env.RUNNER_TEMP || tmpdir(), 'qarnot-logs')
  const logsDir = start
    ? join(logs, start.task.uuid)
    : mkdtempSync(join(mkdirp(logs), `attempt-${settings.rerun.attempt}-`))
  const followed = start
    ? await followStartedTask({
        settings,
        task: start.task,
        client,
        io,
        clock,
        stop,
        logsDir,
        badReadBudgetMs: deps.badReadBudgetMs
      })
    : undefined
  const files = followed?.files ?? new InstanceOutputFiles(logsDir)
  const kept = await bringKeptResults(plan, client, files)
  if (!followed) return { ending: { kind: 'nothing-to-rerun' }, plan, kept, files, costed: kept.uuids }
  const { ending, leftRunning, error } = followed
  const message = ending === 'lost' ? explainError(error, settings.apiUrl, 'follow') : undefined
  const costed = [...(followed.ended && start ? [start.task.uuid] : []), ...kept.uuids]
  return {
    ending: { kind: 'followed', ending, leftRunning, message },
    task: start?.task,
    followed,
    plan,
    kept,
    costed
  }
}

function mkdirp(dir: string): string {
  mkdirSync(dir, { recursive: true })
  return dir
}

function defaultDependencies(): RunDependencies {
  return { io: coreIO, env: process.env, clock: systemClock, stop: new AbortController().signal }
}
