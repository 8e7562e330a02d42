/**
 * Prune: keeps a repository's storage from growing without bound (docs/storage.md, "Prune"). Meant to run once
 * per run after the task is submitted, under a time limit; it runs at most once an hour per bucket whoever asks,
 * costs a few listings (one request per 1,000 objects), and deletes in an order that a cut at any point leaves
 * for the next prune to finish.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { deleteResultsBucket } from './collect.js'
import { isNoSuchBucket } from './errors.js'
import {
  MANIFESTS_PREFIX,
  MARKERS_PREFIX,
  PRUNE_MARKER_KEY,
  manifestKey,
  markerKey,
  resultsBucketPrefix,
  treePrefix,
  type BucketNaming
} from './layout.js'
import { mapLimit } from './pool.js'
import { nearQuota, type StorageQuota } from './quota.js'
import { CACHE_PREFIX } from '../cache/entry.js'
import {
  DEFAULT_PRUNE_RULES,
  planCacheFolders,
  planResultsBuckets,
  planTrees,
  treeUses,
  type PruneRules,
  type TreeUse
} from './prune-rules.js'
import { deleteKeys, listAllObjects, type ObjectStore } from './store.js'

export interface PruneOptions {
  readonly store: ObjectStore
  /** The repository's resource bucket. */
  readonly bucket: string
  /** With it, this repository's stale results buckets (`qa-out-...`) are removed too. */
  readonly naming?: BucketNaming
  /** Bound the whole prune with it (e.g. AbortSignal.timeout(30_000) joined with the step's cancel). */
  readonly signal: AbortSignal
  readonly rules?: Partial<PruneRules>
  readonly now?: () => Date
  /** Pause between withdrawing trees' markers and deleting them, for runs that were touching them (default 1 s). */
  readonly settleMs?: number
  /** Ignore the once-an-hour limit. */
  readonly force?: boolean
  /** The account's storage quotas: near them, results buckets go sooner and more per prune. */
  readonly quota?: StorageQuota
  /** Results buckets this run still brings back (a re-run's earlier attempts'): never removed now. */
  readonly spare?: ReadonlySet<string>
}

export interface PruneReport {
  /** Why nothing was done: pruned recently, or no bucket yet. */
  readonly skipped?: 'recent' | 'no-bucket'
  readonly treesRemoved: number
  readonly objectsRemoved: number
  readonly uploadsAborted: number
  readonly resultsBucketsRemoved: number
  /** Steps' cache folders removed (unused for `cacheDays`). */
  readonly cacheFoldersRemoved: number
  /** Why storage counts as near its quota (`48 of 50 buckets`), when it does. */
  readonly nearQuota?: string
  readonly requests: number
  readonly ms: number
}

export async function pruneResources(options: PruneOptions): Promise<PruneReport> {
  const { store, bucket, signal } = options
  const started = performance.now()
  const requestsBefore = store.counters.requests
  const rules = { ...DEFAULT_PRUNE_RULES, ...options.rules }
  const now = (options.now ?? (() => new Date()))()
  const report: { -readonly [K in keyof Omit<PruneReport, 'skipped' | 'requests' | 'ms'>]: PruneReport[K] } =
    {
      treesRemoved: 0,
      objectsRemoved: 0,
      uploadsAborted: 0,
      resultsBucketsRemoved: 0,
      cacheFoldersRemoved: 0
    }
  const done = (skipped?: PruneReport['skipped']): PruneReport => ({
    ...(skipped && { skipped }),
    ...report,
    requests: store.counters.requests - requestsBefore,
    ms: Math.round(performance.now() - started)
  })
  const claimed = await claim(options, now, rules)
  if (claimed === 'recent') return done(claimed)
  // No resource bucket (a step with `results` alone): nothing to claim the turn in, but results buckets still go.
  if (claimed === 'no-bucket') {
    if (options.naming) Object.assign(report, await removeResultsBuckets(options, now, rules))
    return done(claimed)
  }
  const [manifests, markers] = await Promise.all([
    listAllObjects(store, bucket, MANIFESTS_PREFIX, signal),
    listAllObjects(store, bucket, MARKERS_PREFIX, signal)
  ])
  const { remove } = planTrees(treeUses(manifests, markers), now, rules)
  const removed = await removeTrees(options, remove, now)
  report.treesRemoved = removed.trees
  report.objectsRemoved = removed.objects
  report.uploadsAborted = await abortStaleUploads(store, bucket, now, rules, signal)
  report.cacheFoldersRemoved = await removeCacheFolders(options, now, rules)
  if (options.naming) Object.assign(report, await removeResultsBuckets(options, now, rules))
  return done()
}

/** Whether this run prunes: not if the bucket was pruned within the interval; else the run claims the turn. */
async function claim(
  options: PruneOptions,
  now: Date,
  rules: PruneRules
): Promise<'go' | 'recent' | 'no-bucket'> {
  const { store, bucket, signal } = options
  if (!options.force) {
    const last = await store.headObject(bucket, PRUNE_MARKER_KEY, signal)
    if (last && now.getTime() - last.lastModified.getTime() < rules.intervalMinutes * 60_000) return 'recent'
  }
  try {
    await store.putObject(bucket, PRUNE_MARKER_KEY, now.toISOString(), signal)
    return 'go'
  } catch (error) {
    if (isNoSuchBucket(error)) return 'no-bucket'
    throw error
  }
}

