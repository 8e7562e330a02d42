/**
 * Reading Qarnot's times and figures (docs/qarnot-api.md §4). Pure. Each reader answers a finite number or
 * `undefined` ("not given, or not readable"): never NaN, never an Invalid Date, never a throw, whatever the server
 * (or an emulator in a quirky mood) sends.
 *
 * - Time spans are .NET `TimeSpan` in its constant ("c") format, `[-][d.]hh:mm:ss[.fffffff]`: an optional sign and
 *   day part, hours 0-23, minutes and seconds 0-59, and 1 to 7 fraction digits (ticks of 100 ns). .NET does have
 *   negative spans (`-00:00:01`), so the sign is read; whether a span may be negative is the caller's to judge.
 * - Dates are ISO 8601 in UTC as .NET writes them, with up to 7 fraction digits. A date without a zone is taken as
 *   UTC (the API's dates are UTC). .NET's `DateTime.MinValue` (`0001-01-01T00:00:00Z`, the `endDate` of an unfinished
 *   task) and `DateTime.MaxValue` (year 9999) mean "no date": any date in year 1 or earlier, or 9999, reads as none.
 * - Numbers come as JSON numbers, possibly decimal, and sometimes as decimal strings (`"12.5"`).
 */

const SPAN = /^([+-])?(?:(\d{1,8})\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/

/** Seconds in a .NET time span (`00:01:02` -> 62, `1.02:03:04.5` -> 93784.5); undefined when unreadable. */
export function parseTimeSpan(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined
  const match = SPAN.exec(value.trim())
  if (!match) return undefined
  const [, sign, days = '0', hours, minutes, seconds, fraction = ''] = match
  const h = Number(hours)
  const m = Number(minutes)
  const s = Number(seconds)
  if (h > 23 || m > 59 || s > 59) return undefined
  const whole = Number(days) * 86_400 + h * 3_600 + m * 60 + s
  const total = whole + (fraction === '' ? 0 : Number(fraction) / 10 ** fraction.length)
  return sign === '-' && total !== 0 ? -total : total
}

const DATE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/

/** Years that mean "no date": .NET's DateTime.MinValue (year 1, or year 0 once shifted by a zone) and MaxValue. */
function isSentinelYear(year: number): boolean {
  return year <= 1 || year >= 9999
}

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0
}

/**
 * Epoch milliseconds of an ISO date (`2026-11-30T10:00:00.1234567Z` -> ms, fraction beyond ms dropped); undefined
 * for a missing, unreadable or impossible date, and for .NET's "no date" (`0001-01-01T00:00:00Z`).
 */
export function parseDate(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined
  const match = DATE.exec(value.trim())
  if (!match) return undefined
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number)
  const [fraction = '', , sign, offsetHours, offsetMinutes] = match.slice(7)
  if (isSentinelYear(year)) return undefined
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 59) return undefined
  if (offsetHours !== undefined && (Number(offsetHours) > 23 || Number(offsetMinutes) > 59)) return undefined
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, Number(fraction.padEnd(3, '0').slice(0, 3)))
  const offset =
    sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes))
  const ms = date.getTime() - offset * 60_000
  return Number.isFinite(ms) ? ms : undefined
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

/** A finite number from a JSON number or a decimal string (`12`, `"12.5"`, `"1e3"`); undefined otherwise. */
export function parseNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  if (typeof value !== 'string') return undefined
  const text = value.trim()
  if (!DECIMAL.test(text)) return undefined
  const number = Number(text)
  return Number.isFinite(number) ? number : undefined
}

/** A finite number at or above zero (a duration, a size, a count), read as parseNumber does; undefined otherwise. */
export function parseNonNegative(value: unknown): number | undefined {
  const number = parseNumber(value)
  return number !== undefined && number >= 0 ? number : undefined
}
