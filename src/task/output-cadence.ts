/**
 * Whether a status read is followed by a read of new output. Pure. Near a task's predicted end the status is read
 * every second or so (docs/polling.md); reading both output streams each time would triple the requests for
 * nothing while the instances are quiet. Output that flows is read at least every FLOWING_OUTPUT_READ_MS, a quiet
 * task every QUIET_OUTPUT_READ_MS, and a large read (the server's buffer is bounded) is followed at once.
 */
import { BUSY_READ_BYTES } from './output-follower.js'

export const FLOWING_OUTPUT_READ_MS = 5_000
export const QUIET_OUTPUT_READ_MS = 15_000

/** `lastAt`: when new output was last read (clock ms), undefined before the first; `lastBytes`: what it brought. */
export function outputReadDue(now: number, lastAt: number | undefined, lastBytes: number): boolean {
  if (lastAt === undefined || lastBytes >= BUSY_READ_BYTES) return true
  return now - lastAt >= (lastBytes > 0 ? FLOWING_OUTPUT_READ_MS : QUIET_OUTPUT_READ_MS)
}
