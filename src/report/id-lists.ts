/** Instance ids as text that wraps and stays short: ranges with break points, cut with a count. Pure. */
import { formatIds } from '../ranges.js'

/** Most characters of ranges in a table cell: a longer list sets the width of the whole table (the count that
 * follows a cut list brings it to under 80). */
export const CELL_IDS_CHARS = 48
/** Most characters of ranges in a list under a table. */
export const LISTED_IDS_CHARS = 2000

/**
 * `0-4, 6-101, 103-198`: ranges with a space after each comma, so that a browser can break the line there; past
 * `maxChars`, cut on a comma with the count of ids left out (`0-4, 6-101, … and 812 more`).
 */
export function idRanges(ids: readonly number[], maxChars: number): { text: string; cut: boolean } {
  const text = formatIds(ids).replace(/,/g, ', ')
  if (text.length <= maxChars) return { text, cut: false }
  const end = text.lastIndexOf(',', maxChars)
  const shown = end > 0 ? text.slice(0, end) : (text.split(',')[0] ?? '')
  const count = countIds(shown)
  return { text: `${shown}, … and ${(ids.length - count).toLocaleString('en-US')} more`, cut: true }
}

/** How many ids `0-4, 7, 9-10` names. */
function countIds(ranges: string): number {
  let count = 0
  for (const part of ranges.split(', ')) {
    const [first, last] = part.split('-').map(Number)
    count += last === undefined ? 1 : last - first + 1
  }
  return count
}
