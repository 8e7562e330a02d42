/**
 * Following one task to its end: status reads and output reads while it runs, the abort when the step is stopped,
 * its time runs out or it can no longer be followed, then the last reads. It owns its abort bookkeeping and returns
 * what happened; deciding what that means for the step is the caller's.
 */
import { logLine, type ActionIO } from '../action-io.js'
import { State } from '../constants.js'
import { formatDuration } from '../input-formats/duration.js'
import type { Settings } from '../inputs/settings.js'
import { expandIds } from '../ranges.js'
import { liveLog, progressLogger } from '../report/live-log.js'
import type { StartedTask } from './start.js'
import { TaskTimeline, type TimelineView } from './timeline.js'
import type { OutputStream, QarnotClient } from '../qarnot/client.js'
import { HURRIED_REQUEST_TIMEOUT_MS, HURRIED_RETRY } from '../qarnot/retry.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import { errorMessage } from '../words.js'
import type { Clock } from './clock.js'
import { InstanceOutputFiles } from './output-files.js'
import { outputReadDue } from './output-cadence.js'
import { BUSY_READ_BYTES, OutputFollower } from './output-follower.js'
import { isFinalState } from './states.js'
import { watchTask, type WatchEnding, type WatchResult } from './watch.js'
import { CreditsWatch } from '../budget/watch.js'

/**
 * What follows a stop, a timeout or a lost task (the abort, the wait for Cancelled, the last reads) fits in this,
 * whatever the API does: after a stop the runner sends SIGTERM 7.5 s later, and a timeout must bound the step.
 */
export const WRAP_UP_MS = 5_000

export interface FollowLog {
  info(message: string): void
  warning(message: string): void
}

export interface FollowOptions {
  readonly client: QarnotClient
  readonly uuid: string
  /** The task's instance ids, as far as known (the verdict's list). */
  readonly ids: () => readonly number[]
  readonly clock: Clock
  readonly stop: AbortSignal
  readonly log: FollowLog
  readonly logsDir: string
  /** When following began (clock ms): the timeout counts from there. */
  readonly started: number
  readonly timeoutMs: number | undefined
  /** hand-off-after: watching ends then, the task left running (never aborted). */
  readonly handOffAfterMs?: number
  /** The task's output may have been read by another step before (`task:`): see FollowerOptions.readBefore. */
  readonly readBefore?: boolean
  readonly abortOnCancel: boolean
  readonly pollFloorMs: number
  /** How long failed status reads are ridden out before the task is taken as lost (default BAD_READ_BUDGET_MS). */
  readonly badReadBudgetMs?: number
  /** Created with autoDeleteOnCompletion: a run of 404s means it was deleted once it ended. */
  readonly mayBeDeleted?: boolean
  readonly initial?: TaskOutputWire
  readonly onTask?: (task: TaskOutputWire) => void
  /** The task is to be aborted for a reason other than a cancel (timeout, lost): the post step must finish it. */
  readonly onMustAbort?: () => void
  readonly onOutput?: (stream: OutputStream, chunks: ReadonlyMap<number, string>) => void | Promise<void>
  /** Under `max-credits`: the task's credits, read on this loop's clock; it is aborted once they pass the cap. */
  readonly credits?: CreditsWatch
}

export interface FollowResult {
  readonly ending: WatchEnding
  /** The last task document read; undefined when none could be read. */
  readonly task: TaskOutputWire | undefined
  /** Why following failed (`lost`). */
  readonly error?: unknown
  /** The task was seen in a final state: nothing is left for the post step. */
  readonly ended: boolean
  /** The task was deliberately left running (abort-on-cancel: false, or handed off). */
  readonly leftRunning: boolean
  readonly files: InstanceOutputFiles
  readonly output: OutputFollower
  /** When instances and states were seen, for the summary's pictures (followStartedTask records it). */
  readonly timeline?: TimelineView
  /** Under `max-credits`: what was read of the task's credits (followStartedTask makes it). */
  readonly credits?: CreditsWatch
}

/** Sends the abort once, whoever asks first, in seconds: after a stop the runner gives no more, and a timeout must bound the step. */
class Aborter {
  private sent: Promise<void> | undefined

  constructor(
    private readonly options: FollowOptions,
    private readonly hurried: QarnotClient
  ) {}

  get requested(): boolean {
    return this.sent !== undefined
  }

