/**
 * How the platform turns DOCKER_CMD into a process: `${NAME}` is replaced by the task's constants and instance
 * variables, then the line is split into words (quotes and backslashes as a shell reads them) and run without a
 * shell, as docker runs a command. So `$NAME` alone stays literal, as on Qarnot; `sh -c '...'` gives a shell.
 */

/** Replaces `${NAME}` with `values[NAME]`; unknown names are left as written. */
export function substituteVariables(command: string, values: Readonly<Record<string, string>>): string {
  return command.replace(/\$\{([A-Za-z0-9_.-]+)\}/g, (whole, name: string) =>
    Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole
  )
}

/** Splits a command line into words: single quotes keep everything, double quotes honour `\"` and `\\`. */
export function splitWords(line: string): string[] {
  const words: string[] = []
  let word = ''
  let inWord = false
  let quote: "'" | '"' | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quote === "'") {
      if (c === "'") quote = undefined
      else word += c
    } else if (quote === '"') {
      if (c === '"') quote = undefined
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) word += line[++i]
      else word += c
    } else if (c === "'" || c === '"') {
      quote = c
      inWord = true
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i]
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else {
      word += c
      inWord = true
    }
  }
  if (quote) throw new Error(`unterminated ${quote === "'" ? 'single' : 'double'} quote in the command`)
  if (inWord) words.push(word)
  return words
}
