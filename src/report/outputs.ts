/** The step outputs, each capped so that GitHub accepts them (job outputs are limited to 1 MB per job). Pure. */
import { Output, type OutputName } from '../constants.js'
import { formatIds } from '../ranges.js'
import type { TaskReport } from './model.js'
import { headBytes, tailBytes, utf8Bytes } from './text.js'

export const STDOUT_OUTPUT_BYTES = 256 * 1024
export const RESULTS_OUTPUT_BYTES = 256 * 1024
/** Each instance's stdout and stderr in `results`, before the total cap applies. */
export const RESULT_TEXT_BYTES = 4 * 1024

/** `3> line` for every line of every instance's stdout, in id order. */
export function prefixedStdout(report: TaskReport): string {
  const pieces: string[] = []
  for (const instance of report.verdict.instances) {
    const stdout = report.outputs.get(instance.id)?.stdout ?? ''
    if (stdout === '') continue
    const lines = stdout.replace(/\n$/, '').split('\n')
    for (const line of lines) pieces.push(`${instance.id}> ${line}`)
  }
  return pieces.length > 0 ? `${pieces.join('\n')}\n` : ''
}

interface ResultEntry {
  id: number
  state: string
  error: string | null
  wallTimeSec: number | null
  execTimeSec: number | null
  attempts: number | null
  stdout: string
  stderr: string
  truncated: boolean
}

function resultsJson(report: TaskReport): { json: string; truncated: boolean } {
  let truncated = false
  const entries: ResultEntry[] = report.verdict.instances.map(instance => {
    const output = report.outputs.get(instance.id) ?? { stdout: '', stderr: '' }
    const stdout = tailBytes(output.stdout, RESULT_TEXT_BYTES)
    const stderr = tailBytes(output.stderr, RESULT_TEXT_BYTES)
    truncated ||= stdout.cut || stderr.cut
    return {
      id: instance.id,
      state: instance.state,
      error: instance.error ?? null,
      wallTimeSec: instance.wallTimeSec ?? null,
      execTimeSec: instance.execTimeSec ?? null,
      attempts: instance.attempts ?? null,
      stdout: stdout.text,
      stderr: stderr.text,
      truncated: stdout.cut || stderr.cut
    }
  })
  let json = JSON.stringify(entries)
  if (utf8Bytes(json) <= RESULTS_OUTPUT_BYTES) return { json, truncated }
  // Too big: drop the texts, failed instances keeping theirs longest, until it fits.
  for (const limit of [1024, 256, 0]) {
    for (const entry of entries) {
      const keep = entry.state === 'Success' ? Math.min(limit, 256) : limit
      const out = tailBytes(entry.stdout, keep)
      const err = tailBytes(entry.stderr, keep)
      if (out.cut || err.cut) entry.truncated = true
      entry.stdout = keep === 0 ? '' : out.text
      entry.stderr = keep === 0 ? '' : err.text
    }
    json = JSON.stringify(entries)
    if (utf8Bytes(json) <= RESULTS_OUTPUT_BYTES) return { json, truncated: true }
  }
  // Still too big (tens of thousands of instances): keep the failed ones and count the rest.
  const failed = entries.filter(e => e.state !== 'Success')
  json = JSON.stringify(failed)
  if (utf8Bytes(json) > RESULTS_OUTPUT_BYTES) json = JSON.stringify(failed.slice(0, 1000))
  return { json, truncated: true }
}

/** Every output of the action; values are strings as the runner stores them. */
export function buildOutputs(report: TaskReport): Record<OutputName, string> {
  const { verdict } = report
  const stdout = headBytes(prefixedStdout(report), STDOUT_OUTPUT_BYTES)
  const results = resultsJson(report)
  return {
    [Output.TaskUuid]: report.uuid,
    [Output.TaskUrl]: report.url,
    [Output.State]: verdict.state,
    [Output.Outcome]: report.outcome,
    [Output.InstanceCount]: String(verdict.instances.length),
    [Output.SucceededCount]: String(verdict.succeededCount),
    [Output.FailedCount]: String(verdict.failedIds.length),
    [Output.FailedInstances]: formatIds(verdict.failedIds),
    [Output.Results]: results.json,
    [Output.Stdout]: stdout.text,
    [Output.LogsDir]: report.logsDir ?? '',
    [Output.Truncated]: String(stdout.cut || results.truncated)
  }
}
