/**
 * Staging: the workspace files a task needs become one immutable tree in the repository's bucket, sending only
 * the bytes storage lacks (docs/storage.md, "Staging"). A tree already complete costs two requests.
 */
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { ensureBucket } from './connect.js'
import { abortReason, isAbort, isNoSuchBucket, isNotFound } from './errors.js'
import { hashFiles } from './hashing.js'
import {
  MARKERS_PREFIX,
  advancedResourceBucket,
  hashInKey,
  makeManifest,
  manifestKey,
  markerKey,
  parseManifest,
  treeHash,
  treeKey,
  treePrefix,
  type AdvancedResourceBucket,
  type TreeEntry
} from './layout.js'
import { ByteBudget, TaskPool, mapLimit } from './pool.js'
import type { ResourceFile } from './resource-patterns.js'
import {
  deleteKeys,
  listAllObjects,
  readObjectText,
  type ObjectInfo,
  type ObjectStore,
  type StoreCounters
} from './store.js'

/** S3's largest single CopyObject; bigger files go straight to their tree key. */
export const MAX_COPY_BYTES = 5 * 1024 ** 3

export interface StageOptions {
  readonly store: ObjectStore
  /** The repository's resource bucket (layout.resourceBucketName). */
  readonly bucket: string
  /** Absolute path of the workspace the files are relative to. */
  readonly workspace: string
  /** From resolveResources. */
  readonly files: readonly ResourceFile[]
  /** Aborts every transfer at once. */
  readonly signal: AbortSignal
  /** Requests in flight (default 32). */
  readonly concurrency?: number
  /** Upload bytes held in memory at once (default 96 MiB). */
  readonly memoryBudget?: number
  /** How many recently used trees lend their files to a new tree (default 2). */
  readonly reuseTrees?: number
  readonly now?: () => Date
}

export interface StageStats {
  readonly files: number
  readonly bytes: number
  /** Payload bytes sent to storage (file bodies, manifest, marker), retries included. */
  readonly bytesSent: number
  readonly requests: number
  /** Files uploaded (contents storage did not have). */
  readonly uploads: number
  /** Server-side copies into the tree (contents storage had). */
  readonly copies: number
  /** True when the tree was complete already and only its marker was touched. */
  readonly reused: boolean
  readonly ms: number
}

export interface StageResult {
  /** For the create body's `advancedResourceBuckets`. */
  readonly advancedResourceBuckets: AdvancedResourceBucket[]
  readonly bucket: string
  readonly tree: string
  readonly stats: StageStats
}

interface Work {
  uploads: number
  copies: number
}

export async function stageResources(options: StageOptions): Promise<StageResult> {
  const { store, bucket, signal } = options
  const started = performance.now()
  const before: StoreCounters = { ...store.counters }
  const entries = await hashFiles(options.workspace, options.files, { signal })
  const tree = treeHash(entries)
  const finish = (reused: boolean, work: Work): StageResult => ({
    advancedResourceBuckets: [advancedResourceBucket(bucket, tree)],
    bucket,
    tree,
    stats: {
      files: entries.length,
      bytes: entries.reduce((sum, e) => sum + e.size, 0),
      bytesSent: store.counters.bytesSent - before.bytesSent,
      requests: store.counters.requests - before.requests,
      ...work,
      reused,
      ms: Math.round(performance.now() - started)
    }
  })
  const marker = JSON.stringify({ tree, files: entries.length })
  if (await store.headObject(bucket, markerKey(tree), signal)) {
    await store.putObject(bucket, markerKey(tree), marker, signal)
    return finish(true, { uploads: 0, copies: 0 })
  }
  const [, sources] = await Promise.all([
    ensureBucket(store, bucket, signal),
    reusableContent(store, bucket, signal, options.reuseTrees)
  ])
  const manifest = makeManifest(tree, entries, (options.now ?? (() => new Date()))())
  await store.putObject(bucket, manifestKey(tree), JSON.stringify(manifest), signal)
  const work = await buildTree(options, tree, entries, sources)
  await verifyTree(options, tree, entries, work)
  await store.putObject(bucket, markerKey(tree), marker, signal)
  return finish(false, work)
}

/** Where storage already holds a content: a file of a complete tree. */
export interface ContentSource {
  readonly key: string
  readonly size: number
}

/**
 * The contents of the `trees` most recently used complete trees (their markers listed, their manifests read):
 * sha256 -> a key holding those bytes. Nothing when the bucket is new.
 */
