/**
 * Results: every object of the task's results bucket becomes a file under the results folder, streamed to disk,
 * several at once, large ones as parallel ranges; keys that would land outside the folder are refused
 * (docs/storage.md, "Results"). Then the bucket is removed unless the user keeps it.
 */
import { randomBytes } from 'node:crypto'
import { constants as fsConstants } from 'node:fs'
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, sep } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pipeline } from 'node:stream/promises'
import { isNoSuchBucket } from './errors.js'
import { safeRelativePath, throughGitFolder } from './layout.js'
import { mapLimit } from './pool.js'
import { deleteKeys, listAllObjects, type ObjectInfo, type ObjectStore } from './store.js'

export interface CollectOptions {
  readonly store: ObjectStore
  /** The task's results bucket (layout.resultsBucketName). */
  readonly bucket: string
  /** Absolute path of the results folder (resolveResultsFolder); created if missing. */
  readonly directory: string
  /** The workspace the folder is in: every folder from it down must be a real folder, not a link. */
  readonly workspace?: string
  readonly signal: AbortSignal
  /** Only keys under this prefix come back, the prefix stripped (the results folder of $TASK_PATH, `out/`). */
  readonly prefix?: string
  /** Which paths (under the prefix) of this bucket may come back; the others are left, unreported. */
  readonly only?: (path: string) => boolean
  /** Objects downloaded at once (default 32). */
  readonly concurrency?: number
  /** Objects of at least this size come down as parallel ranges (default 64 MiB). */
  readonly rangedFrom?: number
  readonly rangeSize?: number
}

export interface RejectedKey {
  readonly key: string
  readonly reason: string
}

export interface CollectResult {
  readonly files: number
  readonly bytes: number
  readonly ms: number
  /** Keys not written, and why (a path leaving the folder, a name both a file and a folder, ...). */
  readonly rejected: RejectedKey[]
  /** The task made no results bucket (no instance wrote a result). */
  readonly bucketMissing: boolean
  /** What was written, as paths under the results folder (the cache records them per instance). */
  readonly written: { readonly path: string; readonly size: number }[]
}

interface Planned {
  readonly object: ObjectInfo
  readonly path: string
}

/** Which objects become which files; the rest are rejected with a reason. */

export function planDownloads(
  objects: readonly ObjectInfo[],
  prefix = '',
  only: (path: string) => boolean = () => true
): {
  planned: Planned[]
  rejected: RejectedKey[]
} {
  const rejected: RejectedKey[] = []
  const candidates: Planned[] = []
  for (const object of objects) {
    // Only what the instances left under the results folder of $TASK_PATH comes back, without that prefix.
    if (!object.key.startsWith(prefix)) continue
    const path = safeRelativePath(object.key.slice(prefix.length))
    if (path !== undefined && !only(path)) continue
    if (path !== undefined && throughGitFolder(path))
      rejected.push({ key: object.key, reason: 'a .git folder is never written from results' })
    else if (path !== undefined) candidates.push({ object, path })
    else if (!(object.key.endsWith('/') && object.size === 0 && safeRelativePath(object.key.slice(0, -1)))) {
      rejected.push({ key: object.key, reason: 'its name would leave the results folder' })
    }
  }
  const folders = new Set<string>()
  for (const { path } of candidates) {
    for (let at = path.indexOf('/'); at >= 0; at = path.indexOf('/', at + 1)) folders.add(path.slice(0, at))
  }
  const planned = candidates.filter(c => {
    if (!folders.has(c.path)) return true
    rejected.push({ key: c.object.key, reason: 'other results are in a folder of the same name' })
    return false
  })
  return { planned, rejected }
}

export async function collectResults(options: CollectOptions): Promise<CollectResult> {
  const started = performance.now()
  const { store, bucket, signal } = options
  let objects: ObjectInfo[]
  try {
    objects = await listAllObjects(store, bucket, '', signal)
  } catch (error) {
    if (!isNoSuchBucket(error)) throw error
    return {
      files: 0,
      bytes: 0,
      ms: Math.round(performance.now() - started),
      rejected: [],
      bucketMissing: true,
      written: []
    }
  }
  const { planned, rejected } = planDownloads(objects, options.prefix, options.only)
  const placed = await placeAll(options, planned)
  return {
    ...placed,
    rejected: [...rejected, ...placed.rejected],
    ms: Math.round(performance.now() - started)
  }
}

