/** One-line descriptions of a running task for the log. Pure. */
import type { TaskOutputWire } from '../qarnot/types.js'
import { countIds, parseRangeField } from '../ranges.js'
import { plural } from '../words.js'
import { taskIntervals } from './verdict.js'

export interface ProgressCounts {
  readonly total: number
  readonly done: number
  readonly failed: number
  readonly running: number
}

function safeCount(range: string | null | undefined): number {
  try {
    return countIds(parseRangeField(range))
  } catch {
    return 0
  }
}

const count = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0

export function progressCounts(task: TaskOutputWire): ProgressCounts {
  const total = count(task.totalInstanceCount) || countIds(taskIntervals(task))
  const completed = task.completedInstances ?? []
  const failedFromList = completed.filter(i => (i.state ?? '').toLowerCase() !== 'success').length
  const failed = Math.max(failedFromList, safeCount(task.status?.failedRange))
  // A finished task may list no completed instance: its ranges tell how many ended (docs/qarnot-api.md §4).
  const done = Math.max(completed.length, safeCount(task.status?.succeededRange) + failed)
  return { total, done, failed, running: count(task.runningInstanceCount) }
}

/** `9/14 instances done, 1 failed, 3 running`. */
export function describeProgress(counts: ProgressCounts): string {
  const parts = [`${counts.done}/${plural(counts.total, 'instance')} done`]
  if (counts.failed > 0) parts.push(`${counts.failed} failed`)
  if (counts.running > 0) parts.push(`${counts.running} running`)
  return parts.join(', ')
}
