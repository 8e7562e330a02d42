/** The one message given to setFailed: which instances failed (as ranges) and their errors. Pure. */
import { formatIds } from '../ranges.js'
import type { Verdict } from '../task/verdict.js'

/** Annotations are cut at 4 KiB; stay well under. */
const MAX_LENGTH = 3000

export function failureMessage(taskLabel: string, verdict: Verdict): string {
  const byError = new Map<string, number[]>()
  for (const instance of verdict.instances) {
    if (instance.state === 'Success') continue
    const key = `${instance.state === 'Failure' ? 'failed' : instance.state === 'Cancelled' ? 'cancelled' : 'never completed'}${instance.error && !['cancelled', 'never completed'].includes(instance.error) ? `: ${instance.error}` : ''}`
    byError.set(key, [...(byError.get(key) ?? []), instance.id])
  }
  const groups = [...byError.entries()]
    .sort((a, b) => b[1].length - a[1].length)
    .map(([what, ids]) => `instance${ids.length > 1 ? 's' : ''} ${formatIds(ids)} ${what}`)
  const parts = [...groups]
  if (verdict.taskErrors.length > 0) parts.push(`task errors: ${verdict.taskErrors.join('; ')}`)
  if (parts.length === 0) parts.push(...verdict.reasons)
  let message = `${taskLabel} ended in state ${verdict.state}: ${parts.join('; ')}`
  if (message.length > MAX_LENGTH) message = `${message.slice(0, MAX_LENGTH)}... (see the job summary)`
  return message
}
