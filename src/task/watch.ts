/**
 * Following a task until it reaches a final state, its deadline passes, or the caller stops it. One malformed or
 * missing status answer in the middle of a task is taken as transient: the loop reads again, and gives up only
 * after a sustained run of them. Time and the API come in as parameters, so tests drive the clock.
 */
import type { QarnotClient } from '../qarnot/client.js'
import { QarnotApiError, QarnotCancelledError } from '../qarnot/errors.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import type { Clock } from './clock.js'
import { observeTask, type PollHistory } from './poll-history.js'
import { nextPollDelayMs } from './poll-schedule.js'
import { isFinalState } from './states.js'

/** `handed-off`: hand-off-after was reached with the task still running (docs/long-runs.md); `over-budget`: max-credits was passed (docs/budget.md). */
export type WatchEnding = 'final' | 'timeout' | 'stopped' | 'lost' | 'handed-off' | 'over-budget'

export interface WatchResult {
  /** The last task document read; undefined when no read ever succeeded. */
  readonly task: TaskOutputWire | undefined
  readonly ending: WatchEnding
  /** Why following failed (`lost`): the last error of a sustained run of failed reads. */
  readonly error?: unknown
}

export interface WatchOptions {
  /** Bound to `stop` and the deadline: its requests end at once when either comes. */
  readonly client: Pick<QarnotClient, 'getTask'>
  readonly uuid: string
  readonly clock: Clock
  /** Absolute time (clock ms) after which watching ends with `timeout`. */
  readonly deadline?: number
  /** Absolute time (clock ms) after which watching ends with `handed-off`, the task left running. */
  readonly handOffAt?: number
  /** Ends watching with `stopped` (a signal arrived). */
  readonly stop?: AbortSignal
  readonly pollFloorMs?: number
  /** The task as last seen before watching, if any. */
  readonly initial?: TaskOutputWire
  /** Called after every status read, before the verdict on finality. */
  readonly onTask?: (task: TaskOutputWire) => void | Promise<void>
  /** Told of each failed read that is being ridden out. */
  readonly onBadRead?: (error: unknown, sinceMs: number) => void
  /** True when output is arriving fast: the next read comes sooner, before the server's buffer rotates. */
  readonly busy?: () => boolean
  /** Failed reads are ridden out for this long (and at least BAD_READS_BEFORE_GIVING_UP reads) before giving up. */
  readonly badReadBudgetMs?: number
  /**
   * A task Qarnot may delete once it ends (autoDeleteOnCompletion, docs/qarnot-api.md §3): after this many 404s in
   * a row it is taken as deleted, rather than ridden out for the whole budget.
   */
  readonly mayBeDeleted?: boolean
  /** True once the task has passed its `max-credits` cap (checked after `onTask`): watching ends with `over-budget`. */
  readonly overBudget?: () => boolean
}

/** The wait while output is arriving fast. */
export const BUSY_POLL_MS = 250
export const BAD_READ_BUDGET_MS = 120_000
export const BAD_READS_BEFORE_GIVING_UP = 3

export async function watchTask(options: WatchOptions): Promise<WatchResult> {
  const { client, uuid, clock, deadline, stop, handOffAt } = options
  const started = clock.now()
  const budget = options.badReadBudgetMs ?? BAD_READ_BUDGET_MS
  let task = options.initial
  // What the reads so far say of the instances: the schedule polls densely only near the end they predict.
  let history: PollHistory | undefined = task && observeTask(undefined, task, started)
  let badSince: number | undefined
  let badReads = 0
  let notFound = 0
  for (;;) {
    const ended = (): WatchEnding | undefined =>
      stop?.aborted
        ? 'stopped'
        : deadline !== undefined && clock.now() >= deadline
          ? 'timeout'
          : handOffAt !== undefined && clock.now() >= handOffAt
            ? 'handed-off'
            : undefined
    try {
      task = await client.getTask(uuid)
      badSince = undefined
      badReads = 0
      notFound = 0
    } catch (error) {
      // The client is cancelled by the stop signal or the deadline, nothing else (its timer may beat the clock by a ms).
      if (error instanceof QarnotCancelledError)
        return { task, ending: ended() ?? (handOffAt !== undefined ? 'handed-off' : 'timeout') }
      const ending = ended()
      if (ending) return { task, ending }
      badSince ??= clock.now()
      badReads++
      notFound = error instanceof QarnotApiError && error.status === 404 ? notFound + 1 : 0
      const deleted = options.mayBeDeleted && notFound >= BAD_READS_BEFORE_GIVING_UP
      if (deleted || (badReads >= BAD_READS_BEFORE_GIVING_UP && clock.now() - badSince >= budget)) {
        return { task, ending: 'lost', error }
      }
      options.onBadRead?.(error, clock.now() - badSince)
    }
    if (task && badSince === undefined) {
      history = observeTask(history, task, clock.now())
      await options.onTask?.(task)
      if (isFinalState(task.state)) return { task, ending: 'final' }
      if (options.overBudget?.()) return { task, ending: 'over-budget' }
    }
    const ending = ended()
    if (ending) return { task, ending }
    const now = clock.now()
    let wait = options.busy?.() ? BUSY_POLL_MS : nextPollDelayMs(history, now, options.pollFloorMs)
    if (badSince !== undefined) wait = Math.max(wait, Math.min(5_000, 1_000 * badReads))
    // Wake for one last read exactly at the deadline (or the hand-off).
    for (const at of [deadline, handOffAt]) if (at !== undefined) wait = Math.min(wait, Math.max(0, at - now))
    await clock.sleep(wait, stop)
  }
}
