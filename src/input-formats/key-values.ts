/** `KEY=VALUE` lines, as the `constants` and `labels` inputs take them. */

export interface KeyValue {
  readonly key: string
  readonly value: string
}

/**
 * Splits lines at their first `=`. Blank lines and lines starting with `#` are skipped; key and value are trimmed
 * (as dotenv files are read), so `KEY = value` works as users expect.
 */
export function parseKeyValueLines(text: string): KeyValue[] {
  const pairs: KeyValue[] = []
  const seen = new Set<string>()
  text.split('\n').forEach((rawLine, index) => {
    const line = rawLine.replace(/\r$/, '')
    if (line.trim() === '' || line.trimStart().startsWith('#')) return
    const equals = line.indexOf('=')
    if (equals < 0) throw new Error(`line ${index + 1} ("${line.trim()}") has no "="; write KEY=VALUE`)
    const key = line.slice(0, equals).trim()
    if (key === '') throw new Error(`line ${index + 1} has an empty key; write KEY=VALUE`)
    if (seen.has(key)) throw new Error(`"${key}" is given twice; keep one line for it`)
    seen.add(key)
    pairs.push({ key, value: line.slice(equals + 1).trim() })
  })
  return pairs
}

/** Splits a list written with commas or new lines, dropping blanks. */
export function parseList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map(item => item.trim())
    .filter(item => item !== '')
}
