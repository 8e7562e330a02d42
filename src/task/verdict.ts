/**
 * The verdict on a finished task (docs/qarnot-api.md §4, §5), from its last TaskOutput alone. Pure.
 * Every source is evidence of an instance's end: `completedInstances` entries, and the status ranges
 * (`succeededRange`, `failedOnlyRange`, `failedRange`, `cancelledRange`), since a finished task may list no completed
 * instance at all. Conflicting evidence resolves toward failure. The task passes only when its state is Success, it
 * has no errors, and every instance asked for has evidence of success and none of failure. Ranges from the API are
 * never expanded: only the ids asked for are looked up in them.
 */
import {
  formatIds,
  formatRanges,
  intervalsContain,
  parseRangeField,
  subtractIntervals,
  idsToIntervals,
  normalise,
  type IdInterval
} from '../ranges.js'
import type { ApiErrorWire, CompletedInstanceWire, TaskOutputWire } from '../qarnot/types.js'

export type InstanceState = 'Success' | 'Failure' | 'Cancelled' | 'NotCompleted'

export interface InstanceResult {
  readonly id: number
  readonly state: InstanceState
  /** The platform's error for this instance, or why we count it as failed. */
  readonly error: string | undefined
  /** Times and figures the API gave; undefined where it gave none (an instance known only from a range). */
  readonly wallTimeSec: number | undefined
  readonly execTimeSec: number | undefined
  readonly peakMemoryMB: number | undefined
  /** Executions in all: more than one means the instance was restarted (a retry, or preemption). */
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
  /** Ids the API reported that were never asked for: reported, never counted as instances. */
  readonly unexpected: string
  /** Why the verdict is a failure, in order of importance; empty when passed. */
  readonly reasons: string[]
}

export function describeApiError(error: ApiErrorWire | null | undefined): string | undefined {
  if (!error) return undefined
  const text = [error.message, error.code ? `(${error.code})` : undefined].filter(Boolean).join(' ')
  return text === '' ? undefined : text
}

/** The ids a task says it was asked to run (advancedRanges wins over instanceCount); [] when it says nothing. */
export function taskIntervals(task: TaskOutputWire): IdInterval[] {
  try {
    if (task.advancedRanges) return parseRangeField(task.advancedRanges)
  } catch {
    return []
  }
  const count = task.instanceCount ?? 0
  return count > 0 ? [{ first: 0, last: count - 1 }] : []
}

interface Evidence {
  readonly entries: Map<number, CompletedInstanceWire[]>
  readonly succeeded: IdInterval[]
  readonly failed: IdInterval[]
  readonly cancelled: IdInterval[]
}

function gatherEvidence(task: TaskOutputWire): Evidence {
  const entries = new Map<number, CompletedInstanceWire[]>()
  for (const entry of task.completedInstances ?? []) {
    if (typeof entry?.instanceId !== 'number') continue
    const list = entries.get(entry.instanceId)
    if (list) list.push(entry)
    else entries.set(entry.instanceId, [entry])
  }
  const range = (value: string | null | undefined): IdInterval[] => {
    try {
      return parseRangeField(value)
    } catch {
      return []
    }
  }
  const status = task.status ?? {}
  return {
    entries,
    succeeded: range(status.succeededRange),
    failed: normalise([...range(status.failedOnlyRange), ...range(status.failedRange)]),
    cancelled: range(status.cancelledRange)
  }
}

function entryState(entry: CompletedInstanceWire): InstanceState {
  const state = (entry.state ?? '').toLowerCase()
  if (state === 'success') return 'Success'
  if (state === 'cancelled' || state === 'canceled') return 'Cancelled'
  return 'Failure'
}

