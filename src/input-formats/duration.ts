/** Durations as written in workflow files: `90s`, `30m`, `2h`, `1h30m`, `1d`. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g

/** Milliseconds in a duration; throws an Error that says how to write one. */
export function parseDuration(text: string): number {
  const compact = text.trim().toLowerCase().replace(/\s+/g, '')
  if (/^\d+(?:\.\d+)?$/.test(compact)) {
    throw new Error(
      `"${text}" has no unit; write for example ${compact}m for minutes or ${compact}s for seconds`
    )
  }
  if (!WHOLE.test(compact)) {
    throw new Error(`"${text}" is not a duration; write a number with a unit: 90s, 30m, 2h, 1h30m or 1d`)
  }
  let total = 0
  for (const [, amount, unit] of compact.matchAll(PART)) total += Number(amount) * UNIT_MS[unit]
  if (total <= 0) throw new Error(`"${text}" is zero; give a positive duration such as 30m`)
  return Math.round(total)
}

/** `5400000` -> `1h30m`, for messages. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`
  if (ms < 60_000 && ms % 1000 !== 0) return `${ms / 1000}s`
  let seconds = Math.round(ms / 1000)
  const parts: string[] = []
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60]
  ] as const) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`)
      seconds %= size
    }
  }
  if (seconds > 0 || parts.length === 0) parts.push(`${seconds}s`)
  return parts.join('')
}
