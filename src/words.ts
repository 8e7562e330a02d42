/** How the action words things: counts, errors, and text that came from outside. Pure. */

/** `1 instance`, `3 instances`. */
export function plural(count: number, word: string, many = `${word}s`): string {
  return `${count} ${count === 1 ? word : many}`
}

/** An error's message, whatever was thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * Text that did not come from the action's own code (a task name, an API state, an error message), made safe for
 * one log line: line breaks and other control characters become spaces and `##[` is broken, so that the runner can
 * never read a workflow command (`::error::...` at a line's start, `##[error]...` anywhere) in it, and it is cut to
 * `maxLength` characters.
 */
export function oneLine(text: string, maxLength = 500): string {
  // The runner also reads the older `##[command]` form anywhere in a line: a zero-width space breaks it.
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').replace(/##\[/g, '#\u200b#[')
  return flat.length > maxLength ? `${flat.slice(0, maxLength)}…` : flat
}

/** A URL as it may be logged: a user name or password in it is replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.username === '' && parsed.password === '') return url
    parsed.username = '***'
    parsed.password = ''
    return parsed.toString().replace(/\/$/, url.endsWith('/') ? '/' : '')
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//***@')
  }
}
