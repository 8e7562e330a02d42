/**
 * Instance ranges in Qarnot's advanced-range syntax: `1-6,15,20,25-30`, inclusive bounds.
 * Pure functions only: parse, normalise, expand, count and format.
 */

/** One inclusive interval of instance ids. */
export interface IdInterval {
  readonly first: number
  readonly last: number
}

/** Thrown for text that is not a valid range; `reason` says what is wrong in words a user can act on. */
export class RangeSyntaxError extends Error {
  constructor(
    readonly text: string,
    readonly reason: string
  ) {
    super(`"${text}" is not a valid instance range: ${reason}`)
    this.name = 'RangeSyntaxError'
  }
}

/** Largest id we accept: keeps arithmetic exact and is far above any real task. */
export const MAX_INSTANCE_ID = 2 ** 31 - 1

const ITEM = /^(\d+)(?:-(\d+))?$/

function parseId(digits: string, text: string): number {
  const value = Number(digits)
  if (!Number.isSafeInteger(value) || value > MAX_INSTANCE_ID) {
    throw new RangeSyntaxError(text, `${digits} is larger than ${MAX_INSTANCE_ID}`)
  }
  return value
}

/**
 * Parses `1-6,15,20,25-30` into sorted, merged intervals (overlaps and adjacent items are joined).
 * Whitespace around items is tolerated; empty items, reversed bounds, signs and non-decimal numbers are not.
 */
export function parseRanges(text: string): IdInterval[] {
  if (text.trim() === '') throw new RangeSyntaxError(text, 'it is empty')
  const intervals: IdInterval[] = []
  for (const raw of text.split(',')) {
    const item = raw.trim()
    if (item === '')
      throw new RangeSyntaxError(text, 'it has an empty item (two commas, or a comma at an end)')
    const match = ITEM.exec(item)
    if (!match) {
      throw new RangeSyntaxError(
        text,
        `"${item}" is neither a whole number nor a range a-b of whole numbers (decimal, no sign)`
      )
    }
    const first = parseId(match[1], text)
    const last = match[2] === undefined ? first : parseId(match[2], text)
    if (last < first) throw new RangeSyntaxError(text, `"${item}" runs backwards; write ${last}-${first}`)
    intervals.push({ first, last })
  }
  return normalise(intervals)
}

/** Sorts intervals and merges overlapping or adjacent ones. */
export function normalise(intervals: readonly IdInterval[]): IdInterval[] {
  const sorted = [...intervals].sort((a, b) => a.first - b.first || a.last - b.last)
  const merged: IdInterval[] = []
  for (const interval of sorted) {
    const previous = merged[merged.length - 1]
    if (previous && interval.first <= previous.last + 1) {
      merged[merged.length - 1] = { first: previous.first, last: Math.max(previous.last, interval.last) }
    } else {
      merged.push({ ...interval })
    }
  }
  return merged
}

/** The number of ids in normalised intervals. */
export function countIds(intervals: readonly IdInterval[]): number {
  return intervals.reduce((sum, { first, last }) => sum + (last - first + 1), 0)
}

/** Every id, ascending. Use only where the count is known to be reasonable. */
export function expandIds(intervals: readonly IdInterval[]): number[] {
  const ids: number[] = []
  for (const { first, last } of intervals) for (let id = first; id <= last; id++) ids.push(id)
  return ids
}

/** Intervals covering `0..count-1`, as a task of `instanceCount: count` has. */
export function countToIntervals(count: number): IdInterval[] {
  return count > 0 ? [{ first: 0, last: count - 1 }] : []
}

/** Normalised intervals from any list of ids (duplicates allowed, any order). */
export function idsToIntervals(ids: Iterable<number>): IdInterval[] {
  const sorted = [...new Set(ids)].sort((a, b) => a - b)
  const intervals: IdInterval[] = []
  for (const id of sorted) {
    const previous = intervals[intervals.length - 1]
    if (previous && id === previous.last + 1)
      intervals[intervals.length - 1] = { first: previous.first, last: id }
    else intervals.push({ first: id, last: id })
  }
  return intervals
}

/** Formats intervals as the API writes them: `2,5-7`; an empty list is `""`. */
export function formatRanges(intervals: readonly IdInterval[]): string {
  return intervals.map(({ first, last }) => (first === last ? `${first}` : `${first}-${last}`)).join(',')
}

/** Formats any list of ids as a normalised range string. */
export function formatIds(ids: Iterable<number>): string {
  return formatRanges(idsToIntervals(ids))
}

/**
 * Reads a range field of a TaskOutput (`failedRange`, ...): `null`, `undefined` and `""` mean none.
 * A malformed value from the server is reported to the caller rather than guessed at.
 */
export function parseRangeField(value: string | null | undefined): IdInterval[] {
  if (value === null || value === undefined || value.trim() === '') return []
  return parseRanges(value)
}

/** Whether normalised intervals hold `id` (binary search: no expansion, whatever the intervals' size). */
export function intervalsContain(intervals: readonly IdInterval[], id: number): boolean {
  let low = 0
  let high = intervals.length - 1
  while (low <= high) {
    const middle = (low + high) >> 1
    const { first, last } = intervals[middle]
    if (id < first) high = middle - 1
    else if (id > last) low = middle + 1
    else return true
  }
  return false
}

/** The ids of normalised `a` that are not in normalised `b`, as normalised intervals. */
export function subtractIntervals(a: readonly IdInterval[], b: readonly IdInterval[]): IdInterval[] {
  const result: IdInterval[] = []
  let j = 0
  for (const { first, last } of a) {
    let start = first
    while (j < b.length && b[j].last < start) j++
    let k = j
    while (start <= last && k < b.length && b[k].first <= last) {
      if (b[k].first > start) result.push({ first: start, last: b[k].first - 1 })
      start = Math.max(start, b[k].last + 1)
      k++
    }
    if (start <= last) result.push({ first: start, last })
  }
  return result
}
