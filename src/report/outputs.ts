/**
 * The step outputs, each capped so that GitHub accepts them (an output and a job's outputs are limited to 1 MB).
 * Pure apart from reading outputs through the OutputReader.
 */
import { Output, type OutputName } from '../constants.js'
import { formatIds } from '../ranges.js'
import type { TaskReport } from './model.js'
import { utf8Bytes } from './text.js'

export const STDOUT_OUTPUT_BYTES = 256 * 1024
export const RESULTS_OUTPUT_BYTES = 512 * 1024
/** Most of each instance's stdout and stderr in `results` (their tails). */
export const RESULT_TEXT_BYTES = 4 * 1024
/** Below this share per text, `results` carries no texts at all. */
const MIN_RESULT_TEXT_BYTES = 64

/** `3> line` for every line of every instance's stdout, in id order, within `maxBytes`. */
export function prefixedStdout(
  report: TaskReport,
  maxBytes = STDOUT_OUTPUT_BYTES
): { text: string; cut: boolean } {
  const pieces: string[] = []
  let used = 0
  for (const instance of report.verdict.instances) {
    const left = maxBytes - used
    if (left <= 0) return { text: pieces.join(''), cut: true }
    const { text, totalBytes } = report.outputs.head(instance.id, 'stdout', left)
    if (totalBytes === 0) continue
    const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')
    for (const line of lines) {
      const piece = `${instance.id}> ${line}\n`
      const size = utf8Bytes(piece)
      if (used + size > maxBytes) return { text: pieces.join(''), cut: true }
      pieces.push(piece)
      used += size
    }
    if (utf8Bytes(text) < totalBytes) return { text: pieces.join(''), cut: true }
  }
  return { text: pieces.join(''), cut: false }
}

interface ResultEntry {
  id: number
  state: string
  error: string | null
  wallTimeSec: number | null
  execTimeSec: number | null
  attempts: number | null
  stdout?: string
  stderr?: string
  truncated: boolean
}

function resultsJson(report: TaskReport): { json: string; truncated: boolean } {
  const { instances } = report.verdict
  // Share the cap between the instances' texts, so that thousands of instances still fit.
  const share = Math.min(
    RESULT_TEXT_BYTES,
    Math.floor((RESULTS_OUTPUT_BYTES * 0.6) / Math.max(1, instances.length) / 2)
  )
  const withTexts = share >= MIN_RESULT_TEXT_BYTES
  let truncated = false
  const entries: ResultEntry[] = instances.map(instance => {
    const entry: ResultEntry = {
      id: instance.id,
      state: instance.state,
      error: instance.error ?? null,
      wallTimeSec: instance.wallTimeSec ?? null,
      execTimeSec: instance.execTimeSec ?? null,
      attempts: instance.attempts ?? null,
      truncated: false
    }
    for (const stream of ['stdout', 'stderr'] as const) {
      const { text, totalBytes } = withTexts
        ? report.outputs.tail(instance.id, stream, share)
        : { text: '', totalBytes: 0 }
      entry[stream] = text
      if (!withTexts || utf8Bytes(text) < totalBytes) entry.truncated = true
    }
    truncated ||= entry.truncated
    return entry
  })
  let json = JSON.stringify(entries)
  if (utf8Bytes(json) <= RESULTS_OUTPUT_BYTES) return { json, truncated }
  for (const entry of entries) {
    delete entry.stdout
    delete entry.stderr
    entry.truncated = true
  }
  json = JSON.stringify(entries)
  if (utf8Bytes(json) <= RESULTS_OUTPUT_BYTES) return { json, truncated: true }
  // Tens of thousands of instances: the failed ones, as many as fit.
  const failed = entries.filter(e => e.state !== 'Success')
  let count = failed.length
  do {
    json = JSON.stringify(failed.slice(0, count))
    count = Math.floor(count / 2)
  } while (utf8Bytes(json) > RESULTS_OUTPUT_BYTES)
  return { json, truncated: true }
}

/** Every output of the action; values are strings as the runner stores them. */
export function buildOutputs(report: TaskReport): Record<OutputName, string> {
  const { verdict } = report
  const stdout = prefixedStdout(report)
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
