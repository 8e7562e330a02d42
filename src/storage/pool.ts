/**
 * Bounded concurrency for transfers: a pool that runs at most `limit` tasks at once, takes new tasks while it
 * drains, and on the first failure (or the caller's abort) stops launching and aborts every running task through
 * the signal it hands them. A byte budget keeps buffered upload bytes under a ceiling.
 */
import { abortReason } from './errors.js'

export type PoolTask = (signal: AbortSignal) => Promise<void>

export class TaskPool {
  private readonly controller = new AbortController()
  private readonly queue: PoolTask[] = []
  private running = 0
  private failure: { error: unknown } | undefined
  private waiters: (() => void)[] = []

  constructor(
    private readonly limit: number,
    parent?: AbortSignal
  ) {
    if (parent) {
      if (parent.aborted) this.fail(abortReason(parent))
      else parent.addEventListener('abort', () => this.fail(abortReason(parent)), { once: true })
    }
  }

  /** Aborted at the first failure or when the caller's signal aborts. */
  get signal(): AbortSignal {
    return this.controller.signal
  }

  add(task: PoolTask): void {
    if (this.failure) return
    this.queue.push(task)
    this.pump()
  }

  /** Resolves once every task added (before or during the wait) is done; rejects with the first failure. */
  async drain(): Promise<void> {
    while (this.running > 0 || (this.queue.length > 0 && !this.failure)) {
      await new Promise<void>(resolve => this.waiters.push(resolve))
    }
    if (this.failure) throw this.failure.error
  }

  private fail(error: unknown): void {
    if (this.failure) return
    this.failure = { error }
    this.queue.length = 0
    this.controller.abort(error)
    this.wake()
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const resolve of waiters) resolve()
  }

  private pump(): void {
    while (!this.failure && this.running < this.limit && this.queue.length > 0) {
      const task = this.queue.shift() as PoolTask
      this.running++
      task(this.controller.signal)
        .catch(error => this.fail(error))
        .finally(() => {
          this.running--
          this.pump()
          this.wake()
        })
    }
  }
}

/** Runs `fn` over `items`, at most `limit` at once; the results keep the items' order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, signal: AbortSignal) => Promise<R>,
  signal?: AbortSignal
): Promise<R[]> {
  const results = new Array<R>(items.length)
  const pool = new TaskPool(limit, signal)
  items.forEach((item, index) =>
    pool.add(async taskSignal => {
      results[index] = await fn(item, taskSignal)
    })
  )
  await pool.drain()
  return results
}

/** At most `capacity` bytes reserved at once; a reservation larger than the capacity takes all of it. */
export class ByteBudget {
  private used = 0
  private readonly waiting: { bytes: number; resolve: () => void }[] = []

  constructor(readonly capacity: number) {}

  async acquire(bytes: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw abortReason(signal)
    const wanted = Math.min(Math.max(bytes, 0), this.capacity)
    if (this.used + wanted > this.capacity || this.waiting.length > 0) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const at = this.waiting.indexOf(entry)
          if (at >= 0) this.waiting.splice(at, 1)
          reject(abortReason(signal as AbortSignal))
        }
        const entry = {
          bytes: wanted,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort)
            resolve()
          }
        }
        this.waiting.push(entry)
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    } else {
      this.used += wanted
    }
    let released = false
    return () => {
      if (released) return
      released = true
      this.used -= wanted
      this.grant()
    }
  }

  private grant(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0].bytes <= this.capacity) {
      const next = this.waiting.shift() as { bytes: number; resolve: () => void }
      this.used += next.bytes
      next.resolve()
    }
  }
}
