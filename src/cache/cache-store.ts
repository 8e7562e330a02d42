/**
 * The cache's reads and writes in storage (docs/cache.md, "Storage"). A look-up is one listing per 1,000 entries
 * and one read per hit; every failure of a read is a miss, never a reason to fail the step. A write puts the
 * content-addressed objects first and the entry last, so an entry never points at what is not there yet; two runs
 * writing the same entry each write a whole valid one (S3 replaces an object whole).
 */
import { Buffer } from 'node:buffer'
import { mapLimit } from '../storage/pool.js'
import { listAll, readObjectText, type ObjectStore } from '../storage/store.js'
import { errorMessage } from '../words.js'
import {
  blobKey,
  entriesPrefix,
  entryKey,
  idInEntryKey,
  parseEntry,
  sha256Of,
  type CacheEntry,
  type StoredBytes
} from './entry.js'
import { instanceCacheKey } from './key.js'

export interface CacheLocation {
  readonly store: ObjectStore
  /** The repository's resource bucket: the cache is the repository's own (storage/layout.ts). */
  readonly bucket: string
  readonly stepDigest: string
}

/** Requests in flight at once. */
export const CACHE_CONCURRENCY = 64

export interface LookUp {
  readonly hits: Map<number, CacheEntry>
  /** When each hit's entry was last written (prune goes by it: a hit rewrites an old one). */
  readonly written: Map<number, Date>
  /** Entries found that could not be read or were not valid: computed again, and said why. */
  readonly unreadable: number
  readonly requests: number
}

/** The entries of `wanted` ids that the cache holds and that are valid for their key. */
export async function lookUpEntries(
  location: CacheLocation,
  wanted: ReadonlySet<number>,
  signal: AbortSignal
): Promise<LookUp> {
  const { store, bucket, stepDigest } = location
  const before = store.counters.requests
  const present: number[] = []
  const written = new Map<number, Date>()
  for await (const page of listAll(store, bucket, entriesPrefix(stepDigest), signal)) {
    for (const object of page) {
      const id = idInEntryKey(stepDigest, object.key)
      if (id === undefined || !wanted.has(id)) continue
      present.push(id)
      written.set(id, object.lastModified)
    }
  }
  const hits = new Map<number, CacheEntry>()
  let unreadable = 0
  await mapLimit(
    present,
    CACHE_CONCURRENCY,
    async (id, s) => {
      try {
        const text = await readObjectText(store, bucket, entryKey(stepDigest, id), s)
        const entry = parseEntry(text, instanceCacheKey(stepDigest, id), id)
        if (entry) hits.set(id, entry)
        else unreadable++
      } catch (error) {
        if (signal.aborted) throw error
        unreadable++
      }
    },
    signal
  )
  return { hits, written, unreadable, requests: store.counters.requests - before }
}

/** Bytes the cache holds, checked against their hash: a mismatch throws (the caller counts the hit as a miss). */
export async function readStoredBytes(
  location: CacheLocation,
  stored: StoredBytes,
  signal: AbortSignal
): Promise<Buffer> {
  const bytes =
    stored.inline !== undefined
      ? Buffer.from(stored.inline, 'base64')
      : await readObjectBytes(location, blobKey(location.stepDigest, stored.sha256), stored.size, signal)
  if (bytes.length !== stored.size || sha256Of(bytes) !== stored.sha256)
    throw new Error(`cached bytes ${stored.sha256.slice(0, 12)} do not match their hash`)
  return bytes
}

async function readObjectBytes(
  { store, bucket }: CacheLocation,
  key: string,
  size: number,
  signal: AbortSignal
): Promise<Buffer> {
  const { body } = await store.getObjectStream(bucket, key, signal)
  const chunks: Buffer[] = []
  let read = 0
  for await (const chunk of body) {
    const piece = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array)
    read += piece.length
    // A lying store must not make the runner hold more than the entry said.
    if (read > size) {
      body.destroy()
      throw new Error(`cached object ${key} is larger than its entry says`)
    }
    chunks.push(piece)
  }
  return Buffer.concat(chunks)
}

/** Puts a content-addressed object unless the step's folder has it already. */
export async function putBlob(
  location: CacheLocation,
  sha256: string,
  source: { bytes: Buffer } | { path: string; size: number },
  signal: AbortSignal
): Promise<void> {
  const { store, bucket, stepDigest } = location
  const key = blobKey(stepDigest, sha256)
  if (await store.headObject(bucket, key, signal)) return
  if ('bytes' in source) await store.putObject(bucket, key, source.bytes, signal)
  else await store.uploadFile(bucket, key, { path: source.path, size: source.size, sha256 }, signal)
}

/** Writes an entry (after its objects). */
export async function putEntry(
  location: CacheLocation,
  entry: CacheEntry,
  signal: AbortSignal
): Promise<void> {
  await location.store.putObject(
    location.bucket,
    entryKey(location.stepDigest, entry.id),
    JSON.stringify(entry),
    signal
  )
}

/** One sentence on a failed cache operation, for the log: the cache never fails a step. */
export function cacheTrouble(what: string, error: unknown): string {
  return `The cache could not ${what} (${errorMessage(error)}); the step goes on without it.`
}
