/**
 * How long to wait between status reads. Pure. Short tasks are seen ending about a second late; long ones settle
 * at one read every 15 s, so that hours of waiting average one read every 10-15 s (the SDKs poll every 10 s).
 * That schedule (`pollIntervalMs`) is the one without prediction; the action follows `nextPollDelayMs`.
 */
import { predictEnd, type EndPrediction } from './end-prediction.js'
import type { PollHistory } from './poll-history.js'

const STEPS: readonly { readonly untilMs: number; readonly intervalMs: number }[] = [
  { untilMs: 60_000, intervalMs: 1_000 },
  { untilMs: 5 * 60_000, intervalMs: 3_000 },
  { untilMs: 15 * 60_000, intervalMs: 6_000 }
]
export const LONG_TASK_INTERVAL_MS = 15_000

/** The wait before the next read, `elapsedMs` after watching began, never below `floorMs`. */
export function pollIntervalMs(elapsedMs: number, floorMs = 0): number {
  const step = STEPS.find(s => elapsedMs < s.untilMs)
  return Math.max(step ? step.intervalMs : LONG_TASK_INTERVAL_MS, floorMs)
}

/**
 * The wait before the next read, from what the reads so far predict (docs/polling.md): sparse far from the
 * predicted end, dense near it, easing off again smoothly when the end does not come. Pure.
 */
export const PREDICTED_POLL = {
  /** The wait at the predicted end. */
  denseMs: 1_000,
  /** The wait at the edges of the window where the end plausibly is. */
  windowEdgeMs: 2_000,
  /** Before the window: this fraction of the distance to it, so the reads close in geometrically. */
  approach: 0.5,
  /** Past the window, or while what holds the end back is overdue: the wait grows by this fraction of the overrun. */
  overdueGrowth: 0.25,
  /** Never longer: bounds how late an end is seen when the prediction is wrong. */
  ceilingMs: 30_000,
  /** With nothing to predict from: this fraction of how long the longest instance (or the task) has run... */
  ease: 0.2,
  /** ... at most this. */
  unpredictedCeilingMs: 15_000
} as const

/** The wait toward, inside or past the window `[endAt - spread, endAt + spread]`, `now` being clock ms. */
export function delayTowardEnd(prediction: EndPrediction, now: number): number {
  const p = PREDICTED_POLL
  const ahead = prediction.endAt - now
  const spread = prediction.spreadMs
  if (ahead > spread) {
    const toWindow = ahead - spread
    return toWindow <= p.windowEdgeMs
      ? Math.max(p.denseMs, toWindow)
      : Math.max(p.windowEdgeMs, p.approach * toWindow)
  }
  const overdue = p.denseMs + p.overdueGrowth * prediction.overdueMs
  if (ahead >= -spread)
    return Math.max(overdue, p.denseMs + ((p.windowEdgeMs - p.denseMs) * Math.abs(ahead)) / spread)
  return Math.max(overdue, p.windowEdgeMs + p.overdueGrowth * (-ahead - spread))
}

/** While no instance has ended: a fraction of how long things have run, so short tasks are seen ending soon. */
function unpredictedDelay(history: PollHistory | undefined, now: number): number {
  const p = PREDICTED_POLL
  if (!history) return p.denseMs
  let ran = history.runningMs.length > 0 ? now - history.at : now - history.startedAt
  let longest = 0
  for (const ms of history.runningMs) longest = Math.max(longest, ms)
  ran += longest
  return Math.min(p.unpredictedCeilingMs, Math.max(p.denseMs, p.ease * ran))
}

/**
 * The wait before the next read at `now` (clock ms), given the history of reads, never below `floorMs` (input
 * `poll-interval`, which wins over the ceiling too).
 */
export function nextPollDelayMs(history: PollHistory | undefined, now: number, floorMs = 0): number {
  const prediction = history && predictEnd(history)
  const wait = prediction ? delayTowardEnd(prediction, now) : unpredictedDelay(history, now)
  return Math.max(floorMs, Math.round(Math.min(PREDICTED_POLL.ceilingMs, wait)))
}
