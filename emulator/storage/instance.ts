/**
 * What Qarnot does with storage around each instance, for the emulator (docs/storage.md, "The emulator's
 * storage"): before the instance starts, the task's resource buckets are laid out in $TASK_PATH (prefix
 * filtering, prefix stripping, several buckets as a union where the bucket listed last wins); when it ends, the
 * files it created or changed go to the results bucket, filtered by the whitelist and blacklist regexes on their
 * relative paths.
 */
import { createWriteStream } from 'node:fs'
import { lstat, mkdir, readdir, utimes } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { isValidBucketName } from './rgw.js'
import { eachLimited, ensureBucket, listEveryObject, type PlatformStore } from './platform-store.js'

export interface AdvancedResourceBucketWire {
  bucketName?: string | null
  filtering?: { prefixFiltering?: { prefix?: string | null } | null } | null
  resourcesTransformation?: { stripPrefix?: { prefix?: string | null } | null } | null
  cacheTTLSec?: number | null
}

/** The resource fields of a create body (OpenAPI TaskCreationInput). */
export interface ResourceSpec {
  resourceBuckets?: readonly string[] | null
  advancedResourceBuckets?: readonly AdvancedResourceBucketWire[] | null
}

/** The results fields of a create body. */
export interface ResultSpec {
  resultBucket?: string | null
  resultsBucket?: string | null
  /** Prepended to every result key (with a `/` added if it has none); what Qarnot does with it is unconfirmed. */
  resultsBucketPrefix?: string | null
  resultsWhitelist?: string | null
  resultsBlacklist?: string | null
}

/** How a file looked right after the resources were laid out: a result is a file not matching its stamp. */
export interface FileStamp {
  readonly size: number
  readonly mtimeNs: bigint
  readonly ino: bigint
}

export type ResourceSnapshot = ReadonlyMap<string, FileStamp>

interface Layer {
  readonly bucket: string
  readonly prefix: string
  readonly strip: string
}

function layers(spec: ResourceSpec): Layer[] {
  const plain = (spec.resourceBuckets ?? []).map(bucket => ({ bucket, prefix: '', strip: '' }))
  const advanced = (spec.advancedResourceBuckets ?? []).map(b => ({
    bucket: b.bucketName ?? '',
    prefix: b.filtering?.prefixFiltering?.prefix ?? '',
    strip: b.resourcesTransformation?.stripPrefix?.prefix ?? ''
  }))
  return [...plain, ...advanced]
}

const never = new AbortController().signal

/**
 * Whether a name can be a bucket's (S3's rule, rgw.ts). A name breaking it must never reach a path-style URL,
 * where `a/b` would name the object `b` of the bucket `a`.
 */
export const isBucketName = isValidBucketName

/**
 * The local path an object key may become under $TASK_PATH, or undefined: empty, absolute (`/a`, `C:a`), with a
 * `.`, `..` or empty segment, a backslash or a NUL, or a folder marker (ending in `/`).
 */
function localPathOf(key: string): string | undefined {
  if (key.length === 0 || key.endsWith('/') || key.startsWith('/')) return undefined
  if (key.includes('\\') || key.includes('\0') || /^[A-Za-z]:/.test(key)) return undefined
  const unsafe = key.split('/').some(segment => segment === '' || segment === '.' || segment === '..')
  return unsafe ? undefined : key
}

/** The buckets a create body names that do not exist (Qarnot refuses the create: `404 No such bucket`). */
export async function checkBucketsExist(
  store: PlatformStore,
  spec: ResourceSpec,
  signal = never
): Promise<string[]> {
  const names = [...new Set(layers(spec).map(l => l.bucket))]
  const states = await eachLimited(
    names,
    8,
    async (name, s) => (isBucketName(name) ? store.headBucket(name, s) : 'missing'),
    signal
  )
  return names.filter((_, i) => states[i] !== 'exists')
}

export interface Materialized {
  readonly files: number
  readonly bytes: number
  /** Keys that could not become a path under $TASK_PATH, not written. */
  readonly skipped: string[]
  readonly snapshot: ResourceSnapshot
}

/** Which object lands at which path: later layers win; a name both file and folder is an error. */
async function planLayout(store: PlatformStore, spec: ResourceSpec, signal: AbortSignal) {
  const chosen = new Map<string, { bucket: string; key: string; size: number; lastModified: Date }>()
  const skipped: string[] = []
  for (const layer of layers(spec)) {
    for (const object of await listEveryObject(store, layer.bucket, layer.prefix, signal)) {
      const stripped =
        layer.strip && object.key.startsWith(layer.strip) ? object.key.slice(layer.strip.length) : object.key
      if (stripped.endsWith('/') && object.size === 0) continue
      const path = localPathOf(stripped)
      if (path === undefined) skipped.push(`${layer.bucket}/${object.key}`)
      else chosen.set(path, { ...object, bucket: layer.bucket })
    }
  }
  for (const path of chosen.keys()) {
    for (let at = path.indexOf('/'); at >= 0; at = path.indexOf('/', at + 1)) {
      if (chosen.has(path.slice(0, at))) {
        throw new Error(`resources conflict: ${path.slice(0, at)} is both a file and a folder`)
      }
    }
  }
  return { chosen, skipped }
}

