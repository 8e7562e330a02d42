/** The one message given to setFailed: which instances failed (as ranges) and their errors. Pure. */
import type { Verdict } from '../task/verdict.js'
import { groupIds } from './grouping.js'
import { idRanges } from './id-lists.js'

/** Annotations are cut at 4 KiB; stay well under. */
const MAX_LENGTH = 3000
/** Ids named in one group of the message, at most (as ranges with break points; the summary lists them all). */
const GROUP_IDS_CHARS = 300

export function failureMessage(taskLabel: string, verdict: Verdict): string {
  const failed = verdict.instances.filter(instance => instance.state !== 'Success')
  const byError = groupIds(failed, instance => {
    const what =
      instance.state === 'Failure'
        ? 'failed'
        : instance.state === 'Cancelled'
          ? 'cancelled'
          : 'never completed'
    const own = instance.error && !['cancelled', 'never completed'].includes(instance.error)
    return own ? `${what}: ${instance.error}` : what
  })
  const groups = [...byError.entries()]
    .sort((a, b) => b[1].length - a[1].length)
    .map(
      ([what, ids]) => `instance${ids.length > 1 ? 's' : ''} ${idRanges(ids, GROUP_IDS_CHARS).text} ${what}`
    )
  const parts = [...groups]
  if (verdict.taskErrors.length > 0) parts.push(`task errors: ${verdict.taskErrors.join('; ')}`)
  if (parts.length === 0) parts.push(...verdict.reasons)
  let message = `${taskLabel} ended in state ${verdict.state}: ${parts.join('; ')}`
  if (message.length > MAX_LENGTH) message = `${message.slice(0, MAX_LENGTH)}... (see the job summary)`
  return message
}
