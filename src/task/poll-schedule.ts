/**
 * How long to wait between status reads. Pure. Short tasks are seen ending about a second late; long ones settle
 * at one read every 15 s, so that hours of waiting average one read every 10-15 s (the SDKs poll every 10 s).
 */

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