/**
 * Lays out the task's resources in `instanceDir` (its $TASK_PATH) and returns what it wrote. Each file's mtime is
 * its object's LastModified, in the past: a write by the instance, however soon, gives the file another mtime, so
 * uploadResults never mistakes a changed resource for an untouched one.
 */
export async function materializeResources(
  store: PlatformStore,
  spec: ResourceSpec,
  instanceDir: string,
  signal = never
): Promise<Materialized> {
  const { chosen, skipped } = await planLayout(store, spec, signal)
  await mkdir(instanceDir, { recursive: true })
  await eachLimited(
    [...chosen],
    16,
    async ([path, source], s) => {
      const target = join(instanceDir, ...path.split('/'))
      await mkdir(dirname(target), { recursive: true })
      const { body } = await store.getObjectStream(source.bucket, source.key, s)
      await pipeline(body, createWriteStream(target), { signal: s })
      await utimes(target, source.lastModified, source.lastModified)
    },
    signal
  )
  const bytes = [...chosen.values()].reduce((sum, o) => sum + o.size, 0)
  return { files: chosen.size, bytes, skipped, snapshot: await snapshotDirectory(instanceDir) }
}

/** Every regular file under `dir` (symbolic links are not followed), by relative POSIX path. */
export async function snapshotDirectory(dir: string): Promise<Map<string, FileStamp>> {
  const stamps = new Map<string, FileStamp>()
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  for (const entry of entries) {
    if (!entry.isFile()) continue
    const absolute = join(entry.parentPath, entry.name)
    const info = await lstat(absolute, { bigint: true })
    stamps.set(relative(dir, absolute).split(sep).join('/'), {
      size: Number(info.size),
      mtimeNs: info.mtimeNs,
      ino: info.ino
    })
  }
  return stamps
}

/**
 * What the results filters are matched against (no source says; docs/qarnot-api.md): the path relative to
 * $TASK_PATH (`out/a.txt`), the absolute path in the instance, whose $TASK_PATH is `/job` (`/job/out/a.txt`), or
 * the file's name (`a.txt`).
 */
export type ResultsFilterSubject = 'relative' | 'absolute' | 'name'

/** The instance's $TASK_PATH as the absolute subject writes it (Qarnot's docker profiles run in /job). */
export const INSTANCE_TASK_PATH = '/job'

export function filterSubjectOf(relativePath: string, subject: ResultsFilterSubject): string {
  if (subject === 'absolute') return `${INSTANCE_TASK_PATH}/${relativePath}`
  if (subject === 'name') return relativePath.slice(relativePath.lastIndexOf('/') + 1)
  return relativePath
}

/** `${KEY}` in a results filter becomes the task constant's value, as Qarnot documents. */
function filterRegex(text: string | null | undefined, constants: Record<string, string>): RegExp | undefined {
  if (!text) return undefined
  return new RegExp(text.replace(/\$\{([A-Za-z0-9_.-]+)\}/g, (whole, key: string) => constants[key] ?? whole))
}

/**
 * Uploads the files the instance created or changed in `instanceDir` (not the resources it left alone) to the
 * results bucket, creating the bucket if needed. Returns the keys written.
 */
export async function uploadResults(
  store: PlatformStore,
  instanceDir: string,
  spec: ResultSpec,
  snapshot: ResourceSnapshot,
  options: {
    constants?: Record<string, string>
    signal?: AbortSignal
    filterSubject?: ResultsFilterSubject
  } = {}
): Promise<{ files: number; bytes: number; keys: string[] }> {
  const bucket = spec.resultBucket || spec.resultsBucket
  if (!bucket) return { files: 0, bytes: 0, keys: [] }
  const signal = options.signal ?? never
  const include = filterRegex(spec.resultsWhitelist, options.constants ?? {})
  const exclude = filterRegex(spec.resultsBlacklist, options.constants ?? {})
  const prefix = spec.resultsBucketPrefix ? spec.resultsBucketPrefix.replace(/\/?$/, '/') : ''
  const results = [...(await snapshotDirectory(instanceDir))].filter(([path, stamp]) => {
    const before = snapshot.get(path)
    const unchanged =
      before && before.size === stamp.size && before.mtimeNs === stamp.mtimeNs && before.ino === stamp.ino
    const subject = filterSubjectOf(path, options.filterSubject ?? 'relative')
    return !unchanged && (!include || include.test(subject)) && !(exclude && exclude.test(subject))
  })
  await ensureBucket(store, bucket, signal)
  await eachLimited(
    results,
    8,
    async ([path, stamp], s) => {
      const source = { path: join(instanceDir, ...path.split('/')), size: stamp.size }
      await store.uploadFile(bucket, `${prefix}${path}`, source, s)
    },
    signal
  )
  return {
    files: results.length,
    bytes: results.reduce((sum, [, stamp]) => sum + stamp.size, 0),
    keys: results.map(([path]) => `${prefix}${path}`)
  }
}
