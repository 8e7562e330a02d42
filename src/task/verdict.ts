/**
 * The verdict on a finished task (qarnot-api.md section 5), from its last TaskOutput alone. Pure.
 * A task passes only when its state is Success, no range reports a failure or cancellation, every completed
 * instance succeeded, the task has no errors, and every instance asked for completed.
 */
import {
  countToIntervals,
  expandIds,
  formatIds,
  parseRangeField,
  parseRanges,
  type IdInterval
} from '../ranges.js'
import type { ApiErrorWire, CompletedInstanceWire, TaskOutputWire } from '../qarnot/types.js'

export type InstanceState = 'Success' | 'Failure' | 'Cancelled' | 'NotCompleted'

export interface InstanceResult {
  readonly id: number
  readonly state: InstanceState
  /** The platform's error for this instance, or why we count it as failed. */
  readonly error: string | undefined
  readonly wallTimeSec: number | undefined
  readonly execTimeSec: number | undefined
  readonly attempts: number | undefined
}

export interface Verdict {
  readonly passed: boolean
  readonly state: string
  readonly instances: InstanceResult[]
  readonly succeededCount: number
  /** Ids that did not succeed: failed, cancelled or never completed. */
  readonly failedIds: number[]
  readonly taskErrors: string[]
  /** Why the verdict is a failure, in order of importance; empty when passed. */
  readonly reasons: string[]
}

/** The ids a task was asked to run, from its own fields (advancedRanges wins over instanceCount). */
export function requestedIntervals(task: TaskOutputWire, fallback?: IdInterval[]): IdInterval[] {
  if (task.advancedRanges) return parseRanges(task.advancedRanges)
  if (typeof task.instanceCount === 'number' && task.instanceCount > 0)
    return countToIntervals(task.instanceCount)
  return fallback ?? []
}

export function describeApiError(error: ApiErrorWire | null | undefined): string | undefined {
  if (!error) return undefined
  const text = [error.message, error.code ? `(${error.code})` : undefined].filter(Boolean).join(' ')
  return text === '' ? undefined : text
}

function completedState(instance: CompletedInstanceWire): InstanceState {
  const state = (instance.state ?? '').toLowerCase()
  if (state === 'success') return 'Success'
  if (state === 'cancelled' || state === 'canceled') return 'Cancelled'
  return 'Failure'
}

/** Reads a range field, treating an unreadable one as empty rather than failing the whole report. */
function rangeIds(value: string | null | undefined): Set<number> {
  try {
    return new Set(expandIds(parseRangeField(value)))
  } catch {
    return new Set()
  }
}

export function decideVerdict(task: TaskOutputWire, fallbackIntervals?: IdInterval[]): Verdict {
  const requested = expandIds(requestedIntervals(task, fallbackIntervals))
  const completed = new Map<number, CompletedInstanceWire>()
  for (const instance of task.completedInstances ?? []) {
    if (typeof instance?.instanceId === 'number') completed.set(instance.instanceId, instance)
  }
  const status = task.status ?? {}
  const cancelled = rangeIds(status.cancelledRange)
  const failedByRange = new Set([...rangeIds(status.failedRange), ...rangeIds(status.failedOnlyRange)])
  const taskErrors = (task.errors ?? []).map(describeApiError).filter((e): e is string => e !== undefined)

  const ids = [...new Set([...requested, ...completed.keys()])].sort((a, b) => a - b)
  const instances: InstanceResult[] = ids.map(id => {
    const done = completed.get(id)
    let state: InstanceState = done ? completedState(done) : cancelled.has(id) ? 'Cancelled' : 'NotCompleted'
    // A range that says failed outweighs a completed entry that says otherwise.
    if (state === 'Success' && cancelled.has(id)) state = 'Cancelled'
    else if (state === 'Success' && failedByRange.has(id)) state = 'Failure'
    let error = describeApiError(done?.error)
    if (error === undefined && state === 'NotCompleted') error = 'never completed'
    if (error === undefined && state === 'Cancelled') error = 'cancelled'
    return {
      id,
      state,
      error,
      wallTimeSec: done?.wallTimeSec ?? undefined,
      execTimeSec: done?.execTimeSec ?? undefined,
      attempts: done?.executionAttemptCount ?? undefined
    }
  })

  const failedIds = instances.filter(i => i.state !== 'Success').map(i => i.id)
  const reasons: string[] = []
  if (task.state !== 'Success') reasons.push(`the task ended in state ${task.state}`)
  const byState = (state: InstanceState) => instances.filter(i => i.state === state).map(i => i.id)
  const failed = byState('Failure')
  const cancelledIds = byState('Cancelled')
  const missing = byState('NotCompleted')
  if (failed.length > 0) reasons.push(`instance${failed.length > 1 ? 's' : ''} ${formatIds(failed)} failed`)
  if (cancelledIds.length > 0)
    reasons.push(`instance${cancelledIds.length > 1 ? 's' : ''} ${formatIds(cancelledIds)} cancelled`)
  if (missing.length > 0)
    reasons.push(`instance${missing.length > 1 ? 's' : ''} ${formatIds(missing)} never completed`)
  if (taskErrors.length > 0) reasons.push(`task errors: ${taskErrors.join('; ')}`)
  if (requested.length === 0 && instances.length === 0) reasons.push('the task reports no instances')

  return {
    passed: reasons.length === 0,
    state: task.state,
    instances,
    succeededCount: instances.length - failedIds.length,
    failedIds,
    taskErrors,
    reasons
  }
}