  abort(why: string, client = this.hurried): Promise<void> {
    const { uuid, log } = this.options
    this.sent ??= (async () => {
      log.warning(`${why}: aborting task ${uuid}.`)
      try {
        const answer = await client.abortTask(uuid)
        if (answer === 'already-ended') log.info('The task had already ended.')
      } catch (error) {
        log.warning(`Aborting task ${uuid} failed: ${errorMessage(error)}; the post step tries again.`)
      }
    })()
    return this.sent
  }
}

function deadlineSignal(options: FollowOptions): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  // The hand-off comes before the timeout (the inputs say so): a read under way then ends at once too.
  const limitMs = options.handOffAfterMs ?? options.timeoutMs
  if (limitMs !== undefined) {
    const left = options.started + limitMs - options.clock.now()
    timer = setTimeout(() => controller.abort(), Math.max(0, left))
    timer.unref()
  }
  return { signal: AbortSignal.any([options.stop, controller.signal]), clear: () => clearTimeout(timer) }
}

export async function followTask(options: FollowOptions): Promise<FollowResult> {
  const { uuid, clock, stop, log } = options
  const hurried = options.client.with({ timeoutMs: HURRIED_REQUEST_TIMEOUT_MS, retry: HURRIED_RETRY })
  const aborter = new Aborter(options, hurried)
  // The abort goes out the moment a stop arrives, within the seconds the runner still gives.
  const onStop = (): void =>
    void (options.abortOnCancel
      ? aborter.abort('The step was cancelled', hurried.with({ signal: AbortSignal.timeout(WRAP_UP_MS) }))
      : undefined)
  if (stop.aborted) onStop()
  else stop.addEventListener('abort', onStop, { once: true })

  const files = new InstanceOutputFiles(options.logsDir)
  const follow = deadlineSignal(options)
  const output = new OutputFollower({
    client: options.client.with({ signal: follow.signal }),
    uuid,
    files,
    onOutput: options.onOutput,
    log: logLine(log),
    stop: follow.signal,
    readBefore: options.readBefore
  })
  let watched
  try {
    watched = await watchWithOutput(options, output, follow.signal)
  } finally {
    follow.clear()
    stop.removeEventListener('abort', onStop)
  }
  const wrapUp = clock.now() + WRAP_UP_MS
  const quick = hurried.with({ signal: AbortSignal.timeout(WRAP_UP_MS) })
  const afterAbort = await endWatching(options, watched, aborter, quick, wrapUp)
  const ended = afterAbort.task !== undefined && isFinalState(afterAbort.task.state)
  // After a stop signal the runner gives seconds: report what was read, with no further reads. After a timeout,
  // what is left to read gets what is left of the wrap-up time.
  const quiet = stop.aborted || watched.ending === 'lost'
  // A hand-off reads what is new once, as a timeout does; the collecting step reads the rest, whole.
  const timedOut = watched.ending === 'timeout' || watched.ending === 'handed-off'
  await output.finish(
    options.ids(),
    quiet ? { rounds: 0, verify: false } : timedOut ? { rounds: 1, client: quick, stop: undefined } : {}
  )
  return {
    ending: watched.ending,
    task: afterAbort.task,
    error: watched.error,
    ended,
    leftRunning: (watched.ending === 'stopped' && !options.abortOnCancel) || watched.ending === 'handed-off',
    files,
    output
  }
}

/** Status reads until the task ends, the deadline passes or the step stops, with a fresh output read after each. */
function watchWithOutput(
  options: FollowOptions,
  output: OutputFollower,
  signal: AbortSignal
): Promise<WatchResult> {
  const { uuid, log } = options
  let outputReadAt: number | undefined
  return watchTask({
    client: options.client.with({ signal }),
    uuid,
    clock: options.clock,
    deadline: options.timeoutMs === undefined ? undefined : options.started + options.timeoutMs,
    handOffAt: options.handOffAfterMs === undefined ? undefined : options.started + options.handOffAfterMs,
    stop: options.stop,
    initial: options.initial,
    pollFloorMs: options.pollFloorMs,
    badReadBudgetMs: options.badReadBudgetMs,
    mayBeDeleted: options.mayBeDeleted,
    busy: () => output.lastReadBytes >= BUSY_READ_BYTES,
    overBudget: () => options.credits?.over !== undefined,
    onBadRead: (error, sinceMs) =>
      log.info(
        `Reading task ${uuid} failed (${errorMessage(error)}); reading again (${Math.round(sinceMs / 1000)} s of failed reads so far).`
      ),
    onTask: async task => {
      options.onTask?.(task)
      // Once the task has ended, finish() reads what is left (and confirms nothing more comes).
      const now = options.clock.now()
      if (isFinalState(task.state)) return
      await options.credits?.check(task.state, signal)
      if (!outputReadDue(now, outputReadAt, output.lastReadBytes)) return
      outputReadAt = now
      await output.readNew(completedIds(task))
    }
  })
}

