import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import type { EmulatedStorage } from '../emulator/storage/emulated-storage.js'
import {
  PRUNE_MARKER_KEY,
  manifestKey,
  markerKey,
  resourceBucketName,
  resultsBucketName
} from '../src/storage/layout.js'
import { pruneResources, type PruneOptions } from '../src/storage/prune.js'
import { resolveResources } from '../src/storage/resource-patterns.js'
import { stageResources, type StageResult } from '../src/storage/stage.js'
import {
  EMAIL,
  age,
  keys,
  never,
  removeTempDirs,
  startStorage,
  workspace,
  clientStore,
  internalStore
} from './helpers/storage.js'

const HOUR = 3600_000
const DAY = 24 * HOUR
const naming = { repository: 'octo/sim', account: EMAIL }
const BUCKET = resourceBucketName(naming)

let storage: EmulatedStorage
beforeEach(async () => {
  storage = await startStorage()
})
afterEach(async () => {
  await storage.stop()
})
afterAll(removeTempDirs)

async function stageTree(files: Record<string, string>): Promise<StageResult> {
  const root = workspace(files)
  return stageResources({
    store: clientStore(storage),
    bucket: BUCKET,
    workspace: root,
    files: await resolveResources(root, '.'),
    signal: never
  })
}

function prune(options: Partial<PruneOptions> = {}) {
  return pruneResources({
    store: clientStore(storage),
    bucket: BUCKET,
    signal: never,
    settleMs: 0,
    ...options
  })
}

/** Ages a tree (its files, manifest and marker) as if it was last used `ms` ago. */
async function lastUsed(tree: string, ms: number, complete = true): Promise<void> {
  for (const key of await keys(internalStore(storage), BUCKET, `trees/${tree}/`))
    age(storage, BUCKET, key, ms)
  if (complete) age(storage, BUCKET, markerKey(tree), ms)
  age(storage, BUCKET, manifestKey(tree), ms)
}

