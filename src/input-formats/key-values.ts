/** `KEY=VALUE` lines, as the `constants` and `labels` inputs take them. */

export interface KeyValue {
  readonly key: string
  readonly value: string
}

/**
 * Splits lines at their first `=`. Blank lines and lines starting with `#` are skipped; key and value are trimmed
 * (as dotenv files are read), so `KEY = value` works as users expect.
 */
export function parseKeyValueLines(text: string, options: { quote?: boolean } = {}): KeyValue[] {
  // A value that may be secret (a key file pasted over several lines) is never quoted back.
  const shown = (line: string) => (options.quote === false ? '' : ` ("${line.trim()}")`)
  const pairs: KeyValue[] = []
  const seen = new Set<string>()
  text.split('\n').forEach((rawLine, index) => {
    const line = rawLine.replace(/\r$/, '')
    if (line.trim() === '' || line.trimStart().startsWith('#')) return
    const equals = line.indexOf('=')
    if (equals < 0)
      throw new Error(
        `line ${index + 1}${shown(line)} has no "="; write KEY=VALUE (one line each: a value over several lines cannot be given)`
      )
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
