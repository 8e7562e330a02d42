/**
 * The handful of S3 operations the storage code needs, each taking the caller's AbortSignal. The implementation
 * over the AWS SDK (s3.ts) is loaded lazily; the rest of src/storage depends only on this interface, so it adds
 * nothing to a run without files and tests can wrap a real store.
 */
import type { Readable } from 'node:stream'

export interface ObjectInfo {
  readonly key: string
  readonly size: number
  readonly lastModified: Date
}

export interface ListPage {
  readonly objects: ObjectInfo[]
  /** Where the next page starts, when there is one. */
  readonly next?: { continuationToken?: string; startAfter?: string }
}

export interface BucketInfo {
  readonly name: string
  readonly created: Date
}

/** What went through one store: requests (every attempt) and payload bytes each way. */
export interface StoreCounters {
  requests: number
  bytesSent: number
  bytesReceived: number
}

export interface UploadSource {
  readonly path: string
  readonly size: number
  /** The sha256 the bytes must have: the upload fails (and removes what it wrote) if the file changed. */
  readonly sha256?: string
}

export interface ObjectStore {
  readonly endpoint: string
  readonly counters: StoreCounters
  listBuckets(signal: AbortSignal): Promise<BucketInfo[]>
  /** `missing` on 404, `forbidden` on 403 (a bucket of another account). */
  headBucket(bucket: string, signal: AbortSignal): Promise<'exists' | 'missing' | 'forbidden'>
  createBucket(bucket: string, signal: AbortSignal): Promise<void>
  deleteBucket(bucket: string, signal: AbortSignal): Promise<void>
  /** Undefined when there is no such object (or bucket). */
  headObject(bucket: string, key: string, signal: AbortSignal): Promise<ObjectInfo | undefined>
  putObject(bucket: string, key: string, body: Buffer | string, signal: AbortSignal): Promise<void>
  /** A file from disk: one PUT when small, parallel multipart parts when large; memory bounded by the part size. */
  uploadFile(bucket: string, key: string, source: UploadSource, signal: AbortSignal): Promise<void>
  /** The most bytes uploadFile holds in memory for a file of this size. */
  uploadMemory(size: number): number
  copyObject(bucket: string, sourceKey: string, key: string, signal: AbortSignal): Promise<void>
  listPage(
    bucket: string,
    prefix: string,
    from: { continuationToken?: string; startAfter?: string },
    signal: AbortSignal
  ): Promise<ListPage>
  /** The object's bytes as a stream; `range` is inclusive, as HTTP's. */
  getObjectStream(
    bucket: string,
    key: string,
    signal: AbortSignal,
    range?: { start: number; end: number }
  ): Promise<{ body: Readable; size: number }>
  /** At most 1,000 keys; returns the keys storage refused to delete. */
  deleteObjects(bucket: string, keys: string[], signal: AbortSignal): Promise<string[]>
  /** Multipart uploads begun and never completed or aborted (empty when storage cannot list them). */
  listMultipartUploads(
    bucket: string,
    signal: AbortSignal
  ): Promise<{ key: string; uploadId: string; initiated: Date }[]>
  abortMultipartUpload(bucket: string, key: string, uploadId: string, signal: AbortSignal): Promise<void>
}

/** Every object under a prefix, page by page (one request per 1,000 objects). */
export async function* listAll(
  store: ObjectStore,
  bucket: string,
  prefix: string,
  signal: AbortSignal,
  startAfter?: string
): AsyncGenerator<ObjectInfo[]> {
  let from: { continuationToken?: string; startAfter?: string } = startAfter ? { startAfter } : {}
  for (;;) {
    const page = await store.listPage(bucket, prefix, from, signal)
    yield page.objects
    if (!page.next) return
    from = page.next
  }
}

export async function listAllObjects(
  store: ObjectStore,
  bucket: string,
  prefix: string,
  signal: AbortSignal
): Promise<ObjectInfo[]> {
  const all: ObjectInfo[] = []
  for await (const page of listAll(store, bucket, prefix, signal)) all.push(...page)
  return all
}

/** Deletes keys 1,000 per request; throws if storage refused any. */
export async function deleteKeys(
  store: ObjectStore,
  bucket: string,
  keys: readonly string[],
  signal: AbortSignal
): Promise<number> {
  for (let at = 0; at < keys.length; at += 1000) {
    const refused = await store.deleteObjects(bucket, keys.slice(at, at + 1000), signal)
    if (refused.length > 0)
      throw new Error(`storage refused to delete ${refused.length} objects, e.g. ${refused[0]}`)
  }
  return keys.length
}

/** A small object's bytes as text (manifests). */
export async function readObjectText(
  store: ObjectStore,
  bucket: string,
  key: string,
  signal: AbortSignal
): Promise<string> {
  const { body } = await store.getObjectStream(bucket, key, signal)
  const chunks: Buffer[] = []
  for await (const chunk of body)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array))
  return Buffer.concat(chunks).toString('utf8')
}
