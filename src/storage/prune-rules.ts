/**
 * The prune rule as pure decisions (docs/storage.md, "Prune"): which trees go and which results buckets go, from
 * listings and the clock alone.
 */
import { MANIFESTS_PREFIX, MARKERS_PREFIX, hashInKey } from './layout.js'
import type { BucketInfo, ObjectInfo } from './store.js'

export interface PruneRules {
  /** A complete tree nobody used for this many days is removed (default 7). */
  readonly days: number
  /** Beyond this many complete trees (most recently used first), trees older than `graceHours` go (default 20). */
  readonly maxTrees: number
  /**
   * A tree used this recently never goes by count (default 24); an unfinished tree (manifest, no marker) older
   * than this is an abandoned staging and goes.
   */
  readonly graceHours: number
  /** Results buckets the action made (`qa-out-`), older than this many days, go (default 7). */
  readonly resultsDays: number
  /** Prune runs at most this often per bucket, whoever asks (default 60). */
  readonly intervalMinutes: number
  /** A step's cache folder whose newest entry is older than this many days goes whole (default 30). */
  readonly cacheDays: number
}

export const DEFAULT_PRUNE_RULES: PruneRules = {
  days: 7,
  maxTrees: 20,
  graceHours: 24,
  resultsDays: 7,
  intervalMinutes: 60,
  cacheDays: 30
}

/**
 * The cache folders (`cache/v1/<step>/`, cache/entry.ts) to remove: those whose newest object is older than
 * `cacheDays`. A hit rewrites an entry older than a week (cache/lookup.ts), so a folder in use stays young; its
 * objects are removed with it, never alone, so an entry never points at what is gone.
 */
export function planCacheFolders(
  objects: readonly { key: string; lastModified: Date }[],
  now: Date,
  rules: PruneRules
): string[] {
  const newest = new Map<string, number>()
  for (const { key, lastModified } of objects) {
    const folder = /^cache\/v1\/[0-9a-f]{64}\//.exec(key)?.[0]
    if (folder) newest.set(folder, Math.max(newest.get(folder) ?? 0, lastModified.getTime()))
  }
  return [...newest]
    .filter(([, time]) => now.getTime() - time > rules.cacheDays * DAY)
    .map(([folder]) => folder)
}

const HOUR = 3600_000
const DAY = 24 * HOUR

export interface TreeUse {
  readonly tree: string
  readonly complete: boolean
  /** When a run last made or used the tree: its marker's time, else its manifest's. */
  readonly lastUsed: Date
  readonly manifest?: ObjectInfo
  readonly marker?: ObjectInfo
}

/** Every tree the manifests and markers name, with when it was last used. */
export function treeUses(manifests: readonly ObjectInfo[], markers: readonly ObjectInfo[]): TreeUse[] {
  const trees = new Map<string, { manifest?: ObjectInfo; marker?: ObjectInfo }>()
  for (const manifest of manifests) {
    const tree = hashInKey(manifest.key, MANIFESTS_PREFIX, '.json')
    if (tree) trees.set(tree, { ...trees.get(tree), manifest })
  }
  for (const marker of markers) {
    const tree = hashInKey(marker.key, MARKERS_PREFIX)
    if (tree) trees.set(tree, { ...trees.get(tree), marker })
  }
  return [...trees].map(([tree, { manifest, marker }]) => {
    const times = [manifest?.lastModified.getTime() ?? 0, marker?.lastModified.getTime() ?? 0]
    return { tree, complete: marker !== undefined, lastUsed: new Date(Math.max(...times)), manifest, marker }
  })
}

/** Splits trees into kept and removed by the rule. */
export function planTrees(
  uses: readonly TreeUse[],
  now: Date,
  rules: PruneRules
): { keep: TreeUse[]; remove: TreeUse[] } {
  const keep: TreeUse[] = []
  const remove: TreeUse[] = []
  const complete = uses.filter(u => u.complete).sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime())
  complete.forEach((use, rank) => {
    const age = now.getTime() - use.lastUsed.getTime()
    const stale = age > rules.days * DAY || (rank >= rules.maxTrees && age > rules.graceHours * HOUR)
    ;(stale ? remove : keep).push(use)
  })
  for (const use of uses.filter(u => !u.complete)) {
    ;(now.getTime() - use.lastUsed.getTime() > rules.graceHours * HOUR ? remove : keep).push(use)
  }
  return { keep, remove }
}

/** Results buckets of this repository the action made and nobody kept, older than `resultsDays`. */
export function planResultsBuckets(
  buckets: readonly BucketInfo[],
  prefix: string,
  now: Date,
  rules: PruneRules
): string[] {
  return buckets
    .filter(b => b.name.startsWith(prefix) && now.getTime() - b.created.getTime() > rules.resultsDays * DAY)
    .map(b => b.name)
}