/**
 * Objects written under the results folder at the paths given (the cache's content-addressed objects, at the
 * paths their entry names), with every check results get. Paths must be safe already (safeRelativePath).
 */
export async function placeObjects(
  options: Omit<CollectOptions, 'prefix' | 'only'>,
  objects: readonly { readonly key: string; readonly size: number; readonly path: string }[]
): Promise<Omit<CollectResult, 'ms'>> {
  const planned = objects.map(({ key, size, path }) => ({
    object: { key, size, lastModified: new Date(0) },
    path
  }))
  return placeAll(options, planned)
}

async function placeAll(
  options: Omit<CollectOptions, 'prefix' | 'only'>,
  planned: readonly Planned[]
): Promise<Omit<CollectResult, 'ms'>> {
  const { signal } = options
  const rejected: RejectedKey[] = []
  // The results folder itself, from the workspace down, is made of real folders: `out -> .git` writes nothing.
  const base = options.workspace ?? dirname(options.directory)
  if (options.workspace === undefined) await mkdir(base, { recursive: true })
  const link = await realFolders(base, options.directory)
  if (link !== undefined) {
    throw new Error(
      `the results folder ${options.directory} is reached through the symbolic link "${link}"; results are never written through a link (name a real folder in results)`
    )
  }
  const folders = new Folders(options.directory)
  const written: { path: string; size: number }[] = []
  let bytes = 0
  await mapLimit(
    planned,
    options.concurrency ?? 32,
    async (item, s) => {
      const reason = await place(options, folders, item, s)
      if (reason) return void rejected.push({ key: item.object.key, reason })
      written.push({ path: item.path, size: item.object.size })
      bytes += item.object.size
    },
    signal
  )
  return { files: written.length, bytes, rejected, bucketMissing: false, written }
}

const IN_THE_WAY = new Set(['EISDIR', 'ENOTDIR', 'EEXIST', 'ENOTEMPTY'])
/** Refusals of one name or place by the local file system: that file is skipped, the others still come. */
const UNWRITABLE = new Set(['ENAMETOOLONG', 'EACCES', 'EPERM', 'EILSEQ', 'EROFS'])
const THROUGH_A_LINK =
  'its folder in the results folder is a symbolic link, and results are never written through a link'

/**
 * Makes `folder` under `base`, one level at a time, each level below `base` checked with lstat: a real folder, or
 * made here, never a symbolic link (wherever it leads). Returns the first link met (relative to `base`), if any.
 */
async function realFolders(base: string, folder: string): Promise<string | undefined> {
  const rest = relative(base, folder)
  if (rest.startsWith('..') || isAbsolute(rest)) throw new Error(`${folder} is not under ${base}`)
  let current = base
  for (const segment of rest.split(sep).filter(Boolean)) {
    current = join(current, segment)
    let info = await lstat(current).catch(() => undefined)
    if (!info) {
      await mkdir(current).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error
      })
      info = await lstat(current)
    }
    if (info.isSymbolicLink()) return relative(base, current)
    if (!info.isDirectory()) {
      throw Object.assign(new Error(`${current} is not a folder`), { code: 'ENOTDIR' })
    }
  }
  return undefined
}

/** The folders results go in, each made and checked once (a symbolic link on the way refuses its files). */
class Folders {
  private readonly checked = new Map<string, Promise<boolean>>()

  constructor(readonly root: string) {}

  /** Whether the folder is (now) a real folder under the root, reached through no link. */
  resolve(folder: string): Promise<boolean> {
    let pending = this.checked.get(folder)
    if (!pending) {
      pending = realFolders(this.root, folder).then(link => link === undefined)
      this.checked.set(folder, pending)
    }
    return pending
  }
}

