/** Text helpers for GitHub-facing rendering. Pure. */

/** Escapes task output for HTML in Markdown; the summary does not escape anything by itself. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/**
 * Text safe inside one Markdown table cell (or one line of Markdown): HTML escaped, line breaks of every kind
 * folded, and Markdown's own characters escaped, so that `![t](url)` stays text rather than an image or a link.
 */
export function tableCell(text: string): string {
  return (
    escapeHtml(text)
      // eslint-disable-next-line no-control-regex
      .replace(/[\r\n\u0000-\u001f\u007f\u2028\u2029]+/g, ' ')
      .replace(/[\\`*_[\]|~]/g, character => `\\${character}`)
      // A mention or an issue reference in task text must not notify anyone or link (the PR comment renders them).
      // Only where a word starts: an `@` or `#` inside a URL, a digest or a path stays as it is.
      .replace(/(^|[\s(])([@#])(?=[\w-])/g, '$1$2\u2060')
  )
}

/** Text as a list item's content: also no heading, quote or list marker where the item begins. */
export function listText(text: string): string {
  return tableCell(text.trimStart()).replace(
    /^(\s*)([#>+=-]|\d+[.)])/,
    (_, space: string, marker: string) => `${space}${marker.replace(/([#>+=.)-])$/, '\\$1')}`
  )
}

/** Text as an inline code span, whatever backticks it holds (backslash escapes do not work inside one). */
export function codeSpan(text: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\r\n\u0000-\u001f\u007f\u2028\u2029]+/g, ' ')
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map(run => run.length))
  const fence = '`'.repeat(longest + 1)
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : ''
  return `${fence}${pad}${flat}${pad}${fence}`
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8')
}

/** `42.0 s`, `<0.1 s`, `3 min 5 s`, `2 h 10 min`; `""` for a time the API did not give (never NaN). */
export function formatSeconds(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return ''
  if (seconds === 0) return '0 s'
  // 48 ms is not "0.0 s": a time too short to show is said to be.
  if (seconds < 0.05) return '<0.1 s'
  if (seconds < 9.95) return `${seconds.toFixed(1)} s`
  // Rounded first, so that 59.6 s is "1 min 0 s", not "60 s", and 119.7 s is "2 min 0 s", not "1 min 60 s".
  const whole = Math.round(seconds)
  if (whole < 60) return `${whole} s`
  const minutes = Math.floor(whole / 60)
  if (minutes < 60) return `${minutes} min ${whole % 60} s`
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}
