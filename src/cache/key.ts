/**
 * The cache key of an instance (docs/cache.md, "What goes into a key"): a digest of everything that decides what
 * the instance computes, and of nothing that does not (the run, the attempt, the commit, labels, tags, the name).
 * Two commits with the same inputs share results. Pure.
 */
import { createHash, createHmac } from 'node:crypto'
import type { KeyValue } from '../input-formats/key-values.js'
import type { HardwareConstraint } from '../input-formats/hardware.js'

/** The version of the key's own format: bumping it invalidates every entry. */
export const CACHE_KEY_FORMAT = 'qarnot-action-cache/1'

export interface CacheKeyParts {
  /** Where the task runs: a profile, or a pool (whose profile and constants are the pool's own). */
  readonly profile: string | undefined
  readonly pool: string | undefined
  readonly hardware: readonly HardwareConstraint[]
  /** Every constant sent (the image's DOCKER_REPO/TAG/SRV and DOCKER_CMD among them), in any order. */
  readonly constants: readonly KeyValue[]
  /** Keys of constants whose values go in only through a keyed hash (QARNOT_SECRET__...). */
  readonly isSecret: (key: string) => boolean
  /** The key of that keyed hash: the key then reveals nothing of a secret to whoever can read the cache. */
  readonly secretKey: string
  /** The image's content digest when its registry told it; undefined when the image is keyed by its name. */
  readonly imageDigest: string | undefined
  /** The staged resources' content-addressed tree (storage/layout.ts treeHash); undefined without resources. */
  readonly resourcesTree: string | undefined
  /** The results folder as a key prefix (`out/`) and the filters; undefined without results. */
  readonly results:
    { readonly prefix: string; readonly whitelist?: string; readonly blacklist?: string } | undefined
  /** The user's salt (`cache-key`), '' when not given. */
  readonly salt: string
}

/**
 * What every instance of the step shares, as one hex digest: the folder of the step's entries in storage, so one
 * listing finds every hit. The instance key adds the id.
 */
export function stepCacheDigest(parts: CacheKeyParts): string {
  const constants = [...parts.constants]
    .map(({ key, value }) => [
      key,
      parts.isSecret(key)
        ? `hmac:${createHmac('sha256', parts.secretKey).update(value).digest('hex')}`
        : value
    ])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  // JSON of a fixed shape: every field named, so that no two different inputs encode alike.
  const identity = {
    format: CACHE_KEY_FORMAT,
    profile: parts.profile ?? null,
    pool: parts.pool ?? null,
    hardware: parts.hardware,
    constants,
    imageDigest: parts.imageDigest ?? null,
    resourcesTree: parts.resourcesTree ?? null,
    results: parts.results
      ? [parts.results.prefix, parts.results.whitelist ?? null, parts.results.blacklist ?? null]
      : null,
    salt: parts.salt
  }
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex')
}

/** The key of one instance of the step. */
export function instanceCacheKey(stepDigest: string, id: number): string {
  return createHash('sha256').update(`${CACHE_KEY_FORMAT}\n${stepDigest}\n${id}`).digest('hex')
}

/** What `cache-key` may hold: it is part of a key, and shown in the summary. */
export const CACHE_SALT_PATTERN = /^[A-Za-z0-9._:+=@/-]{0,128}$/