/** Writes one result under the folder; returns why it was refused, if it was. */
async function place(
  options: Omit<CollectOptions, 'prefix' | 'only'>,
  folders: Folders,
  item: Planned,
  signal: AbortSignal
) {
  const target = join(options.directory, ...item.path.split('/'))
  try {
    if (!(await folders.resolve(dirname(target)))) return THROUGH_A_LINK
    await download(options, item.object, target, signal)
    return undefined
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? ''
    if (IN_THE_WAY.has(code)) return 'a file or folder of the same name is in the way in the results folder'
    if (UNWRITABLE.has(code)) return `this file system cannot hold it (${code})`
    throw error
  }
}

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = fsConstants
const CREATE_NEW = O_WRONLY | O_CREAT | O_EXCL | (O_NOFOLLOW ?? 0)
const WRITE_PART = O_WRONLY | (O_NOFOLLOW ?? 0)

/** Streams a range (or all) of an object into the file at `start`; returns the bytes written. */
async function fetchInto(
  options: Omit<CollectOptions, 'prefix' | 'only'>,
  object: ObjectInfo,
  file: string,
  signal: AbortSignal,
  range?: { start: number; end: number }
): Promise<number> {
  // Never through a final symbolic link: the temporary name is new (O_EXCL), and O_NOFOLLOW refuses a link anyway.
  // Opened first: once counted, the body flows, and no byte may pass before the file is there to take it.
  const handle = await open(file, range ? WRITE_PART : CREATE_NEW)
  let body: NodeJS.ReadableStream
  try {
    ;({ body } = await options.store.getObjectStream(options.bucket, object.key, signal, range))
  } catch (error) {
    await handle.close()
    throw error
  }
  let count = 0
  body.on('data', (chunk: Buffer) => (count += chunk.length))
  await pipeline(body, handle.createWriteStream({ start: range?.start }), { signal })
  return count
}

/** Streams one object to a temporary file beside the target, checks its size, then renames it into place. */
async function download(
  options: Omit<CollectOptions, 'prefix' | 'only'>,
  object: ObjectInfo,
  target: string,
  signal: AbortSignal
) {
  // A short name of its own: the target's name may already be as long as the file system allows.
  const temporary = join(dirname(target), `.qarnot-${randomBytes(8).toString('hex')}.part`)
  const rangeSize = options.rangeSize ?? 16 * 1024 * 1024
  try {
    let size: number
    if (object.size >= (options.rangedFrom ?? 64 * 1024 * 1024)) {
      await (await open(temporary, CREATE_NEW)).close()
      const starts = Array.from({ length: Math.ceil(object.size / rangeSize) }, (_, i) => i * rangeSize)
      const counts = await mapLimit(
        starts,
        4,
        (start, s) =>
          fetchInto(options, object, temporary, s, {
            start,
            end: Math.min(start + rangeSize, object.size) - 1
          }),
        signal
      )
      size = counts.reduce((sum, n) => sum + n, 0)
    } else {
      size = await fetchInto(options, object, temporary, signal)
    }
    if (size !== object.size) {
      throw new Error(`${object.key} came down as ${size} bytes instead of ${object.size}; collect it again`)
    }
    await rename(temporary, target)
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
}

/** Empties and removes a results bucket; a bucket already gone is fine. Returns the objects removed. */
export async function deleteResultsBucket(options: {
  readonly store: ObjectStore
  readonly bucket: string
  readonly signal: AbortSignal
}): Promise<number> {
  const { store, bucket, signal } = options
  try {
    const keys = (await listAllObjects(store, bucket, '', signal)).map(o => o.key)
    await deleteKeys(store, bucket, keys, signal)
    for (const upload of await store.listMultipartUploads(bucket, signal)) {
      await store.abortMultipartUpload(bucket, upload.key, upload.uploadId, signal)
    }
    await store.deleteBucket(bucket, signal)
    return keys.length
  } catch (error) {
    if (isNoSuchBucket(error)) return 0
    throw error
  }
}
