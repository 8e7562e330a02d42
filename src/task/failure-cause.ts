/**
 * Whose failure an instance's failure is: its command's, or the platform's (a node preempted or lost, an image
 * that could not be pulled, resources that could not be downloaded). Pure and conservative: an instance counts as
 * failed by the platform only on evidence the API gives; anything it cannot tell is the command's
 * (docs/infrastructure-retries.md says what the API does and does not tell).
 */
import { intervalsContain, parseRangeField, type IdInterval } from '../ranges.js'
import type { CompletedInstanceWire, TaskOutputWire } from '../qarnot/types.js'
import { decideVerdict } from './verdict.js'

export type FailureCause =
  | { readonly cause: 'command'; readonly reason: string }
  | { readonly cause: 'platform'; readonly reason: string }

/**
 * Error codes on a completed instance that say the platform failed it. Qarnot's own list of codes
 * (https://computing.qarnot.com/developers/develop/common-errors, named by the C# SDK's `QTaskError`) could not be
 * read, and no SDK, fixture or example shows a code for these failures: every entry here is the code this
 * project's emulator sends, a placeholder, until Qarnot's real code is known. A code the real API sends that is
 * not listed makes the failure the command's, never a retry.
 */
export const PLATFORM_ERROR_CODES: ReadonlyMap<string, string> = new Map([
  ['instance-preempted', 'its node was preempted'],
  ['node-lost', 'its node was lost'],
  ['image-pull-failed', 'its image could not be pulled'],
  ['resources-download-failed', 'its resources could not be downloaded']
])

const normalCode = (code: string | null | undefined): string => (code ?? '').trim().toLowerCase()

function rangeOrUndefined(value: string | null | undefined): IdInterval[] | undefined {
  if (typeof value !== 'string') return undefined
  try {
    return parseRangeField(value)
  } catch {
    return undefined
  }
}

const attemptsOf = (entries: readonly CompletedInstanceWire[]): number =>
  Math.max(
    0,
    ...entries.map(e => (typeof e.executionAttemptCount === 'number' ? e.executionAttemptCount : 0))
  )

/**
 * Whether `status.startedOnceRange` ("instances that have started at least once", OpenAPI QTaskStatusOutput) can
 * be believed for this task: it is there, and it holds every instance known to have run (succeeded, or completed
 * after one attempt or more), of which there is at least one. A range that misses one of them, or that nothing
 * checks, says nothing.
 */
function trustedStartedRange(
  task: TaskOutputWire,
  requested: readonly IdInterval[]
): IdInterval[] | undefined {
  const started = rangeOrUndefined(task.status?.startedOnceRange)
  if (!started) return undefined
  const succeeded = rangeOrUndefined(task.status?.succeededRange) ?? []
  const ran = new Set<number>()
  for (const entry of task.completedInstances ?? []) {
    if (typeof entry?.instanceId !== 'number') continue
    if ((entry.executionAttemptCount ?? 0) > 0 || normalCode(entry.state) === 'success')
      ran.add(entry.instanceId)
  }
  for (const { first, last } of requested)
    for (let id = first; id <= last; id++) if (intervalsContain(succeeded, id)) ran.add(id)
  if (ran.size === 0) return undefined
  for (const id of ran) if (!intervalsContain(started, id)) return undefined
  return started
}

/** Why one failed instance failed. `started` is the trusted startedOnceRange, if any. */
function causeOf(
  id: number,
  entries: readonly CompletedInstanceWire[],
  started: IdInterval[] | undefined
): FailureCause {
  const failing = entries.filter(e => normalCode(e.state) !== 'success')
  const codes = failing.map(e => normalCode(e.error?.code))
  const known = codes.map(code => PLATFORM_ERROR_CODES.get(code))
  if (failing.length > 0 && known.every(k => k !== undefined))
    return { cause: 'platform', reason: `${known[0]} (error code ${failing[0].error?.code ?? ''})` }
  if (started && !intervalsContain(started, id) && attemptsOf(entries) === 0)
    return {
      cause: 'platform',
      reason: 'it failed before its command ever started (not in the task’s startedOnceRange)'
    }
  const code = codes.find(c => c !== '')
  return {
    cause: 'command',
    reason: code
      ? `error code ${code} is not one that names the platform`
      : 'the API does not say the platform failed it'
  }
}

/**
 * The failed instances of a finished task among `requested`, each with its cause. Instances that succeeded, were
 * cancelled or never completed are not failures of either kind and are left out: only a failure is re-run.
 */
export function failureCauses(
  task: TaskOutputWire,
  requested: readonly IdInterval[]
): Map<number, FailureCause> {
  const verdict = decideVerdict(task, requested)
  const entries = new Map<number, CompletedInstanceWire[]>()
  for (const entry of task.completedInstances ?? []) {
    if (typeof entry?.instanceId !== 'number') continue
    entries.set(entry.instanceId, [...(entries.get(entry.instanceId) ?? []), entry])
  }
  const started = trustedStartedRange(task, requested)
  const causes = new Map<number, FailureCause>()
  for (const instance of verdict.instances) {
    if (instance.state !== 'Failure') continue
    causes.set(instance.id, causeOf(instance.id, entries.get(instance.id) ?? [], started))
  }
  return causes
}

/** The ids of `failureCauses` the platform failed, with the reason for each. */
export function platformFailures(
  task: TaskOutputWire,
  requested: readonly IdInterval[]
): Map<number, string> {
  const found = new Map<number, string>()
  for (const [id, cause] of failureCauses(task, requested))
    if (cause.cause === 'platform') found.set(id, cause.reason)
  return found
}
