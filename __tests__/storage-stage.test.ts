import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { EmulatedStorage } from '../emulator/storage/emulated-storage.js'
import { materializeResources } from '../emulator/storage/instance.js'
import { StoreError } from '../src/storage/errors.js'
import { PRUNE_MARKER_KEY, resourceBucketName } from '../src/storage/layout.js'
import { pruneResources } from '../src/storage/prune.js'
import { resolveResources } from '../src/storage/resource-patterns.js'
import { stageResources, type StageResult } from '../src/storage/stage.js'
import type { ObjectStore } from '../src/storage/store.js'
import {
  EMAIL,
  keys,
  never,
  removeTempDirs,
  startStorage,
  tempDir,
  workspace,
  writeBigFile,
  clientStore,
  internalStore
} from './helpers/storage.js'

const MiB = 1024 * 1024
const BUCKET = resourceBucketName({ repository: 'octo/sim', account: EMAIL })

let storage: EmulatedStorage
beforeEach(async () => {
  storage = await startStorage()
})
afterEach(async () => {
  await storage.stop()
})
afterAll(removeTempDirs)

/** 20 small files (two with the same bytes), a CSV, and one file large enough for multipart with 5 MiB parts. */
async function project(): Promise<string> {
  const files: Record<string, string> = { 'params.yaml': 'shards: 16\n', 'data/a.csv': 'x,y\n1,2\n' }
  for (let i = 0; i < 18; i++) files[`src/m${i}.py`] = `# module ${i}\nprint(${i})\n`
  files['src/copy-of-m0.py'] = files['src/m0.py']
  const root = workspace(files)
  await writeBigFile(join(root, 'data/big.bin'), 12 * MiB)
  return root
}

async function stage(root: string, store: ObjectStore, signal = never): Promise<StageResult> {
  const files = await resolveResources(root, 'src\ndata\nparams.yaml')
  return stageResources({ store, bucket: BUCKET, workspace: root, files, signal })
}

/** A file's bytes as a short string jest compares quickly: size and sha256. */
const digest = (path: string) => {
  const bytes = readFileSync(path)
  return `${bytes.length}:${createHash('sha256').update(bytes).digest('hex')}`
}

/** What an instance finds in $TASK_PATH for this staging: path -> digest. */
async function seenByInstance(result: StageResult): Promise<Record<string, string>> {
  const dir = tempDir('task-path')
  const spec = { advancedResourceBuckets: result.advancedResourceBuckets }
  const { snapshot } = await materializeResources(internalStore(storage), spec, dir)
  return Object.fromEntries([...snapshot.keys()].sort().map(path => [path, digest(join(dir, path))]))
}

function onDisk(root: string, paths: string[]): Record<string, string> {
  return Object.fromEntries([...paths].sort().map(path => [path, digest(join(root, path))]))
}

