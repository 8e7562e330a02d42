/**
 * What the poll schedule remembers of a running task: the latest read, reduced to what predicts its end (how long
 * each running instance has run, how long the ended ones took, how many wait), plus the few things only a history
 * can tell (when following began, when each instance was first seen running, since when the task has been winding
 * down). Pure and bounded: a reducer over the reads, O(running instances) memory, durations sampled to
 * MAX_DURATIONS.
 */
import type { TaskOutputWire } from '../qarnot/types.js'
import { progressCounts } from './progress.js'

/** Ended instances' durations kept, at most (evenly spread over the sorted list, so quantiles survive). */
export const MAX_DURATIONS = 2_000

/** States in which no instance is left to run: the task ends within its wrap-up (docs/qarnot-api.md §5). */
const WINDING_DOWN = new Set(['uploadingresults', 'downloadingresults', 'pendingcancel', 'pendingdelete'])

export interface PollHistory {
  /** The first read (clock ms): following began about then. */
  readonly startedAt: number
  /** The latest read (clock ms). */
  readonly at: number
  readonly total: number
  /** Instances ended (succeeded or failed). */
  readonly done: number
  /** Instances neither ended nor running. */
  readonly queued: number
  /** How long each running instance has run (ms, as of `at`). */
  readonly runningMs: readonly number[]
  /** How long the ended instances took (ms, sorted ascending; the succeeded ones when any succeeded). */
  readonly durationsMs: readonly number[]
  /** Since when (clock ms) nothing is left to run while the task has not ended; undefined while instances run. */
  readonly windingDownSince: number | undefined
  /** When each running instance was first seen running, for instances whose read gives no execution time. */
  readonly firstSeenRunning: ReadonlyMap<number, number>
}

const seconds = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined

/** Sorted ascending, at most `max` values evenly picked. */
function sample(values: number[], max: number): number[] {
  values.sort((a, b) => a - b)
  if (values.length <= max) return values
  return Array.from({ length: max }, (_, i) => values[Math.round((i * (values.length - 1)) / (max - 1))])
}

/**
 * Ended instances' durations: execution time (the measure a running instance's `executionTimeSec` counts in,
 * OpenAPI CompletedFrameOutput / QRunningInstanceInfoOutput), else wall time. Failures that end fast (a crash)
 * would drag the typical duration down, so only successes count when there are any.
 */
function durationsOf(task: TaskOutputWire): number[] {
  const ended = task.completedInstances ?? []
  const succeeded = ended.filter(i => (i.state ?? '').toLowerCase() === 'success')
  const chosen = succeeded.length > 0 ? succeeded : ended
  const ms: number[] = []
  for (const instance of chosen) {
    const s = seconds(instance.execTimeSec) ?? seconds(instance.wallTimeSec)
    if (s !== undefined) ms.push(s * 1000)
  }
  return sample(ms, MAX_DURATIONS)
}

/** The history after one more read of the task, answered at `at` (clock ms). */
export function observeTask(
  previous: PollHistory | undefined,
  task: TaskOutputWire,
  at: number
): PollHistory {
  const counts = progressCounts(task)
  const listed = task.status?.runningInstancesInfo?.perRunningInstanceInfo ?? []
  const firstSeenRunning = new Map<number, number>()
  const runningMs: number[] = []
  for (const instance of listed) {
    if (typeof instance?.instanceId !== 'number') continue
    const seen = previous?.firstSeenRunning.get(instance.instanceId) ?? at
    firstSeenRunning.set(instance.instanceId, seen)
    const executed = seconds(instance.executionTimeSec)
    runningMs.push(executed === undefined ? at - seen : executed * 1000)
  }
  // Running instances the read counts but does not list: their time is unknown, taken as just started.
  const running = Math.max(counts.running, runningMs.length)
  for (let i = runningMs.length; i < running; i++) runningMs.push(0)
  const windingDown =
    WINDING_DOWN.has(task.state.toLowerCase()) ||
    (counts.total > 0 && counts.done >= counts.total && running === 0)
  return {
    startedAt: previous?.startedAt ?? at,
    at,
    total: counts.total,
    done: counts.done,
    queued: Math.max(0, counts.total - counts.done - running),
    runningMs,
    durationsMs: durationsOf(task),
    windingDownSince: windingDown ? (previous?.windingDownSince ?? at) : undefined,
    firstSeenRunning
  }
}
