/** Text helpers for GitHub-facing rendering. Pure. */

/** Escapes task output for HTML in Markdown; the summary does not escape anything by itself. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** Text safe inside one Markdown table cell. */
export function tableCell(text: string): string {
  return escapeHtml(text).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ').replace(/`/g, '\\`')
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8')
}

/**
 * The last `maxBytes` of `text`, cut at a line start when one is near, never inside a UTF-8 sequence.
 * Returns the text unchanged when it fits.
 */
export function tailBytes(text: string, maxBytes: number): { text: string; cut: boolean } {
  const buffer = Buffer.from(text, 'utf8')
  if (buffer.length <= maxBytes) return { text, cut: false }
  let start = buffer.length - maxBytes
  while (start < buffer.length && (buffer[start] & 0xc0) === 0x80) start++
  const newline = buffer.indexOf(0x0a, start)
  if (newline >= 0 && newline - start < 1024) start = newline + 1
  return { text: buffer.subarray(start).toString('utf8'), cut: true }
}

/** The first `maxBytes` of `text`, never inside a UTF-8 sequence. */
export function headBytes(text: string, maxBytes: number): { text: string; cut: boolean } {
  const buffer = Buffer.from(text, 'utf8')
  if (buffer.length <= maxBytes) return { text, cut: false }
  let end = maxBytes
  while (end > 0 && (buffer[end] & 0xc0) === 0x80) end--
  return { text: buffer.subarray(0, end).toString('utf8'), cut: true }
}

export function formatSeconds(seconds: number | undefined): string {
  if (seconds === undefined) return ''
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}
