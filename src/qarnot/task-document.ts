/**
 * Checking a task document (`GET /tasks/{uuid}`, docs/qarnot-api.md §4) before anything acts on it: an answer that
 * is not a task (an HTML page, `null`, `{}`, an entry that is `null`, a range that does not parse) is refused here,
 * so that the caller can take it for the transient fault it most likely is, rather than judge a task by it.
 * Collections may be `null` (the OpenAPI examples show it); unknown fields are kept and ignored.
 */
import { parseRangeField } from '../ranges.js'
import type { TaskOutputWire } from './types.js'

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const RANGE_FIELDS = [
  'succeededRange',
  'executedRange',
  'failedRange',
  'cancelledRange',
  'failedOnlyRange'
] as const

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

function checkList(
  document: Record<string, unknown>,
  field: string,
  entry: (item: unknown) => boolean
): void {
  const value = document[field]
  if (value === undefined || value === null) return
  if (!Array.isArray(value)) throw new Error(`${field} is not a list`)
  if (!value.every(entry)) throw new Error(`${field} holds an entry that is not one`)
}

function checkStatus(status: unknown): void {
  if (status === undefined || status === null) return
  if (!isObject(status)) throw new Error('status is not an object')
  for (const field of RANGE_FIELDS) {
    const value = status[field]
    if (value === undefined || value === null) continue
    if (typeof value !== 'string') throw new Error(`status.${field} is not a range`)
    try {
      parseRangeField(value)
    } catch {
      throw new Error(`status.${field} is not a range`)
    }
  }
}

/** The document as a TaskOutputWire, or an Error saying why it is not one. */
export function readTaskDocument(value: unknown): TaskOutputWire {
  if (!isObject(value)) throw new Error('it is not a task document')
  if (typeof value.uuid !== 'string' || !UUID_PATTERN.test(value.uuid)) throw new Error('it has no task uuid')
  if (typeof value.state !== 'string' || !/^[A-Za-z]{1,64}$/.test(value.state)) {
    throw new Error('it has no readable state')
  }
  checkList(
    value,
    'completedInstances',
    item => isObject(item) && Number.isSafeInteger(item.instanceId) && (item.instanceId as number) >= 0
  )
  checkList(value, 'errors', isObject)
  checkStatus(value.status)
  for (const field of ['instanceCount', 'totalInstanceCount'] as const) {
    const count = value[field]
    if (count !== undefined && count !== null && !(Number.isSafeInteger(count) && (count as number) >= 0)) {
      throw new Error(`${field} is not a count`)
    }
  }
  if (
    value.advancedRanges !== undefined &&
    value.advancedRanges !== null &&
    typeof value.advancedRanges !== 'string'
  ) {
    throw new Error('advancedRanges is not a range')
  }
  return value as unknown as TaskOutputWire
}
