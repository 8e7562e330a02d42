/**
 * Reaching Qarnot's storage: the endpoint from `GET /settings`, the lazy load of the S3 client, a check that
 * storage answers and takes the credentials, and the account's own buckets (docs/storage.md, "Client").
 */
import { StorageUnavailableError, StoreError, isAbort } from './errors.js'
import type { S3ObjectStore, S3StoreOptions } from './s3.js'
import type { ObjectStore } from './store.js'

/**
 * The storage URL from `GET /settings` (`{"storage": ...}`); `override` (e.g. QARNOT_STORAGE_URL) wins. A cluster
 * without storage answers `null`: that is an error before any task exists.
 */
export function storageEndpoint(settingsStorage: unknown, override?: string): string {
  const candidate = override?.trim() || (typeof settingsStorage === 'string' ? settingsStorage.trim() : '')
  if (!candidate) {
    throw new StorageUnavailableError(
      'no-storage',
      'this Qarnot cluster has no storage (GET /settings gives no storage URL), so files cannot be sent or brought back'
    )
  }
  let url: URL
  try {
    url = new URL(candidate)
  } catch {
    throw new StorageUnavailableError('no-storage', `the cluster's storage URL "${candidate}" is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new StorageUnavailableError('no-storage', `the cluster's storage URL "${candidate}" is not http(s)`)
  }
  return candidate.replace(/\/+$/, '')
}

/** Loads the AWS SDK (a chunk of its own) and makes a store with Qarnot's credentials. No request is sent. */
export async function createStore(options: S3StoreOptions): Promise<S3ObjectStore> {
  const { createObjectStore } = await import('./s3.js')
  return createObjectStore(options)
}

/**
 * One cheap request (list the account's buckets) that tells apart storage down, storage refusing the account's
 * credentials, and storage ready. Bounded by `timeoutMs` on top of the caller's signal.
 */
export async function checkStorage(
  store: ObjectStore,
  signal: AbortSignal,
  timeoutMs = 20_000
): Promise<void> {
  const bounded = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
  try {
    await store.listBuckets(bounded)
  } catch (error) {
    if (signal.aborted) throw error
    if (error instanceof StoreError && (error.status === 403 || error.status === 401)) {
      throw new StorageUnavailableError(
        'credentials',
        `Qarnot storage at ${store.endpoint} refused the account's credentials (${error.code}); the token may ` +
          'belong to another cluster, or storage is not enabled for this account',
        { cause: error }
      )
    }
    const why = isAbort(error) ? `no answer within ${timeoutMs / 1000} s` : (error as Error).message
    throw new StorageUnavailableError(
      'unreachable',
      `Qarnot storage at ${store.endpoint} cannot be reached (${why}); retry later, or check the cluster's storage`,
      { cause: error }
    )
  }
}

/** Makes sure the bucket exists and is the account's own (creating it when missing). */
export async function ensureBucket(store: ObjectStore, bucket: string, signal: AbortSignal): Promise<void> {
  const state = await store.headBucket(bucket, signal)
  if (state === 'exists') return
  if (state === 'missing') {
    try {
      await store.createBucket(bucket, signal)
      return
    } catch (error) {
      const raced = error instanceof StoreError && /^BucketAlready/.test(error.code)
      if (!raced) throw error
      if ((await store.headBucket(bucket, signal)) === 'exists') return
    }
  }
  throw new StorageUnavailableError(
    'bucket-not-ours',
    `the storage bucket ${bucket} belongs to someone else; this should not happen with the names the action makes`
  )
}
