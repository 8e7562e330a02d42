/**
 * Secret values taken out of everything the action writes from task output. The runner masks registered secrets
 * in the log and the summary, but not in step outputs (which later steps publish), not in a pull-request comment
 * (posted through the API), and not once the summary has escaped them (`a&b` becomes `a&amp;b`). So the text is
 * redacted before it is cut, escaped or encoded. Pure.
 */
import { wholeCharacterEnd } from '../task/output-files.js'
import type { OutputReader, StepReport } from './model.js'
import { escapeHtml, utf8Bytes } from './text.js'

export const REDACTED = '***'
/** The last pass over rendered text looks for forms at least this long. */
export const MIN_RENDERED_FORM = 4

/** What to look for: each secret, each of its lines (the runner masks a multi-line secret line by line), longest first. */
export function secretForms(secrets: readonly string[]): string[] {
  const forms = new Set<string>()
  for (const secret of secrets) {
    for (const form of [secret, ...secret.split(/\r?\n/)]) if (form.trim() !== '') forms.add(form)
  }
  return [...forms].sort((a, b) => b.length - a.length)
}

/**
 * The text with every form of every secret replaced by `***`. Overlapping or touching matches (two secrets that
 * share a part) become one `***`, as the runner masks them: no part of either stays visible.
 */
export function redactText(text: string, forms: readonly string[]): string {
  const found: [number, number][] = []
  for (const form of forms) {
    for (let at = text.indexOf(form); at >= 0; at = text.indexOf(form, at + 1))
      found.push([at, at + form.length])
  }
  if (found.length === 0) return text
  found.sort((a, b) => a[0] - b[0])
  let out = ''
  let done = 0
  let [start, end] = found[0]
  for (const [from, to] of found.slice(1)) {
    if (from <= end) end = Math.max(end, to)
    else {
      out += `${text.slice(done, start)}${REDACTED}`
      done = end
      ;[start, end] = [from, to]
    }
  }
  return `${out}${text.slice(done, start)}${REDACTED}${text.slice(end)}`
}

/**
 * The text without an end that begins some secret: where a read was cut, a secret may have been cut with it. Only
 * positions holding a secret's first character are tried, so a long secret costs little.
 */
function withoutPartialEnd(text: string, forms: readonly string[]): string {
  let cut = text.length
  for (const form of forms) {
    for (let i = Math.max(0, text.length - form.length + 1); i < cut; i++) {
      if (text[i] === form[0] && form.startsWith(text.slice(i))) {
        cut = i
        break
      }
    }
  }
  return text.slice(0, cut)
}

/** The text without a start that ends some secret. */
function withoutPartialStart(text: string, forms: readonly string[]): string {
  let cut = 0
  for (const form of forms) {
    const last = form[form.length - 1]
    for (let k = Math.min(form.length - 1, text.length); k > cut; k--) {
      if (text[k - 1] === last && form.endsWith(text.slice(0, k))) {
        cut = k
        break
      }
    }
  }
  return text.slice(cut)
}

/**
 * A reader whose texts carry no secret. It reads a little more than asked (the longest secret's length), redacts,
 * drops what may be part of a secret at the edge where the read was cut, then cuts to the size asked: a secret is
 * redacted whole or not shown at all, never shown in part.
 */
export function redactingReader(reader: OutputReader, secrets: readonly string[]): OutputReader {
  const forms = secretForms(secrets)
  if (forms.length === 0) return reader
  const margin = utf8Bytes(forms.reduce((a, b) => (utf8Bytes(b) > utf8Bytes(a) ? b : a)))
  return {
    head(id, stream, maxBytes) {
      const read = reader.head(id, stream, maxBytes + margin)
      const whole = utf8Bytes(read.text) >= read.totalBytes
      let text = redactText(read.text, forms)
      if (!whole) text = withoutPartialEnd(text, forms)
      const buffer = Buffer.from(text, 'utf8')
      // Read whole, the redacted text is the whole output: its size, so that redaction does not read as a cut.
      const totalBytes = whole ? buffer.length : read.totalBytes
      if (buffer.length <= maxBytes) return { text, totalBytes }
      return { text: buffer.subarray(0, wholeCharacterEnd(buffer, maxBytes)).toString('utf8'), totalBytes }
    },
    tail(id, stream, maxBytes) {
      const read = reader.tail(id, stream, maxBytes + margin)
      const whole = utf8Bytes(read.text) >= read.totalBytes
      let text = redactText(read.text, forms)
      if (!whole) text = withoutPartialStart(text, forms)
      const buffer = Buffer.from(text, 'utf8')
      const totalBytes = whole ? buffer.length : read.totalBytes
      if (buffer.length <= maxBytes) return { text, totalBytes }
      let start = buffer.length - maxBytes
      while (start < buffer.length && (buffer[start] & 0xc0) === 0x80) start++
      return { text: buffer.subarray(start).toString('utf8'), totalBytes }
    }
  }
}

/**
 * The report with no secret in anything taken from the task or the API: its output (through redactingReader),
 * each instance's error, the task errors, the headline and the notes. Whatever is rendered from it (outputs,
 * summary, comment) then holds none, whatever escaping or cutting the rendering does.
 */
export function redactReport(report: StepReport, secrets: readonly string[]): StepReport {
  const forms = secretForms(secrets)
  if (forms.length === 0) return report
  const text = (value: string): string => redactText(value, forms)
  const { verdict } = report
  return {
    ...report,
    headline: text(report.headline),
    state: text(report.state),
    title: text(report.title),
    notes: report.notes.map(text),
    task: report.task && { ...report.task, name: text(report.task.name) },
    outputs: redactingReader(report.outputs, secrets),
    verdict: verdict && {
      ...verdict,
      instances: verdict.instances.map(instance =>
        instance.error === undefined ? instance : { ...instance, error: text(instance.error) }
      ),
      taskErrors: verdict.taskErrors.map(text),
      reasons: verdict.reasons.map(text)
    }
  }
}

/**
 * A last pass over a rendered text (an output value, the summary, the comment body): each secret as written and
 * as HTML-escaped. It cannot undo every rendering (Markdown escapes), which is why the report is redacted first.
 */
export function redactRendered(rendered: string, secrets: readonly string[]): string {
  // Shorter forms cannot be told from the rendering's own text (ids, counts, markup): the report had them out.
  const forms = secretForms(secrets).filter(form => form.length >= MIN_RENDERED_FORM)
  if (forms.length === 0) return rendered
  const escaped = forms.map(escapeHtml).filter(form => !forms.includes(form))
  return redactText(
    rendered,
    [...forms, ...escaped].sort((a, b) => b.length - a.length)
  )
}
