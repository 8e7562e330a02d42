/**
 * The emulator's own reading of Qarnot's `advancedRanges` (docs/qarnot-api.md §3): items separated by commas, each
 * a non-negative integer `N` or an inclusive span `A-B` with `A <= B`. Written apart from the action's parser
 * (src/ranges.ts) on purpose: the emulator checks what the action sends, so it must not share its mistakes.
 *
 * Whitespace around an item is tolerated (the API's exact rule is not published); anything else, such as an empty
 * item, a sign, a reversed span or a letter, is refused.
 */

/** The largest instance id taken: an Int32, as the API's instance ids are. */
export const MAX_ID = 2 ** 31 - 1

export class InvalidRangeError extends Error {
  constructor(
    readonly text: string,
    why: string
  ) {
    super(`invalid advanced range "${text}": ${why}`)
    this.name = 'InvalidRangeError'
  }
}

/** One inclusive span `[from, to]`. */
export type Span = readonly [from: number, to: number]

const isDigit = (c: string): boolean => c >= '0' && c <= '9'

/** Reads the spans of `text` in the order written (no sorting or merging); throws InvalidRangeError. */
export function readSpans(text: string): Span[] {
  const spans: Span[] = []
  let at = 0
  const fail = (why: string): never => {
    throw new InvalidRangeError(text, why)
  }
  const skipBlanks = (): void => {
    while (at < text.length && (text[at] === ' ' || text[at] === '\t')) at++
  }
  const number = (): number => {
    const start = at
    while (at < text.length && isDigit(text[at])) at++
    if (at === start)
      fail(at < text.length ? `unexpected "${text[at]}" at ${at}` : 'a number is missing at the end')
    const value = Number(text.slice(start, at))
    if (value > MAX_ID) fail(`${text.slice(start, at)} is above ${MAX_ID}`)
    return value
  }
  if (text.trim() === '') fail('it is empty')
  for (;;) {
    skipBlanks()
    const from = number()
    let to = from
    if (text[at] === '-') {
      at++
      to = number()
      if (to < from) fail(`${from}-${to} runs backwards`)
    }
    spans.push([from, to])
    skipBlanks()
    if (at === text.length) return spans
    if (text[at] !== ',') fail(`unexpected "${text[at]}" at ${at}`)
    at++
  }
}

/** Whether `text` is a valid advanced range. */
export function isValidRange(text: string): boolean {
  try {
    readSpans(text)
    return true
  } catch {
    return false
  }
}

/** The instance ids `text` names, ascending, each once. */
export function idsOfRange(text: string): number[] {
  const ids = new Set<number>()
  for (const [from, to] of readSpans(text)) for (let id = from; id <= to; id++) ids.add(id)
  return [...ids].sort((a, b) => a - b)
}

/** The ids `0..count-1` of a task made with `instanceCount: count`. */
export function idsOfCount(count: number): number[] {
  return Array.from({ length: Math.max(0, count) }, (_, id) => id)
}

/** Ids written as the API writes a status range: ascending, runs joined (`0-2,5`); none is `""`. */
export function rangeOfIds(ids: Iterable<number>): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b)
  const parts: string[] = []
  for (let i = 0; i < sorted.length;) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`)
    i = j + 1
  }
  return parts.join(',')
}
