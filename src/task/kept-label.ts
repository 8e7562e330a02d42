/**
 * A re-run submitted with `wait: false` leaves its collecting step (`task:`) a note of the instances it kept from
 * earlier attempts: a task label naming each earlier task and its kept ids (`<uuid>=<ranges>;...`). Without it,
 * the collector would follow the re-run task alone and pass on a fraction of the work. Pure.
 */
import { formatIds, parseRanges, type IdInterval } from '../ranges.js'
import { UUID_PATTERN } from '../qarnot/task-document.js'
import type { KeptResults } from './rerun.js'

export const KEPT_LABEL = 'qarnot-action-kept'

/** The longest label the action writes (Qarnot publishes no limit on a label's value; this stays modest). */
export const MAX_KEPT_LABEL_CHARS = 4096

export interface KeptPointer {
  readonly uuid: string
  readonly ids: IdInterval[]
}

/** The label's value, or undefined when it would be longer than MAX_KEPT_LABEL_CHARS. */
export function encodeKept(kept: readonly KeptResults[]): string | undefined {
  const value = kept
    .filter(k => k.instances.length > 0)
    .map(k => `${k.task.uuid}=${formatIds(k.instances.map(i => i.id))}`)
    .join(';')
  return value.length <= MAX_KEPT_LABEL_CHARS ? value : undefined
}

/** The earlier tasks and ids a label names; an error when it is not one the action wrote. */
export function decodeKept(value: string): KeptPointer[] | { error: string } {
  if (value.length > MAX_KEPT_LABEL_CHARS)
    return { error: `it is longer than ${MAX_KEPT_LABEL_CHARS} characters` }
  const pointers: KeptPointer[] = []
  for (const part of value.split(';')) {
    const [uuid, ranges, ...rest] = part.split('=')
    if (rest.length > 0 || !uuid || !UUID_PATTERN.test(uuid) || !ranges)
      return { error: `"${part.slice(0, 80)}" is not <task uuid>=<instance ids>` }
    try {
      pointers.push({ uuid, ids: parseRanges(ranges) })
    } catch {
      return { error: `"${ranges.slice(0, 80)}" is not a list of instance ids` }
    }
  }
  return pointers
}
