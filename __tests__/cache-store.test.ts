/** The cache in storage: look-ups by one listing, reads checked by hash, writes that concurrent runs cannot mix. */
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import type { EmulatedStorage } from '../emulator/storage/emulated-storage.js'
import {
  lookUpEntries,
  putBlob,
  putEntry,
  readStoredBytes,
  type CacheLocation
} from '../src/cache/cache-store.js'
import {
  blobKey,
  entryKey,
  ENTRY_FORMAT,
  sha256Of,
  storedBytes,
  type CacheEntry
} from '../src/cache/entry.js'
import { instanceCacheKey } from '../src/cache/key.js'
import { clientStore, never, removeTempDirs, startStorage } from './helpers/storage.js'

let storage: EmulatedStorage
let location: CacheLocation
const digest = '9'.repeat(64)
beforeEach(async () => {
  storage = await startStorage()
  const store = clientStore(storage)
  await store.createBucket('qa-in-cache-test', never)
  location = { store, bucket: 'qa-in-cache-test', stepDigest: digest }
})
afterEach(async () => {
  await storage.stop()
})
afterAll(removeTempDirs)

function entryFor(id: number, stdout: Buffer, task = 'task-1'): CacheEntry {
  return {
    format: ENTRY_FORMAT,
    key: instanceCacheKey(digest, id),
    id,
    task,
    createdAt: new Date().toISOString(),
    stdout: storedBytes(stdout),
    stderr: storedBytes(Buffer.alloc(0)),
    results: []
  }
}

describe('the cache in storage', () => {
  it('finds exactly the entries asked for, in one listing per 1,000 and one read per hit', async () => {
    for (let id = 0; id < 1200; id += 2) await putEntry(location, entryFor(id, Buffer.from(`${id}\n`)), never)
    const before = location.store.counters.requests
    const wanted = new Set(Array.from({ length: 100 }, (_, i) => i))
    const found = await lookUpEntries(location, wanted, never)
    expect([...found.hits.keys()].sort((a, b) => a - b)).toEqual([...wanted].filter(id => id % 2 === 0))
    expect(found.unreadable).toBe(0)
    // 600 entries: one listing page; then 50 reads.
    expect(location.store.counters.requests - before).toBe(1 + 50)
  })

  it('counts an entry that is not valid for its key as a miss, never a hit', async () => {
    await putEntry(location, entryFor(1, Buffer.from('one')), never)
    await location.store.putObject(
      location.bucket,
      entryKey(digest, 2),
      JSON.stringify(entryFor(3, Buffer.from('x'))),
      never
    )
    await location.store.putObject(location.bucket, entryKey(digest, 4), 'not json', never)
    const found = await lookUpEntries(location, new Set([1, 2, 4]), never)
    expect([...found.hits.keys()]).toEqual([1])
    expect(found.unreadable).toBe(2)
  })

  it('reads large outputs back by hash, and refuses bytes that do not match', async () => {
    const big = Buffer.alloc(100_000, 7)
    const stored = storedBytes(big)
    await putBlob(location, stored.sha256, { bytes: big }, never)
    expect(await readStoredBytes(location, stored, never)).toEqual(big)
    await location.store.putObject(
      location.bucket,
      blobKey(digest, stored.sha256),
      Buffer.alloc(100_000, 8),
      never
    )
    await expect(readStoredBytes(location, stored, never)).rejects.toThrow(/do not match/)
    await location.store.putObject(
      location.bucket,
      blobKey(digest, stored.sha256),
      Buffer.alloc(200_000, 7),
      never
    )
    await expect(readStoredBytes(location, stored, never)).rejects.toThrow(/larger than its entry/)
  })

  it('two runs writing the same entry at once leave one whole, valid entry', async () => {
    const a = entryFor(5, Buffer.alloc(50_000, 1), 'task-a')
    const b = entryFor(5, Buffer.alloc(60_000, 2), 'task-b')
    await Promise.all(
      [a, b].map(async entry => {
        const bytes = Buffer.alloc(entry.stdout.size, entry.task === 'task-a' ? 1 : 2)
        await putBlob(location, entry.stdout.sha256, { bytes }, never)
        await putEntry(location, entry, never)
      })
    )
    const found = await lookUpEntries(location, new Set([5]), never)
    const hit = found.hits.get(5)
    expect(hit && ['task-a', 'task-b'].includes(hit.task)).toBe(true)
    const bytes = await readStoredBytes(location, hit!.stdout, never)
    expect(sha256Of(bytes)).toBe(hit!.stdout.sha256)
  })
})