/** One instance's end from every piece of evidence: a failure anywhere wins, then a cancellation. */
function judge(id: number, evidence: Evidence): InstanceResult {
  const entries = evidence.entries.get(id) ?? []
  const states = new Set(entries.map(entryState))
  if (intervalsContain(evidence.succeeded, id)) states.add('Success')
  const cancelledByRange = intervalsContain(evidence.cancelled, id)
  if (cancelledByRange) states.add('Cancelled')
  else if (intervalsContain(evidence.failed, id)) states.add('Failure')
  const state: InstanceState = states.has('Failure')
    ? 'Failure'
    : states.has('Cancelled')
      ? 'Cancelled'
      : states.has('Success')
        ? 'Success'
        : 'NotCompleted'
  const failing = entries.find(e => entryState(e) !== 'Success')
  const shown = failing ?? entries[entries.length - 1]
  const number = (value: number | null | undefined): number | undefined =>
    typeof value === 'number' && Number.isFinite(value) ? value : undefined
  const attempts = Math.max(0, ...entries.map(e => number(e.executionAttemptCount) ?? 0))
  let error = describeApiError(failing?.error)
  if (error === undefined && state === 'NotCompleted') error = 'never completed'
  if (error === undefined && state === 'Cancelled') error = 'cancelled'
  if (error === undefined && state === 'Failure')
    error = entries.length > 0 ? 'failed' : 'failed (status ranges)'
  return {
    id,
    state,
    error,
    wallTimeSec: number(shown?.wallTimeSec),
    execTimeSec: number(shown?.execTimeSec),
    peakMemoryMB: number(shown?.peakMemoryMB),
    attempts: attempts > 0 ? attempts : undefined
  }
}

export function reasonsFor(
  state: string,
  instances: readonly InstanceResult[],
  taskErrors: string[]
): string[] {
  const reasons: string[] = []
  if (state !== 'Success') reasons.push(`the task ended in state ${state}`)
  const ids = (wanted: InstanceState) => instances.filter(i => i.state === wanted).map(i => i.id)
  for (const [wanted, words] of [
    ['Failure', 'failed'],
    ['Cancelled', 'cancelled'],
    ['NotCompleted', 'never completed']
  ] as const) {
    const matching = ids(wanted)
    if (matching.length > 0)
      reasons.push(`${matching.length > 1 ? 'instances' : 'instance'} ${formatIds(matching)} ${words}`)
  }
  if (taskErrors.length > 0) reasons.push(`task errors: ${taskErrors.join('; ')}`)
  if (instances.length === 0) reasons.push('the task reports no instances')
  return reasons
}

/**
 * The verdict over `requested` (the ids asked for, normalised). `task` is the last document read, or undefined when
 * none could be read (every instance is then unknown).
 */
export function decideVerdict(task: TaskOutputWire | undefined, requested: readonly IdInterval[]): Verdict {
  const evidence = task ? gatherEvidence(task) : gatherEvidence({ uuid: '', state: 'Unknown' })
  const instances: InstanceResult[] = []
  for (const { first, last } of requested)
    for (let id = first; id <= last; id++) instances.push(judge(id, evidence))
  const reported = normalise([
    ...idsToIntervals(evidence.entries.keys()),
    ...evidence.succeeded,
    ...evidence.failed,
    ...evidence.cancelled
  ])
  const unexpected = subtractIntervals(reported, requested)
  const state = task?.state ?? 'Unknown'
  const taskErrors = (task?.errors ?? []).map(describeApiError).filter((e): e is string => e !== undefined)
  const reasons = reasonsFor(state, instances, taskErrors)
  const failedIds = instances.filter(i => i.state !== 'Success').map(i => i.id)
  return {
    passed: reasons.length === 0,
    state,
    instances,
    succeededCount: instances.length - failedIds.length,
    failedIds,
    taskErrors,
    unexpected: formatRanges(unexpected),
    reasons
  }
}

/** A sentence about ids the API reported that were never asked for, or `""`. */
export function describeUnexpected(verdict: Verdict): string {
  if (verdict.unexpected === '') return ''
  return `Qarnot reported instance ids that this task never asked for (${verdict.unexpected}); they are not counted as its instances.`
}

/**
 * The verdict over a whole request when some instances come from earlier tasks (a re-run that computed only what
 * failed): `computed` is this attempt's task's verdict over the ids it ran (undefined when nothing was computed),
 * `kept` the successes taken from earlier attempts.
 */
export function mergeVerdicts(computed: Verdict | undefined, kept: readonly InstanceResult[]): Verdict {
  const instances = [...(computed?.instances ?? []), ...kept].sort((a, b) => a.id - b.id)
  const state = computed?.state ?? 'Success'
  const taskErrors = computed?.taskErrors ?? []
  const reasons = reasonsFor(state, instances, taskErrors)
  const failedIds = instances.filter(i => i.state !== 'Success').map(i => i.id)
  return {
    passed: reasons.length === 0,
    state,
    instances,
    succeededCount: instances.length - failedIds.length,
    failedIds,
    taskErrors,
    unexpected: computed?.unexpected ?? '',
    reasons
  }
}