/** An object this recent under a tree being removed means a run is writing it again: the tree is spared. */
const RECENT_WRITE_MS = 3600_000

/**
 * Withdraws the trees' markers first (new runs then rebuild rather than reuse), waits for runs that were touching
 * them, spares any tree touched, restaged or written meanwhile, then deletes its objects and, last, its manifest.
 */
async function removeTrees(options: PruneOptions, remove: readonly TreeUse[], now: Date) {
  const { store, bucket, signal } = options
  if (remove.length === 0) return { trees: 0, objects: 0 }
  await deleteKeys(
    store,
    bucket,
    remove.filter(u => u.marker).map(u => markerKey(u.tree)),
    signal
  )
  await sleep(options.settleMs ?? 1000, undefined, { signal })
  const counts = await mapLimit(remove, 8, (use, s) => removeTree(options, use, now, s), signal)
  return {
    trees: counts.filter(n => n >= 0).length,
    objects: counts.reduce((sum, n) => sum + Math.max(n, 0), 0)
  }
}

/** Deletes one tree unless a run came back to it; returns the objects deleted, or -1 when spared. */
async function removeTree(
  options: PruneOptions,
  use: TreeUse,
  now: Date,
  signal: AbortSignal
): Promise<number> {
  const { store, bucket } = options
  const [marker, manifest] = await Promise.all([
    store.headObject(bucket, markerKey(use.tree), signal),
    store.headObject(bucket, manifestKey(use.tree), signal)
  ])
  const restaged = manifest && manifest.lastModified.getTime() !== use.manifest?.lastModified.getTime()
  if (marker || restaged) return -1
  const objects = await listAllObjects(store, bucket, treePrefix(use.tree), signal)
  if (objects.some(o => now.getTime() - o.lastModified.getTime() < RECENT_WRITE_MS)) return -1
  await deleteKeys(
    store,
    bucket,
    objects.map(o => o.key),
    signal
  )
  await deleteKeys(store, bucket, [manifestKey(use.tree)], signal)
  return objects.length
}

async function abortStaleUploads(
  store: ObjectStore,
  bucket: string,
  now: Date,
  rules: PruneRules,
  signal: AbortSignal
): Promise<number> {
  const stale = (await store.listMultipartUploads(bucket, signal)).filter(
    u => now.getTime() - u.initiated.getTime() > rules.graceHours * 3600_000
  )
  for (const upload of stale) await store.abortMultipartUpload(bucket, upload.key, upload.uploadId, signal)
  return stale.length
}

/** Removes the cache folders no run used for `cacheDays`, whole (one listing of the cache: a request per 1,000). */
async function removeCacheFolders(options: PruneOptions, now: Date, rules: PruneRules): Promise<number> {
  const { store, bucket, signal } = options
  const objects = await listAllObjects(store, bucket, CACHE_PREFIX, signal)
  const doomed = new Set(planCacheFolders(objects, now, rules))
  if (doomed.size === 0) return 0
  const keys = objects.filter(o => doomed.has(o.key.split('/').slice(0, 3).join('/') + '/')).map(o => o.key)
  // Entries first: a run that lists the folder meanwhile sees misses, never an entry whose objects are gone.
  const entries = keys.filter(key => key.split('/')[3] === 'e')
  await deleteKeys(store, bucket, entries, signal)
  await deleteKeys(
    store,
    bucket,
    keys.filter(key => key.split('/')[3] !== 'e'),
    signal
  )
  return doomed.size
}

/** Near a storage quota, results buckets go after a day rather than a week, and more of them per prune. */
export const PRESSURE_RESULTS_DAYS = 1
const RESULTS_BUCKETS_PER_PRUNE = 20
const PRESSURE_RESULTS_BUCKETS_PER_PRUNE = 100

/** At most 20 per prune (100 near a quota), so one prune stays short however many piled up. */
async function removeResultsBuckets(
  options: PruneOptions,
  now: Date,
  rules: PruneRules
): Promise<{ resultsBucketsRemoved: number; nearQuota?: string }> {
  const { store, signal } = options
  const prefix = resultsBucketPrefix(options.naming as BucketNaming, false)
  const buckets = await store.listBuckets(signal)
  const near = nearQuota(options.quota, buckets.length)
  const doomed = near
    ? planResultsBuckets(buckets, prefix, now, {
        ...rules,
        resultsDays: Math.min(rules.resultsDays, PRESSURE_RESULTS_DAYS)
      }).slice(0, PRESSURE_RESULTS_BUCKETS_PER_PRUNE)
    : planResultsBuckets(buckets, prefix, now, rules).slice(0, RESULTS_BUCKETS_PER_PRUNE)
  const removed = doomed.filter(bucket => !options.spare?.has(bucket))
  for (const bucket of removed) await deleteResultsBucket({ store, bucket, signal })
  return { resultsBucketsRemoved: removed.length, ...(near && { nearQuota: near }) }
}