describe('staging resources', () => {
  it('fresh: sends every content once, in parts for the large file; the instance sees exactly the files', async () => {
    const root = await project()
    const store = clientStore(storage, { partSize: 5 * MiB })
    const result = await stage(root, store)
    expect(result.stats).toMatchObject({ files: 22, uploads: 21, copies: 1, reused: false })
    expect(result.stats.bytesSent).toBeGreaterThanOrEqual(result.stats.bytes - 30)
    expect(result.stats.bytesSent).toBeLessThan(result.stats.bytes + 10_000)
    expect(storage.requestCount('UploadPart')).toBe(3)
    const seen = await seenByInstance(result)
    expect(seen).toEqual(onDisk(root, Object.keys(seen)))
    expect(Object.keys(seen)).toHaveLength(22)
    expect(result.advancedResourceBuckets).toEqual([
      {
        bucketName: BUCKET,
        filtering: { prefixFiltering: { prefix: `trees/${result.tree}/` } },
        resourcesTransformation: { stripPrefix: { prefix: `trees/${result.tree}/` } }
      }
    ])
  })

  it('unchanged: two requests, no file body', async () => {
    const root = await project()
    const store = clientStore(storage, { partSize: 5 * MiB })
    const first = await stage(root, store)
    storage.resetCounters()
    const again = await stage(root, store)
    expect(again.tree).toBe(first.tree)
    expect(again.stats).toMatchObject({ reused: true, uploads: 0, copies: 0, requests: 2 })
    expect(again.stats.bytesSent).toBeLessThan(200)
    expect(Object.fromEntries(storage.requests)).toEqual({ HeadObject: 1, PutObject: 1 })
    expect(storage.bytesReceived).toBe(again.stats.bytesSent)
  })

  it('one file changed: sends about that file, copies the rest server-side', async () => {
    const root = await project()
    const store = clientStore(storage, { partSize: 5 * MiB })
    await stage(root, store)
    writeFileSync(join(root, 'src/m7.py'), '# changed\n'.repeat(100))
    storage.resetCounters()
    const changed = await stage(root, store)
    expect(changed.stats).toMatchObject({ reused: false, uploads: 1, copies: 21 })
    expect(changed.stats.bytesSent).toBeLessThan(1000 + 5000)
    expect(storage.requestCount('CopyObject')).toBe(21)
    expect(storage.requestCount('UploadPart')).toBe(0)
    const seen = await seenByInstance(changed)
    expect(seen['src/m7.py']).toBe(digest(join(root, 'src/m7.py')))
    expect(seen).toEqual(onDisk(root, Object.keys(seen)))
  })

  it('keeps any path (spaces, +, %, commas, unicode) and copies such files server-side', async () => {
    const odd = ['a b/c+d.txt', 'e%20f,g;h=i.txt', 'été/日本.txt', "q'uote (1).txt", 'x&y#z?.txt']
    const root = workspace(Object.fromEntries(odd.map((path, i) => [path, `content ${i}`])))
    const files = await resolveResources(root, '.')
    const store = clientStore(storage)
    await stageResources({ store, bucket: BUCKET, workspace: root, files, signal: never })
    writeFileSync(join(root, 'changed.txt'), 'new')
    const again = await stageResources({
      store,
      bucket: BUCKET,
      workspace: root,
      files: await resolveResources(root, '.'),
      signal: never
    })
    expect(again.stats).toMatchObject({ uploads: 1, copies: odd.length })
    const seen = await seenByInstance(again)
    expect(Object.keys(seen).sort()).toEqual([...odd, 'changed.txt'].sort())
    expect(seen).toEqual(onDisk(root, Object.keys(seen)))
  })

  it('a file deleted from the workspace is not in the new tree; the old tree is untouched', async () => {
    const root = await project()
    const store = clientStore(storage, { partSize: 5 * MiB })
    const before = await stage(root, store)
    rmSync(join(root, 'src/m3.py'))
    const after = await stage(root, store)
    expect(after.tree).not.toBe(before.tree)
    const seen = await seenByInstance(after)
    expect(Object.keys(seen)).not.toContain('src/m3.py')
    expect(Object.keys(seen)).toHaveLength(21)
    expect(Object.keys(await seenByInstance(before))).toContain('src/m3.py')
  })

  it('two concurrent runs with different trees each see exactly their own files', async () => {
    const one = await project()
    const two = workspace({
      'params.yaml': 'shards: 4\n',
      'src/m0.py': '# module 0\nprint(0)\n',
      'src/only-two.py': '2'
    })
    const [a, b] = await Promise.all([
      stage(one, clientStore(storage, { partSize: 5 * MiB })),
      stageResources({
        store: clientStore(storage),
        bucket: BUCKET,
        workspace: two,
        files: await resolveResources(two, 'src\nparams.yaml'),
        signal: never
      })
    ])
    expect(a.tree).not.toBe(b.tree)
    const seenA = await seenByInstance(a)
    const seenB = await seenByInstance(b)
    expect(seenA).toEqual(onDisk(one, Object.keys(seenA)))
    expect(Object.keys(seenA)).toHaveLength(22)
    expect(seenB).toEqual(onDisk(two, ['params.yaml', 'src/m0.py', 'src/only-two.py']))
  })

  it('identical trees staged concurrently write the same bytes and both runs get a complete tree', async () => {
    const root = await project()
    const results = await Promise.all(
      [1, 2, 3].map(() => stage(root, clientStore(storage, { partSize: 5 * MiB })))
    )
    expect(new Set(results.map(r => r.tree)).size).toBe(1)
    const seen = await seenByInstance(results[0])
    expect(seen).toEqual(onDisk(root, Object.keys(seen)))
    expect(Object.keys(seen)).toHaveLength(22)
    expect(await keys(internalStore(storage), BUCKET, 'complete/')).toEqual([`complete/${results[0].tree}`])
  })

  it('a copy whose source vanished (pruned elsewhere) becomes an upload of the local file', async () => {
    const root = await project()
    const store = clientStore(storage, { partSize: 5 * MiB })
    await stage(root, store)
    writeFileSync(join(root, 'params.yaml'), 'shards: 32\n')
    storage.faults.push({
      operation: 'CopyObject',
      action: 'error',
      status: 404,
      code: 'NoSuchKey',
      times: 3
    })
    const result = await stage(root, store)
    expect(result.stats).toMatchObject({ uploads: 4, copies: 18 })
    const seen = await seenByInstance(result)
    expect(seen).toEqual(onDisk(root, Object.keys(seen)))
  })

  it('refuses to store bytes under a hash they do not have (a file changed while it was sent)', async () => {
    const root = await project()
    const real = clientStore(storage, { partSize: 5 * MiB })
    const tampering: ObjectStore = Object.assign(Object.create(real) as ObjectStore, {
      uploadFile: (
        bucket: string,
        key: string,
        source: Parameters<ObjectStore['uploadFile']>[2],
        s: AbortSignal
      ) => {
        if (key.endsWith('big.bin') || key.endsWith('m5.py')) {
          const bytes = readFileSync(source.path)
          bytes[0] ^= 0xff
          writeFileSync(source.path, bytes)
        }
        return real.uploadFile(bucket, key, source, s)
      }
    })
    const error = await stage(root, tampering).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StoreError)
    expect((error as StoreError).code).toBe('FileChanged')
    expect(await keys(internalStore(storage), BUCKET, 'complete/')).toEqual([])
  })
})

