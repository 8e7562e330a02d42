/** Time as the parts that wait see it: a parameter, so that tests and benchmarks can drive it. */
import { sleepUnlessAborted } from '../qarnot/client.js'

export interface Clock {
  now(): number
  /** Resolves after `ms`, or early when `signal` aborts. Never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = { now: () => Date.now(), sleep: sleepUnlessAborted }