/** After a stop, a timeout or a lost task: the abort, then a wait for the task to settle. */
async function endWatching(
  options: FollowOptions,
  watched: { task: TaskOutputWire | undefined; ending: WatchEnding; error?: unknown },
  aborter: Aborter,
  quick: QarnotClient,
  wrapUp: number
): Promise<{ task: TaskOutputWire | undefined }> {
  const { uuid, clock, log } = options
  if (watched.ending === 'final') return watched
  if (watched.ending === 'handed-off') {
    log.info(
      `hand-off-after was reached: task ${uuid} goes on running, to be collected by a step with task:.`
    )
    return watched
  }
  if (watched.ending === 'stopped' && !options.abortOnCancel) {
    log.warning(`The step was cancelled; abort-on-cancel is false, so task ${uuid} goes on running.`)
    return watched
  }
  const why =
    watched.ending === 'stopped'
      ? 'The step was cancelled'
      : watched.ending === 'timeout'
        ? `The timeout of ${formatDuration(options.timeoutMs ?? 0)} expired`
        : watched.ending === 'over-budget'
          ? (options.credits?.over ?? 'The task passed max-credits')
          : `Task ${uuid} can no longer be followed (${errorMessage(watched.error)})`
  if (watched.ending !== 'stopped') options.onMustAbort?.()
  await aborter.abort(why, quick)
  if (watched.ending === 'lost') return watched
  const settled = await watchTask({
    client: quick,
    uuid,
    clock,
    initial: watched.task,
    deadline: wrapUp,
    pollFloorMs: 500,
    badReadBudgetMs: 0,
    onTask: options.onTask
  })
  if (settled.ending !== 'final')
    log.warning(`Task ${uuid} is still ${settled.task?.state ?? 'unknown'}; the post step checks it again.`)
  return settled
}

function completedIds(task: TaskOutputWire): Set<number> {
  return new Set((task.completedInstances ?? []).map(i => i.instanceId))
}

export interface FollowStartedOptions {
  /** When the step started (clock ms): `timeout` bounds the whole step, from there. */
  readonly started: number
  readonly settings: Settings
  readonly task: StartedTask
  readonly client: QarnotClient
  readonly io: ActionIO
  readonly clock: Clock
  readonly stop: AbortSignal
  readonly logsDir: string
  readonly badReadBudgetMs?: number
  /** The least time between two reads of the task's credits under `max-credits` (tests shorten it). */
  readonly creditsReadMs?: number
}

/** Follows the task the step started, as the settings ask, and saves for post whether anything is left to do. */
export async function followStartedTask(options: FollowStartedOptions): Promise<FollowResult> {
  const { settings, task, io, clock } = options
  const timeline = new TaskTimeline()
  if (task.initial) timeline.observe(task.initial, clock.now())
  const logProgress = progressLogger(io, clock)
  const credits =
    settings.maxCredits === undefined
      ? undefined
      : new CreditsWatch({
          client: options.client,
          uuid: task.uuid,
          cap: settings.maxCredits,
          clock,
          intervalMs: options.creditsReadMs,
          warn: message => io.warning(message),
          debug: message => io.debug(message)
        })
  const followed = await followTask({
    ...options,
    uuid: task.uuid,
    ids: () => expandIds(task.requested),
    log: { info: logLine(io), warning: message => io.warning(message) },
    started: options.started,
    timeoutMs: settings.timeoutMs,
    handOffAfterMs: settings.handOff?.afterMs,
    readBefore: settings.followTask !== undefined,
    abortOnCancel: settings.abortOnCancel,
    pollFloorMs: settings.pollFloorMs,
    mayBeDeleted: settings.task?.autoDelete === true,
    initial: task.initial,
    onTask: read => {
      timeline.observe(read, clock.now())
      logProgress(read)
    },
    onOutput: settings.streamLogs ? liveLog(io) : undefined,
    onMustAbort: () => io.saveState(State.MustAbort, 'true'),
    credits
  })
  // Handed off: saved before anything else can go wrong, so that the post step never aborts it.
  if (followed.ending === 'handed-off' && !followed.ended) io.saveState(State.HandedOff, 'true')
  if (followed.ended || followed.leftRunning) io.saveState(State.TaskEnded, 'true')
  return { ...followed, timeline, credits }
}