describe('cancelling a staging', () => {
  it('stops every transfer at once and leaves only what the next prune removes', async () => {
    const root = await project()
    const store = clientStore(storage, { partSize: 5 * MiB })
    storage.faults.push({ operation: 'UploadPart', action: 'delay', delayMs: 3000 })
    storage.faults.push({
      operation: 'PutObject',
      action: 'delay',
      delayMs: 3000,
      match: r => r.key?.startsWith('trees/') ?? false
    })
    const controller = new AbortController()
    const staging = stage(root, store, controller.signal)
    const outcome = staging.then(
      () => 'finished',
      (error: Error) => error.name
    )
    while (storage.requestCount('UploadPart') < 2 || storage.requestCount('PutObject') < 5) {
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    const abortedAt = Date.now()
    const requestsAtAbort = store.counters.requests
    controller.abort()
    expect(await outcome).toBe('AbortError')
    // At once: the staging gives up within a few event-loop turns (the bound is loose for loaded machines).
    expect(Date.now() - abortedAt).toBeLessThan(500)
    await new Promise(resolve => setTimeout(resolve, 100))
    // No transfer starts after the abort (only the best-effort AbortMultipartUpload of the cut upload), and every
    // one in flight was cut: its connection closed unanswered.
    const inFlight = () =>
      storage.log.filter(
        r => r.operation === 'UploadPart' || (r.operation === 'PutObject' && r.key?.startsWith('trees/'))
      )
    const cleanups = () => storage.requestCount('AbortMultipartUpload')
    const settled = () =>
      inFlight().every(r => r.closedEarly) && store.counters.requests - requestsAtAbort === cleanups()
    for (let waited = 0; waited < 2000 && !settled(); waited += 20) await new Promise(r => setTimeout(r, 20))
    expect(store.counters.requests - requestsAtAbort).toBe(cleanups())
    expect(cleanups()).toBeLessThanOrEqual(1)
    expect(inFlight().length).toBeGreaterThan(0)
    expect(inFlight().every(r => r.closedEarly && r.status === undefined)).toBe(true)

    const left = await keys(internalStore(storage), BUCKET)
    expect(left.some(k => k.startsWith('complete/'))).toBe(false)
    const report = await pruneResources({
      store: internalStore(storage),
      bucket: BUCKET,
      signal: never,
      force: true,
      settleMs: 0,
      now: () => new Date(Date.now() + 25 * 3600_000)
    })
    expect(report.treesRemoved).toBe(1)
    expect(await keys(internalStore(storage), BUCKET)).toEqual([PRUNE_MARKER_KEY])
  })

  it('a staging already aborted sends nothing', async () => {
    const root = await project()
    const controller = new AbortController()
    controller.abort()
    await expect(stage(root, clientStore(storage), controller.signal)).rejects.toMatchObject({
      name: 'AbortError'
    })
    expect(storage.requestCount()).toBe(0)
  })
})
