/** One-line descriptions of a running task for the log. Pure. */
import type { TaskOutputWire } from '../qarnot/types.js'
import { countIds, parseRangeField } from '../ranges.js'
import { requestedIntervals } from './verdict.js'

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

export function progressCounts(task: TaskOutputWire): ProgressCounts {
  let total = task.totalInstanceCount ?? 0
  if (!total) {
    try {
      total = countIds(requestedIntervals(task))
    } catch {
      total = 0
    }
  }
  const completed = task.completedInstances ?? []
  const failedFromList = completed.filter(i => (i.state ?? '').toLowerCase() !== 'success').length
  return {
    total,
    done: completed.length,
    failed: Math.max(failedFromList, safeCount(task.status?.failedRange)),
    running: task.runningInstanceCount ?? 0
  }
}

/** `9/14 instances done, 1 failed, 3 running`. */
export function describeProgress(counts: ProgressCounts): string {
  const parts = [`${counts.done}/${counts.total} instance${counts.total === 1 ? '' : 's'} done`]
  if (counts.failed > 0) parts.push(`${counts.failed} failed`)
  if (counts.running > 0) parts.push(`${counts.running} running`)
  return parts.join(', ')
}
