/**
 * When a running task will end, predicted from its instances (docs/polling.md). Pure.
 *
 * The ended instances' durations are the sample. A running instance that has run `e` is expected to take the median
 * of the sampled durations longer than `e`; one that has outlived every sampled duration is overdue: its end may
 * come any time, and the longer it overruns the less the sample says, which the schedule answers by easing off
 * (`overdueMs`). Waiting instances start as slots free and take the median duration. The task ends with its last
 * instance; the spread says how far either side of the prediction the end may be.
 */
import type { PollHistory } from './poll-history.js'

export interface EndPrediction {
  /** When the task is expected to end (clock ms). */
  readonly endAt: number
  /** How far either side of `endAt` the end plausibly is (ms). */
  readonly spreadMs: number
  /** How long what holds the end back has outlived every duration seen (ms; 0 when it has not). */
  readonly overdueMs: number
}
/** The spread is never below this (reads give execution times in whole seconds; the upload comes after). */
export const MIN_SPREAD_MS = 2_000
/** ... nor below this fraction of the typical duration. */
export const MIN_SPREAD_RATIO = 0.02

function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q
  const low = Math.floor(position)
  const high = Math.ceil(position)
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low)
}

/** The first index of `sorted` whose value exceeds `value`. */
function firstAbove(sorted: readonly number[], value: number): number {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const middle = (low + high) >> 1
    if (sorted[middle] > value) high = middle
    else low = middle + 1
  }
  return low
}

interface Remaining {
  readonly ms: number
  readonly spreadMs: number
  readonly overdueMs: number
}

/** What is left of an instance that has run `elapsedMs`, given the sorted sample of durations. */
export function remainingOf(durations: readonly number[], elapsedMs: number): Remaining {
  const tail = durations.slice(firstAbove(durations, elapsedMs))
  if (tail.length === 0) return { ms: 0, spreadMs: 0, overdueMs: elapsedMs - durations[durations.length - 1] }
  return {
    ms: quantile(tail, 0.5) - elapsedMs,
    spreadMs: (quantile(tail, 0.9) - quantile(tail, 0.1)) / 2,
    overdueMs: 0
  }
}

/** The predicted end, or undefined while nothing predicts it (no instance has ended yet, nothing winds down). */
export function predictEnd(history: PollHistory): EndPrediction | undefined {
  const { at, durationsMs: durations } = history
  // Nothing left to run: the end comes with the wrap-up, any time; the longer it lasts, the more it is overdue.
  if (history.windingDownSince !== undefined)
    return { endAt: at, spreadMs: MIN_SPREAD_MS, overdueMs: at - history.windingDownSince }
  if (durations.length === 0) return undefined
  const typical = quantile(durations, 0.5)
  const minSpread = Math.max(MIN_SPREAD_MS, MIN_SPREAD_RATIO * typical)
  let last: Remaining = { ms: 0, spreadMs: 0, overdueMs: 0 }
  const remaining: number[] = []
  for (const elapsed of history.runningMs) {
    const left = remainingOf(durations, elapsed)
    remaining.push(left.ms)
    // The end waits for the latest expected instance; among overdue ones, for the most overdue.
    if (left.ms > last.ms || (left.ms === last.ms && left.overdueMs >= last.overdueMs)) last = left
  }
  let overdueMs = last.overdueMs
  let endMs = last.ms
  let spreadMs = last.spreadMs
  if (history.queued > 0) {
    // Waves of waiting instances after the running ones, as many at a time as run now.
    const slots = Math.max(1, remaining.length)
    remaining.sort((a, b) => a - b)
    const firstFree = remaining.length > 0 ? quantile(remaining, 0.5) : 0
    const waves = Math.ceil(history.queued / slots)
    const queuedEnd = firstFree + waves * typical
    if (queuedEnd > endMs) {
      endMs = queuedEnd
      overdueMs = 0
      spreadMs = (quantile(durations, 0.9) - quantile(durations, 0.1)) / 2
    }
  }
  return { endAt: at + endMs, spreadMs: Math.max(minSpread, spreadMs), overdueMs }
}