describe('pruning a repository bucket', () => {
  it('removes trees unused for 7 days and abandoned stagings, keeps the rest', async () => {
    const old = await stageTree({ 'a.txt': 'old' })
    const week = await stageTree({ 'a.txt': 'three days' })
    const current = await stageTree({ 'a.txt': 'current' })
    const abandoned = await stageTree({ 'a.txt': 'abandoned' })
    const staging = await stageTree({ 'a.txt': 'still staging' })
    for (const unfinished of [abandoned, staging]) {
      await internalStore(storage).deleteObjects(BUCKET, [markerKey(unfinished.tree)], never)
    }
    await lastUsed(old.tree, 10 * DAY)
    await lastUsed(week.tree, 3 * DAY)
    await lastUsed(abandoned.tree, 30 * HOUR, false)
    await lastUsed(staging.tree, 1 * HOUR, false)
    const report = await prune()
    expect(report).toMatchObject({ treesRemoved: 2, objectsRemoved: 2 })
    const left = await keys(internalStore(storage), BUCKET)
    const trees = (tree: string) => left.filter(k => k.includes(tree))
    expect(trees(old.tree)).toEqual([])
    expect(trees(abandoned.tree)).toEqual([])
    expect(trees(week.tree)).toHaveLength(3)
    expect(trees(current.tree)).toHaveLength(3)
    expect(trees(staging.tree)).toHaveLength(2)
    expect(left).toContain(PRUNE_MARKER_KEY)
  })

  it('spares a tree a run is writing into again', async () => {
    const tree = await stageTree({ 'a.txt': 'old', 'b.txt': 'old too' })
    await lastUsed(tree.tree, 10 * DAY)
    await internalStore(storage).putObject(BUCKET, `trees/${tree.tree}/a.txt`, 'old', never)
    expect((await prune()).treesRemoved).toBe(0)
    expect(await keys(internalStore(storage), BUCKET, `trees/${tree.tree}/`)).toHaveLength(2)
  })

  it('runs at most once an hour per bucket: a second prune costs one request', async () => {
    await stageTree({ 'a.txt': '1' })
    expect((await prune()).skipped).toBeUndefined()
    storage.resetCounters()
    const again = await prune()
    expect(again).toMatchObject({ skipped: 'recent', requests: 1 })
    expect(storage.requestCount()).toBe(1)
    age(storage, BUCKET, PRUNE_MARKER_KEY, 2 * HOUR)
    expect((await prune()).skipped).toBeUndefined()
  })

  it('costs a few listings when there is nothing to remove', async () => {
    for (let i = 0; i < 5; i++) await stageTree({ 'a.txt': `${i}` })
    storage.resetCounters()
    const report = await prune({ force: true })
    expect(report.treesRemoved).toBe(0)
    expect(Object.fromEntries(storage.requests)).toEqual({
      PutObject: 1,
      ListObjects: 3,
      ListMultipartUploads: 1
    })
  })

  it('does nothing in a bucket that does not exist yet', async () => {
    expect(await prune()).toMatchObject({ skipped: 'no-bucket', treesRemoved: 0 })
  })

  it('spares a tree a run starts using again while it is being removed', async () => {
    const files = { 'a.txt': 'reused after a long pause' }
    const tree = await stageTree(files)
    await lastUsed(tree.tree, 10 * DAY)
    const pruning = prune({ settleMs: 600 })
    while (!storage.log.some(r => r.operation === 'DeleteObjects')) await new Promise(r => setTimeout(r, 5))
    const rerun = await stageTree(files)
    expect(rerun.tree).toBe(tree.tree)
    expect(rerun.stats.reused).toBe(false)
    expect((await pruning).treesRemoved).toBe(0)
    const left = await keys(internalStore(storage), BUCKET)
    expect(left.filter(k => k.includes(tree.tree))).toHaveLength(3)
  })

  it('removes this repository’s old results buckets, not kept ones, not recent ones, not others', async () => {
    await stageTree({ 'a.txt': '1' })
    const store = internalStore(storage)
    const names = {
      stale: resultsBucketName({ ...naming, shortname: 'gha-1-1-aaaa' }),
      kept: resultsBucketName({ ...naming, shortname: 'gha-1-1-bbbb', keep: true }),
      other: resultsBucketName({ repository: 'octo/other', account: EMAIL, shortname: 'gha-1-1-cccc' })
    }
    for (const name of Object.values(names)) {
      await store.createBucket(name, never)
      await store.putObject(name, 'out/r.txt', 'r', never)
    }
    // Buckets are 8 days old for this prune; trees are kept by a 30-day rule.
    const report = await prune({ naming, now: () => new Date(Date.now() + 8 * DAY), rules: { days: 30 } })
    expect(report).toMatchObject({ resultsBucketsRemoved: 1, treesRemoved: 0 })
    expect(await store.headBucket(names.stale, never)).toBe('missing')
    expect(await store.headBucket(names.kept, never)).toBe('exists')
    expect(await store.headBucket(names.other, never)).toBe('exists')
    const recent = await prune({ naming, force: true })
    expect(recent.resultsBucketsRemoved).toBe(0)
  })

  it('removes old results buckets of a step with results and no resources (no resource bucket to claim in)', async () => {
    const store = internalStore(storage)
    const stale = resultsBucketName({ ...naming, shortname: 'gha-2-1-aaaa' })
    await store.createBucket(stale, never)
    const report = await prune({ naming, now: () => new Date(Date.now() + 8 * DAY) })
    expect(report).toMatchObject({ skipped: 'no-bucket', resultsBucketsRemoved: 1 })
    expect(await store.headBucket(stale, never)).toBe('missing')
    expect(await store.headBucket(BUCKET, never)).toBe('missing')
  })

  it('near the bucket quota, removes results buckets after a day and says why', async () => {
    const store = internalStore(storage)
    const names = [1, 2, 3].map(n => resultsBucketName({ ...naming, shortname: `gha-3-${n}-aaaa` }))
    for (const name of names) await store.createBucket(name, never)
    const twoDaysOn = () => new Date(Date.now() + 2 * DAY)
    const roomy = await prune({ naming, now: twoDaysOn, quota: { maxBuckets: 100 }, force: true })
    expect(roomy).toMatchObject({ resultsBucketsRemoved: 0 })
    expect(roomy.nearQuota).toBeUndefined()
    const tight = await prune({ naming, now: twoDaysOn, quota: { maxBuckets: 5 }, force: true })
    expect(tight).toMatchObject({ resultsBucketsRemoved: 3, nearQuota: '3 of 5 buckets' })
    for (const name of names) expect(await store.headBucket(name, never)).toBe('missing')
  })

  it('leaves the results buckets the run still brings back (a re-run of earlier attempts)', async () => {
    const store = internalStore(storage)
    const [needed, stale] = [1, 2].map(n => resultsBucketName({ ...naming, shortname: `gha-4-${n}-aaaa` }))
    for (const name of [needed, stale]) await store.createBucket(name, never)
    const later = () => new Date(Date.now() + 8 * DAY)
    const report = await prune({ naming, now: later, spare: new Set([needed]) })
    expect(report.resultsBucketsRemoved).toBe(1)
    expect(await store.headBucket(needed, never)).toBe('exists')
    expect(await store.headBucket(stale, never)).toBe('missing')
  })

  it("removes a step's cache folder whole once no object of it was written for 30 days, entries first", async () => {
    const store = internalStore(storage)
    await store.createBucket(BUCKET, never)
    const [old, used] = ['1'.repeat(64), '2'.repeat(64)]
    const objects = [
      `cache/v1/${old}/e/0.json`,
      `cache/v1/${old}/b/${'a'.repeat(64)}`,
      `cache/v1/${used}/e/0.json`,
      `cache/v1/${used}/b/${'b'.repeat(64)}`
    ]
    for (const key of objects) await store.putObject(BUCKET, key, 'x', never)
    for (const key of objects.slice(0, 2)) age(storage, BUCKET, key, 31 * DAY)
    // The folder in use has an old object too: its fresh entry keeps it whole.
    age(storage, BUCKET, objects[3], 40 * DAY)
    const report = await prune({ naming, force: true })
    expect(report.cacheFoldersRemoved).toBe(1)
    expect(await keys(store, BUCKET, 'cache/')).toEqual(objects.slice(2).sort())
  })

  it('stops when its time is up', async () => {
    await stageTree({ 'a.txt': '1' })
    storage.faults.push({ operation: 'ListObjects', action: 'delay', delayMs: 2000 })
    const started = Date.now()
    await expect(prune({ signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ name: 'TimeoutError' })
    expect(Date.now() - started).toBeLessThan(1000)
  })
})
