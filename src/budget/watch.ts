/**
 * While the task runs, under `max-credits`: its credits read at a modest rate, on the follow loop's clock (called
 * after a status read; it reads only when `intervalMs` has passed since the last read). The figures may lag what
 * the task has spent (docs/qarnot-api.md §9): the cap is a bound that a fast-spending task may pass by what it
 * spends between two reads, and the service may refuse (403) or not know the task yet (404). None of that fails the
 * step; a service that never answers is said once, as the cap then cannot be kept.
 */
import type { QarnotClient } from '../qarnot/client.js'
import { readCredits } from '../qarnot/cost.js'
import { QarnotApiError } from '../qarnot/errors.js'
import { NO_RETRY } from '../qarnot/retry.js'
import type { Clock } from '../task/clock.js'
import { errorMessage } from '../words.js'
import { passedCap } from './cap.js'

/** The least time between two reads of a running task's credits (the SDKs read them on demand only). */
export const CREDITS_READ_MS = 30_000
/** One read of the credits gives up after this: it holds the status loop meanwhile. */
export const CREDITS_READ_TIMEOUT_MS = 5_000

export interface CreditsWatchOptions {
  readonly client: QarnotClient
  readonly uuid: string
  readonly cap: number
  readonly clock: Clock
  /** Default CREDITS_READ_MS; tests shorten it. */
  readonly intervalMs?: number
  readonly warn: (message: string) => void
  readonly debug: (message: string) => void
}

export class CreditsWatch {
  /** The last figure read. */
  spent: number | undefined
  /** Why the task is to be aborted, once its credits passed the cap. */
  over: string | undefined
  private last: number
  private failures = 0
  private warned = false

  constructor(private readonly options: CreditsWatchOptions) {
    this.last = options.clock.now()
  }

  get cap(): number {
    return this.options.cap
  }

  /**
   * Reads the credits if the interval has passed since the last read; sets `over` once they pass the cap. Not once
   * the task is bringing its results back (`state`): its computing is done, and an abort would only lose them.
   */
  async check(state?: string, signal?: AbortSignal): Promise<void> {
    const { clock, intervalMs = CREDITS_READ_MS } = this.options
    if (state === 'UploadingResults' || state === 'DownloadingResults') return
    if (this.over !== undefined || clock.now() - this.last < intervalMs) return
    this.last = clock.now()
    await this.read(signal)
  }

  /** One read now, ended early by `signal` (the step's stop, its timeout); never throws. */
  async read(signal?: AbortSignal): Promise<number | undefined> {
    const { client, uuid, cap } = this.options
    try {
      const timeout = AbortSignal.timeout(CREDITS_READ_TIMEOUT_MS)
      const quick = client.with({
        timeoutMs: CREDITS_READ_TIMEOUT_MS,
        retry: NO_RETRY,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout
      })
      const figure = readCredits(await quick.getTaskCredits(uuid))
      if (figure === undefined) return this.failed('the answer has no readable number of credits')
      this.failures = 0
      // A figure never goes down: an older answer (a lagging replica) does not undo a newer one.
      this.spent = Math.max(figure, this.spent ?? 0)
      this.over ??= passedCap(cap, this.spent)
      return this.spent
    } catch (error) {
      const lagging = error instanceof QarnotApiError && error.status === 404
      return this.failed(lagging ? 'not known yet (404)' : errorMessage(error))
    }
  }

  private failed(why: string): undefined {
    this.failures++
    this.options.debug(`The credits of task ${this.options.uuid} could not be read: ${why}.`)
    if (this.failures >= 3 && !this.warned) {
      this.warned = true
      this.options.warn(
        `The credits of task ${this.options.uuid} could not be read ${this.failures} times in a row (${why}): max-credits cannot be kept until they can.`
      )
    }
    return undefined
  }
}
