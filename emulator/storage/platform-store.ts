/**
 * What the emulated platform needs of storage (instances' downloads of resources, uploads of results, the buckets a
 * create needs), and the few helpers over it. The emulator's own: the action's store (src/storage) is never used,
 * so that a fault in the action's storage code cannot hide in the emulator too. Any store with these methods will
 * do (tests pass the action's, to check it against the platform's layout); sdk-store.ts is the emulator's, loaded
 * only when storage starts.
 */
import type { Readable } from 'node:stream'

export interface PlatformObject {
  readonly key: string
  readonly size: number
  readonly lastModified: Date
}

export interface PlatformStore {
  /** `missing` on 404, `forbidden` on 403. */
  headBucket(bucket: string, signal: AbortSignal): Promise<'exists' | 'missing' | 'forbidden'>
  createBucket(bucket: string, signal: AbortSignal): Promise<void>
  listPage(
    bucket: string,
    prefix: string,
    from: { continuationToken?: string; startAfter?: string },
    signal: AbortSignal
  ): Promise<{ objects: PlatformObject[]; next?: { continuationToken?: string } }>
  getObjectStream(bucket: string, key: string, signal: AbortSignal): Promise<{ body: Readable; size: number }>
  uploadFile(
    bucket: string,
    key: string,
    source: { path: string; size: number },
    signal: AbortSignal
  ): Promise<void>
}

/** Every object under a prefix, page after page. */
export async function listEveryObject(
  store: PlatformStore,
  bucket: string,
  prefix: string,
  signal: AbortSignal
): Promise<PlatformObject[]> {
  const all: PlatformObject[] = []
  let from: { continuationToken?: string } = {}
  for (;;) {
    const page = await store.listPage(bucket, prefix, from, signal)
    all.push(...page.objects)
    if (!page.next) return all
    from = page.next
  }
}

/** Makes a bucket unless it exists; one made meanwhile by someone else's request is as good. */
export async function ensureBucket(store: PlatformStore, bucket: string, signal: AbortSignal): Promise<void> {
  if ((await store.headBucket(bucket, signal)) === 'exists') return
  try {
    await store.createBucket(bucket, signal)
  } catch (error) {
    if ((await store.headBucket(bucket, signal).catch(() => 'missing')) !== 'exists') throw error
  }
}

/** Runs `work` over `items`, `limit` at a time, stopping at the first failure; results in the items' order. */
export async function eachLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, signal: AbortSignal) => Promise<R>,
  signal: AbortSignal
): Promise<R[]> {
  const results = new Array<R>(items.length)
  const stop = new AbortController()
  const onAbort = (): void => stop.abort(signal.reason)
  signal.addEventListener('abort', onAbort, { once: true })
  if (signal.aborted) onAbort()
  let next = 0
  const runner = async (): Promise<void> => {
    while (next < items.length) {
      stop.signal.throwIfAborted()
      const index = next++
      results[index] = await work(items[index], stop.signal)
    }
  }
  let failure: { error: unknown } | undefined
  try {
    await Promise.all(
      Array.from({ length: Math.min(limit, items.length) }, () =>
        runner().catch((error: unknown) => {
          failure ??= { error }
          stop.abort(error)
        })
      )
    )
    if (failure) throw failure.error
    signal.throwIfAborted()
    return results
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
