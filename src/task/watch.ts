/**
 * Following a task until it reaches a final state, its time runs out, or the caller stops it.
 * Time and the API come in as parameters, so tests drive the clock.
 */
import type { QarnotClient } from '../qarnot/client.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import { pollIntervalMs } from './poll-schedule.js'
import { isFinalState } from './states.js'

export interface Clock {
  now(): number
  /** Resolves after `ms`, or early when `signal` aborts. Never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise(resolve => {
      if (signal?.aborted) return resolve()
      const timer = setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      signal?.addEventListener('abort', done, { once: true })
    })
}

export type WatchEnding = 'final' | 'timeout' | 'stopped'

export interface WatchResult {
  readonly task: TaskOutputWire
  readonly ending: WatchEnding
}

export interface WatchOptions {
  readonly client: Pick<QarnotClient, 'getTask'>
  readonly uuid: string
  readonly clock: Clock
  /** Absolute time (clock ms) after which watching ends with `timeout`, after one last read. */
  readonly deadline?: number
  /** Ends watching with `stopped` (a signal arrived). */
  readonly stop?: AbortSignal
  readonly pollFloorMs?: number
  /** Called after every status read, before the verdict on finality. */
  readonly onTask?: (task: TaskOutputWire) => void | Promise<void>
  /** True when output is arriving fast: the next read comes sooner, before the server's buffer rotates. */
  readonly busy?: () => boolean
}

/** The wait while output is arriving fast. */
export const BUSY_POLL_MS = 250

export async function watchTask(options: WatchOptions): Promise<WatchResult> {
  const { client, uuid, clock, deadline, stop } = options
  const started = clock.now()
  for (;;) {
    const task = await client.getTask(uuid)
    await options.onTask?.(task)
    if (isFinalState(task.state)) return { task, ending: 'final' }
    if (stop?.aborted) return { task, ending: 'stopped' }
    const now = clock.now()
    if (deadline !== undefined && now >= deadline) return { task, ending: 'timeout' }
    let wait = options.busy?.() ? BUSY_POLL_MS : pollIntervalMs(now - started, options.pollFloorMs)
    // Wake for one last read exactly at the deadline.
    if (deadline !== undefined) wait = Math.min(wait, Math.max(0, deadline - now))
    await clock.sleep(wait, stop)
    if (stop?.aborted) {
      // One fresh read so the caller acts on the task's current state.
      const latest = await client.getTask(uuid)
      await options.onTask?.(latest)
      return { task: latest, ending: isFinalState(latest.state) ? 'final' : 'stopped' }
    }
  }
}
