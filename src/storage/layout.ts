/**
 * Where everything lives in storage, as pure functions (docs/storage.md, "Layout"): bucket names, object keys, the
 * tree hash, the manifest, the task's advancedResourceBuckets entry, and which keys may become local paths.
 */
import { createHash } from 'node:crypto'

/** One immutable snapshot per distinct tree: `trees/<treeHash>/<relative path>`. */
export const TREES_PREFIX = 'trees/'
/** What a tree holds (written before its objects): `manifests/<treeHash>.json`. */
export const MANIFESTS_PREFIX = 'manifests/'
/** Written once a tree is complete, touched by every run that uses it: `complete/<treeHash>`. */
export const MARKERS_PREFIX = 'complete/'
/** One per handed-off task a collector reported (step/collected-marks.ts): `collected/<task uuid>`. */
export const COLLECTED_PREFIX = 'collected/'
/** When prune last ran in this bucket (its LastModified is the clock). */
export const PRUNE_MARKER_KEY = 'prune/last-run'
export const MANIFEST_FORMAT = 'qarnot-action-tree/1'

const SHA256_HEX = /^[0-9a-f]{64}$/

export const treePrefix = (tree: string): string => `${TREES_PREFIX}${tree}/`
export const treeKey = (tree: string, path: string): string => `${treePrefix(tree)}${path}`
export const manifestKey = (tree: string): string => `${MANIFESTS_PREFIX}${tree}.json`
export const markerKey = (tree: string): string => `${MARKERS_PREFIX}${tree}`

/** The tree hash in a manifest or marker key, or undefined for any other key. */
export function hashInKey(key: string, prefix: string, suffix = ''): string | undefined {
  if (!key.startsWith(prefix) || !key.endsWith(suffix)) return undefined
  const hash = key.slice(prefix.length, key.length - suffix.length)
  return SHA256_HEX.test(hash) ? hash : undefined
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Lowercase letters, digits and single hyphens, at most `max` characters, never starting or ending with `-`. */
export function slug(text: string, max: number): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '')
  return cleaned || 'x'
}

/** S3's rules as Ceph and AWS apply them, restricted to what this module makes (no dots). */
export function isValidBucketName(name: string): boolean {
  return name.length >= 3 && name.length <= 63 && /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(name)
}

/** A short hash of the account and repository: bucket names of one account never meet another account's. */
export function repositoryTag(repository: string, account: string): string {
  return sha256Hex(`${account.trim().toLowerCase()}\n${repository.trim().toLowerCase()}`).slice(0, 12)
}

export interface BucketNaming {
  /** `owner/name` (GITHUB_REPOSITORY). */
  readonly repository: string
  /** The Qarnot account's email (the storage access key). */
  readonly account: string
}

/** The one resource bucket of a repository: `qa-in-<repository slug>-<12 hex>`. */
export function resourceBucketName(naming: BucketNaming): string {
  const tag = repositoryTag(naming.repository, naming.account)
  return `qa-in-${slug(naming.repository, 63 - 'qa-in-'.length - 1 - tag.length)}-${tag}`
}

/** Every results bucket of a repository starts with this; prune removes only the `qa-out-` ones. */
export function resultsBucketPrefix(naming: BucketNaming, keep: boolean): string {
  return `${keep ? 'qa-keep-' : 'qa-out-'}${repositoryTag(naming.repository, naming.account).slice(0, 8)}-`
}

/**
 * A fresh results bucket per task, from the task's shortname (unique per account):
 * `qa-out-<8 hex of the repository>-<shortname slug>-<8 hex of the shortname>`. Buckets the user keeps start with
 * `qa-keep-` instead, and prune never touches them.
 */
export function resultsBucketName(naming: BucketNaming & { shortname: string; keep?: boolean }): string {
  const prefix = resultsBucketPrefix(naming, naming.keep ?? false)
  const tail = sha256Hex(naming.shortname).slice(0, 8)
  return `${prefix}${slug(naming.shortname, 63 - prefix.length - 1 - tail.length)}-${tail}`
}

