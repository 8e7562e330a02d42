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

export function formatSeconds(seconds: number | undefined): string {
  if (seconds === undefined) return ''
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}
