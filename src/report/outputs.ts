/**
 * The step outputs, each capped so that GitHub accepts them (an output and a job's outputs are limited to 1 MB).
 * Pure apart from reading outputs through the OutputReader.
 */
import { Output, type OutputName } from '../constants.js'
import { formatIds } from '../ranges.js'
import { wholeCharacterEnd } from '../task/output-files.js'
import type { StepReport } from './model.js'
import { utf8Bytes } from './text.js'

export const STDOUT_OUTPUT_BYTES = 256 * 1024
export const RESULTS_OUTPUT_BYTES = 512 * 1024
/** Most of each instance's stdout and stderr in `results` (their tails). */
export const RESULT_TEXT_BYTES = 4 * 1024
/** An instance's error message in `results`, at most (the API's messages are short; a huge one must not crowd out the rest). */
export const RESULT_ERROR_CHARS = 1024
/** Below this share per text, `results` carries no texts at all. */
const MIN_RESULT_TEXT_BYTES = 64

const CUT_MARK = '…'

/** One instance's stdout as `3> line` lines within `budget` bytes; a line that does not fit is cut, not dropped. */
function instanceLines(
  id: number,
  text: string,
  budget: number
): { text: string; bytes: number; cut: boolean } {
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')
  let out = ''
  let used = 0
  for (const line of lines) {
    const piece = `${id}> ${line}\n`
    const size = utf8Bytes(piece)
    if (used + size <= budget) {
      out += piece
      used += size
      continue
    }
    const room = budget - used - utf8Bytes(`${id}> ${CUT_MARK}\n`)
    if (room >= 0 || used === 0) {
      const kept = Buffer.from(line, 'utf8').subarray(0, Math.max(0, room))
      const cutPiece = `${id}> ${kept.subarray(0, wholeCharacterEnd(kept, kept.length)).toString('utf8')}${CUT_MARK}\n`
      out += cutPiece
      used += utf8Bytes(cutPiece)
    }
    return { text: out, bytes: used, cut: true }
  }
  return { text: out, bytes: used, cut: false }
}

/**
 * `3> line` for every line of every instance's stdout, in id order, within `maxBytes`. The budget is shared so
 * that every instance that printed something is represented (small ones take what they need, the rest share what
 * is left), and a line too long for its share is cut, not dropped.
 */
export function prefixedStdout(
  report: StepReport,
  maxBytes = STDOUT_OUTPUT_BYTES
): { text: string; cut: boolean } {
  const sizes = (report.verdict?.instances ?? [])
    .map(instance => ({ id: instance.id, size: report.outputs.head(instance.id, 'stdout', 0).totalBytes }))
    .filter(entry => entry.size > 0)
  // The smallest first, each taking at most an equal share of what is left: what small ones leave, big ones get.
  const parts = new Map<number, string>()
  let left = maxBytes
  let cut = false
  const bySize = [...sizes].sort((a, b) => a.size - b.size)
  bySize.forEach(({ id, size }, index) => {
    const budget = Math.floor(left / (bySize.length - index))
    const { text: head } = report.outputs.head(id, 'stdout', budget)
    const part = instanceLines(id, head, budget)
    parts.set(id, part.text)
    left -= part.bytes
    cut ||= part.cut || utf8Bytes(head) < size
  })
  const text = sizes.map(({ id }) => parts.get(id) ?? '').join('')
  return { text, cut }
}

interface ResultEntry {
  id: number
  state: string
  error: string | null
  wallTimeSec: number | null
  execTimeSec: number | null
  peakMemoryMB: number | null
  attempts: number | null
  stdout?: string
  stderr?: string
  truncated: boolean
}

function resultsJson(report: StepReport): { json: string; truncated: boolean } {
  const instances = report.verdict?.instances ?? []
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
      error: instance.error ? capError(instance.error) : null,
      wallTimeSec: instance.wallTimeSec ?? null,
      execTimeSec: instance.execTimeSec ?? null,
      peakMemoryMB: instance.peakMemoryMB ?? null,
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
  // Still too large: every instance as id and state, its error only when it did not succeed.
  const compact = entries.map(({ id, state, error }) =>
    state === 'Success' ? { id, state } : { id, state, error }
  )
  json = JSON.stringify(compact)
  if (utf8Bytes(json) <= RESULTS_OUTPUT_BYTES) return { json, truncated: true }
  // Then without errors (failed-instances and the summary still have them).
  const bare = compact.map(({ id, state }) => ({ id, state }))
  json = JSON.stringify(bare)
  if (utf8Bytes(json) <= RESULTS_OUTPUT_BYTES) return { json, truncated: true }
  // Tens of thousands of instances: the failed ones first, as many as fit.
  const failedFirst = bare.sort((a, b) => Number(a.state === 'Success') - Number(b.state === 'Success'))
  let count = failedFirst.length
  while (utf8Bytes(json) > RESULTS_OUTPUT_BYTES && count > 1) {
    count = Math.max(1, Math.floor(count / 2))
    json = JSON.stringify(failedFirst.slice(0, count))
  }
  return { json, truncated: true }
}

/** An instance's error in the results output: at most RESULT_ERROR_CHARS characters. */
function capError(error: string): string {
  return error.length > RESULT_ERROR_CHARS ? `${error.slice(0, RESULT_ERROR_CHARS)}…` : error
}

/** A figure as an output: plain decimal, at most 6 decimals, `""` when unknown. */
function figure(value: number | undefined): string {
  return value === undefined ? '' : String(Math.round(value * 1e6) / 1e6)
}

/** Every output of the action, on every exit; values are strings as the runner stores them. */
export function buildOutputs(report: StepReport): Record<OutputName, string> {
  const { verdict } = report
  const stdout = prefixedStdout(report)
  const results = resultsJson(report)
  return {
    [Output.TaskUuid]: report.task?.uuid ?? '',
    [Output.TaskUrl]: report.task?.url ?? '',
    [Output.State]: report.state,
    [Output.Outcome]: report.outcome,
    [Output.InstanceCount]: String(verdict?.instances.length ?? report.requestedCount ?? 0),
    [Output.SucceededCount]: String(verdict?.succeededCount ?? 0),
    [Output.FailedCount]: String(verdict?.failedIds.length ?? 0),
    [Output.FailedInstances]: formatIds(verdict?.failedIds ?? []),
    [Output.Instances]: results.json,
    [Output.Stdout]: stdout.text,
    [Output.LogsDir]: report.logsDir ?? '',
    [Output.Truncated]: String(stdout.cut || results.truncated),
    [Output.Credits]: figure(report.cost?.credits),
    [Output.CarbonGCO2eq]: figure(report.cost?.carbon?.gCO2eq),
    [Output.EnergyWh]: figure(report.cost?.carbon?.consumedWh),
    [Output.EnergyReusedWh]: figure(report.cost?.carbon?.reusedWh),
    [Output.ResultsDir]: report.resultsDir ?? '',
    [Output.CachedCount]: String(report.cache?.hitIds.length ?? 0),
    [Output.CachedInstances]: formatIds(report.cache?.hitIds ?? [])
  }
}