export interface TreeEntry {
  /** Relative POSIX path under the workspace (and under $TASK_PATH). */
  readonly path: string
  readonly sha256: string
  readonly size: number
}

/** Byte order of UTF-8, the same on every machine. */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/**
 * The hash of a tree: sha256 of `path NUL sha256 LF` for every file in path order. Paths hold no NUL and hashes
 * are fixed-length, so two different trees never encode alike; identical trees get identical prefixes.
 */
export function treeHash(entries: readonly TreeEntry[]): string {
  const hash = createHash('sha256').update(`${MANIFEST_FORMAT}\n`)
  for (const entry of [...entries].sort((a, b) => comparePaths(a.path, b.path))) {
    hash.update(entry.path).update('\0').update(entry.sha256).update('\n')
  }
  return hash.digest('hex')
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT
  readonly tree: string
  readonly createdAt: string
  readonly bytes: number
  /** `[path, sha256, size]` for every file, in path order. */
  readonly files: [string, string, number][]
}

export function makeManifest(tree: string, entries: readonly TreeEntry[], now: Date): Manifest {
  const files = [...entries]
    .sort((a, b) => comparePaths(a.path, b.path))
    .map((e): [string, string, number] => [e.path, e.sha256, e.size])
  const bytes = entries.reduce((sum, e) => sum + e.size, 0)
  return { format: MANIFEST_FORMAT, tree, createdAt: now.toISOString(), bytes, files }
}

/** A manifest's files; throws on anything that is not a manifest this module wrote. */
export function parseManifest(text: string): TreeEntry[] {
  const manifest = JSON.parse(text) as Partial<Manifest>
  if (manifest.format !== MANIFEST_FORMAT || !Array.isArray(manifest.files)) {
    throw new Error(`not a ${MANIFEST_FORMAT} manifest`)
  }
  return manifest.files.map(file => {
    const [path, sha256, size] = Array.isArray(file) ? file : []
    if (
      typeof path !== 'string' ||
      typeof sha256 !== 'string' ||
      !SHA256_HEX.test(sha256) ||
      typeof size !== 'number'
    ) {
      throw new Error('a manifest entry is not [path, sha256, size]')
    }
    return { path, sha256, size }
  })
}

/** One entry of the create body's `advancedResourceBuckets` (OpenAPI schema ResourcesBucket). */
export interface AdvancedResourceBucket {
  bucketName: string
  filtering: { prefixFiltering: { prefix: string } }
  resourcesTransformation: { stripPrefix: { prefix: string } }
  cacheTTLSec?: number
}

/** The tree's objects, and only them, land in $TASK_PATH at their paths relative to the workspace. */
export function advancedResourceBucket(bucket: string, tree: string): AdvancedResourceBucket {
  const prefix = treePrefix(tree)
  return {
    bucketName: bucket,
    filtering: { prefixFiltering: { prefix } },
    resourcesTransformation: { stripPrefix: { prefix } }
  }
}

/**
 * The local relative path an object key may become, or undefined when it must not be written: empty, absolute,
 * `.` or `..` segments, empty segments, backslashes or NUL. A key ending in `/` is a folder marker, not a file.
 */
export function safeRelativePath(key: string): string | undefined {
  if (key === '' || key.startsWith('/') || key.endsWith('/') || /[\\\0]/.test(key)) return undefined
  if (/^[A-Za-z]:/.test(key)) return undefined
  const segments = key.split('/')
  if (segments.some(s => s === '' || s === '.' || s === '..')) return undefined
  return key
}

/**
 * Whether a path goes through a folder that git takes for `.git`: `.git` in any case (macOS and Windows file
 * systems ignore case), with trailing dots or spaces (Windows drops them), with an NTFS stream (`.git::$INDEX_ALLOCATION`),
 * or as its 8.3 short name (`GIT~1`). git's own `is_ntfs_dotgit` and `is_hfs_dotgit` refuse the same names.
 */
export function throughGitFolder(path: string): boolean {
  return path.split('/').some(segment => {
    const name = segment
      .toLowerCase()
      .split(':')[0]
      .replace(/[. ]+$/, '')
    return name === '.git' || /^git~\d+$/.test(name)
  })
}
