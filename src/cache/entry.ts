/**
 * Where the cache lives in the repository's resource bucket and what one entry holds (docs/cache.md, "Storage").
 * Everything of one step lives under `cache/v1/<step digest>/`: its entries under `e/`, one per instance, and the
 * content-addressed objects they point to (outputs, result files) under `b/`. One listing of `e/` finds every hit;
 * prune removes a step's folder whole once no entry of it was used for a while. Pure.
 */
import { createHash } from 'node:crypto'

export const CACHE_PREFIX = 'cache/v1/'
export const ENTRY_FORMAT = 'qarnot-action-cache-entry/1'

const SHA256_HEX = /^[0-9a-f]{64}$/

export const stepFolder = (stepDigest: string): string => `${CACHE_PREFIX}${stepDigest}/`
export const entriesPrefix = (stepDigest: string): string => `${stepFolder(stepDigest)}e/`
export const entryKey = (stepDigest: string, id: number): string => `${entriesPrefix(stepDigest)}${id}.json`
export const blobKey = (stepDigest: string, sha256: string): string => `${stepFolder(stepDigest)}b/${sha256}`

/** The instance id an entry key names, or undefined for any other key. */
export function idInEntryKey(stepDigest: string, key: string): number | undefined {
  const prefix = entriesPrefix(stepDigest)
  if (!key.startsWith(prefix) || !key.endsWith('.json')) return undefined
  const text = key.slice(prefix.length, -'.json'.length)
  return /^(0|[1-9]\d{0,8})$/.test(text) ? Number(text) : undefined
}

/** Outputs this small are kept in the entry itself: a hit then costs no second request. */
export const INLINE_BYTES = 8 * 1024

/** Bytes kept in the cache: inline (base64) when small, else a content-addressed object. */
export interface StoredBytes {
  readonly sha256: string
  readonly size: number
  readonly inline?: string
}

export interface CacheEntry {
  readonly format: typeof ENTRY_FORMAT
  /** The instance key (key.ts instanceCacheKey): checked on every read, so a misplaced entry is never a hit. */
  readonly key: string
  readonly id: number
  /** The task that computed it, and when the entry was written. */
  readonly task: string
  readonly createdAt: string
  readonly wallTimeSec?: number
  readonly execTimeSec?: number
  readonly peakMemoryMB?: number
  /** How many instances the task that computed it ran: its credits are shared out by this on a hit. */
  readonly taskInstances?: number
  readonly stdout: StoredBytes
  readonly stderr: StoredBytes
  /**
   * `[path under the results folder, sha256, size]` for each of its result files, and the bytes themselves
   * (base64) for a file of at most INLINE_BYTES: a hit of small files then costs one read in all.
   */
  readonly results: ([string, string, number] | [string, string, number, string])[]
}

export function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export function storedBytes(bytes: Buffer): StoredBytes {
  const sha256 = sha256Of(bytes)
  return bytes.length <= INLINE_BYTES
    ? { sha256, size: bytes.length, inline: bytes.toString('base64') }
    : { sha256, size: bytes.length }
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isFigure = (v: unknown): boolean =>
  v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0)

function isStoredBytes(v: unknown): v is StoredBytes {
  if (typeof v !== 'object' || v === null) return false
  const { sha256, size, inline } = v as Record<string, unknown>
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256) || !isCount(size)) return false
  if (inline === undefined) return true
  if (typeof inline !== 'string') return false
  const bytes = Buffer.from(inline, 'base64')
  return bytes.length === size && sha256Of(bytes) === sha256
}

/** A result path as the entry may name it: relative, POSIX, no `.`/`..` segment, no NUL or backslash. */
function isSafeResultPath(path: unknown): path is string {
  if (typeof path !== 'string' || path === '' || path.length > 4096) return false
  if (path.startsWith('/') || path.includes('\\') || path.includes('\0')) return false
  return path.split('/').every(segment => segment !== '' && segment !== '.' && segment !== '..')
}

/**
 * The entry in `text`, when it is one the action wrote for this key and id; undefined otherwise (a miss: the
 * instance is computed). Nothing in an entry is trusted beyond what is checked here and by the blobs' hashes.
 */
export function parseEntry(text: string, key: string, id: number): CacheEntry | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const e = value as Record<string, unknown>
  if (e.format !== ENTRY_FORMAT || e.key !== key || e.id !== id) return undefined
  if (typeof e.task !== 'string' || typeof e.createdAt !== 'string') return undefined
  if (![e.wallTimeSec, e.execTimeSec, e.peakMemoryMB].every(isFigure)) return undefined
  if (e.taskInstances !== undefined && !(isCount(e.taskInstances) && e.taskInstances > 0)) return undefined
  if (!isStoredBytes(e.stdout) || !isStoredBytes(e.stderr) || !Array.isArray(e.results)) return undefined
  const seen = new Set<string>()
  for (const item of e.results as unknown[]) {
    if (!Array.isArray(item) || (item.length !== 3 && item.length !== 4)) return undefined
    const [path, sha256, size, inline] = item as unknown[]
    if (!isSafeResultPath(path) || !isStoredBytes({ sha256, size, inline })) return undefined
    if (seen.has(path)) return undefined
    seen.add(path)
  }
  return value as CacheEntry
}