export async function reusableContent(
  store: ObjectStore,
  bucket: string,
  signal: AbortSignal,
  trees = 2
): Promise<Map<string, ContentSource>> {
  const sources = new Map<string, ContentSource>()
  let markers: ObjectInfo[]
  try {
    markers = await listAllObjects(store, bucket, MARKERS_PREFIX, signal)
  } catch (error) {
    if (isNoSuchBucket(error)) return sources
    throw error
  }
  const recent = markers
    .map(m => ({ tree: hashInKey(m.key, MARKERS_PREFIX), at: m.lastModified.getTime() }))
    .filter((m): m is { tree: string; at: number } => m.tree !== undefined)
    .sort((a, b) => b.at - a.at)
    .slice(0, trees)
  const manifests = await mapLimit(
    recent,
    trees,
    async ({ tree }, s) => {
      try {
        return { tree, files: parseManifest(await readObjectText(store, bucket, manifestKey(tree), s)) }
      } catch (error) {
        if (isAbort(error)) throw error
        return { tree, files: [] }
      }
    },
    signal
  )
  for (const { tree, files } of manifests) {
    for (const file of files) {
      if (!sources.has(file.sha256))
        sources.set(file.sha256, { key: treeKey(tree, file.path), size: file.size })
    }
  }
  return sources
}

/**
 * Fills the tree: a content storage has is copied server-side, a new content is uploaded once (largest first) and
 * copied to the tree's other files with the same bytes. A copy whose source vanished (a prune elsewhere) becomes
 * an upload of the local file.
 */
async function buildTree(
  options: StageOptions,
  tree: string,
  entries: TreeEntry[],
  sources: Map<string, ContentSource>
): Promise<Work> {
  const { store, bucket, signal } = options
  const pool = new TaskPool(options.concurrency ?? 32, signal)
  const budget = new ByteBudget(options.memoryBudget ?? 96 * 1024 * 1024)
  const work: Work = { uploads: 0, copies: 0 }
  const upload = async (entry: TreeEntry, s: AbortSignal) => {
    const release = await budget.acquire(store.uploadMemory(entry.size), s)
    try {
      const source = { path: join(options.workspace, entry.path), size: entry.size, sha256: entry.sha256 }
      await store.uploadFile(bucket, treeKey(tree, entry.path), source, s)
      work.uploads++
    } finally {
      release()
    }
  }
  const copy = async (from: string, entry: TreeEntry, s: AbortSignal) => {
    try {
      await store.copyObject(bucket, from, treeKey(tree, entry.path), s)
      work.copies++
    } catch (error) {
      if (!isNotFound(error)) throw error
      await upload(entry, s)
    }
  }
  for (const group of groupBySha(entries)) {
    const [first, ...rest] = group
    const source = sources.get(first.sha256)
    if (first.size > MAX_COPY_BYTES) {
      for (const entry of group) pool.add(s => upload(entry, s))
    } else if (source && source.size === first.size) {
      for (const entry of group) pool.add(s => copy(source.key, entry, s))
    } else {
      pool.add(async s => {
        await upload(first, s)
        for (const entry of rest) pool.add(s2 => copy(treeKey(tree, first.path), entry, s2))
      })
    }
  }
  await pool.drain()
  if (signal.aborted) throw abortReason(signal)
  return work
}

/** Files grouped by content, the largest contents first (their uploads take longest). */
function groupBySha(entries: readonly TreeEntry[]): TreeEntry[][] {
  const groups = new Map<string, TreeEntry[]>()
  for (const entry of entries) {
    const group = groups.get(entry.sha256)
    if (group) group.push(entry)
    else groups.set(entry.sha256, [entry])
  }
  return [...groups.values()].sort((a, b) => b[0].size - a[0].size)
}

/**
 * Lists the tree and checks every file is there with its size before the marker says the tree is complete;
 * uploads again what is missing (once) and removes what does not belong.
 */
async function verifyTree(
  options: StageOptions,
  tree: string,
  entries: TreeEntry[],
  work: Work
): Promise<void> {
  const { store, bucket, signal } = options
  for (let attempt = 0; ; attempt++) {
    const listed = new Map(
      (await listAllObjects(store, bucket, treePrefix(tree), signal)).map(o => [o.key, o.size])
    )
    const missing = entries.filter(e => listed.get(treeKey(tree, e.path)) !== e.size)
    const expected = new Set(entries.map(e => treeKey(tree, e.path)))
    const extra = [...listed.keys()].filter(key => !expected.has(key))
    if (extra.length > 0) await deleteKeys(store, bucket, extra, signal)
    if (missing.length === 0) return
    if (attempt > 0) {
      throw new Error(
        `storage lost ${missing.length} files of tree ${tree} while staging, e.g. ${missing[0].path}`
      )
    }
    await mapLimit(
      missing,
      options.concurrency ?? 32,
      async (entry, s) => {
        const source = { path: join(options.workspace, entry.path), size: entry.size, sha256: entry.sha256 }
        await store.uploadFile(bucket, treeKey(tree, entry.path), source, s)
        work.uploads++
      },
      signal
    )
  }
}
