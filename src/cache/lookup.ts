/**
 * The cache before the create (docs/cache.md): the step's digest from its inputs (the image by its digest where the
 * registry says it), every instance looked up at once, and each hit made whole before it counts: its output
 * written to files, its result files placed in the results folder and checked against their hashes. A hit that
 * cannot be made whole is a miss, computed by the task like any other: once the task is created, nothing of the
 * cache can fail the step.
 */
import { rm } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { join } from 'node:path'
import type { CacheSettings, TaskSpec } from '../inputs/settings.js'
import { SECRET_CONSTANT_PREFIX } from '../inputs/task.js'
import type { CacheFacts } from '../report/model.js'
import { placeObjects } from '../storage/collect.js'
import { isNoSuchBucket } from '../storage/errors.js'
import { sha256File } from '../storage/hashing.js'
import type { ObjectStore } from '../storage/store.js'
import { InstanceOutputFiles } from '../task/output-files.js'
import { mapLimit } from '../storage/pool.js'
import { errorMessage } from '../words.js'
import {
  CACHE_CONCURRENCY,
  lookUpEntries,
  putEntry,
  readStoredBytes,
  type CacheLocation
} from './cache-store.js'
import { blobKey, type CacheEntry } from './entry.js'
import { imageName, parseImageReference, resolveImageDigest, type ImageKey } from './image-digest.js'
import { stepCacheDigest } from './key.js'

export interface CacheLookUpInput {
  readonly cache: CacheSettings
  readonly spec: TaskSpec
  readonly token: string
  readonly store: ObjectStore
  readonly bucket: string
  /** The staged resources' tree; undefined without resources. */
  readonly resourcesTree: string | undefined
  readonly results:
    { readonly directory: string; readonly workspace: string; readonly prefix: string } | undefined
  readonly resultsWhitelist: string | undefined
  readonly resultsBlacklist: string | undefined
  /** The ids the step would compute (a re-run's failed ones, or all). */
  readonly wanted: readonly number[]
  /** Where hits' outputs are written until the step's own output files exist. */
  readonly stagingDir: string
  readonly fetch: typeof fetch
  readonly signal: AbortSignal
}

export interface CacheState {
  readonly settings: CacheSettings
  readonly location: CacheLocation
  readonly image: CacheFacts['image']
  /** The hits made whole, by id. */
  readonly hits: Map<number, CacheEntry>
  /** The hits' outputs, moved into the step's output files once they exist. */
  readonly outputs: InstanceOutputFiles
  readonly notes: string[]
  /** Instances stored by the tasks before this one in the step (a follow-up carries its first task's count). */
  readonly storedEarlier?: number
}

/** The image of a docker profile as written from its constants; undefined when the task names none. */
function imageOf(spec: TaskSpec): string | undefined {
  const value = (key: string) => spec.constants.find(c => c.key === key)?.value
  const repository = value('DOCKER_REPO')
  if (!repository) return undefined
  const server = value('DOCKER_SRV')
  return `${server ? `${server}/` : ''}${repository}:${value('DOCKER_TAG') || 'latest'}`
}

async function keyImage(spec: TaskSpec, input: CacheLookUpInput): Promise<ImageKey | undefined> {
  const written = imageOf(spec)
  if (written === undefined) return undefined
  try {
    return await resolveImageDigest(parseImageReference(written), {
      fetch: input.fetch,
      signal: input.signal
    })
  } catch (error) {
    return { kind: 'name', reference: { registry: '', repository: written }, reason: errorMessage(error) }
  }
}

export async function lookUpCache(input: CacheLookUpInput): Promise<CacheState> {
  const { spec, signal } = input
  const image = await keyImage(spec, input)
  const stepDigest = stepCacheDigest({
    profile: spec.profile,
    pool: spec.pool,
    hardware: spec.hardware,
    constants: spec.constants,
    isSecret: key => key.startsWith(SECRET_CONSTANT_PREFIX),
    secretKey: input.token,
    imageDigest: image?.kind === 'digest' ? image.digest : undefined,
    resourcesTree: input.resourcesTree,
    results: input.results && {
      prefix: input.results.prefix,
      whitelist: input.resultsWhitelist,
      blacklist: input.resultsBlacklist
    },
    salt: input.cache.salt
  })
  const location = { store: input.store, bucket: input.bucket, stepDigest }
  const outputs = new InstanceOutputFiles(input.stagingDir)
  const state = {
    settings: input.cache,
    location,
    image: describeImage(image),
    hits: new Map<number, CacheEntry>(),
    outputs,
    notes: [] as string[]
  }
  let found: Awaited<ReturnType<typeof lookUpEntries>>
  try {
    found = await lookUpEntries(location, new Set(input.wanted), signal)
  } catch (error) {
    if (signal.aborted) throw error
    if (isNoSuchBucket(error)) return state // nothing was ever stored for this repository
    state.notes.push(`The cache could not be looked up (${errorMessage(error)}); every instance is computed.`)
    return state
  }
  if (found.unreadable > 0)
    state.notes.push(
      `${found.unreadable} cache entries could not be read or were not valid: those instances are computed.`
    )
  const whole = await mapLimit(
    [...found.hits.values()],
    CACHE_CONCURRENCY,
    async (entry, s) => ((await makeWhole(input, state, entry, s)) ? entry : undefined),
    signal
  )
  let broken = 0
  for (const entry of whole) {
    if (entry) state.hits.set(entry.id, entry)
    else broken++
  }
  if (broken > 0)
    state.notes.push(`${broken} cache hits could not be brought back whole: those instances are computed.`)
  if (input.cache.mode === 'write') await refreshOld(location, state.hits, found.written, signal)
  return state
}

/** An entry written this long ago is written again when hit, so that prune sees its folder in use. */
export const REFRESH_AFTER_MS = 7 * 24 * 3600_000

async function refreshOld(
  location: CacheLocation,
  hits: ReadonlyMap<number, CacheEntry>,
  written: ReadonlyMap<number, Date>,
  signal: AbortSignal
): Promise<void> {
  const entries = [...hits.values()]
  const fresh = entries.some(e => Date.now() - (written.get(e.id)?.getTime() ?? 0) <= REFRESH_AFTER_MS)
  try {
    // One fresh entry keeps the whole folder: prune goes by the folder's newest object.
    if (entries.length > 0 && !fresh) await putEntry(location, entries[0], signal)
  } catch (error) {
    if (signal.aborted) throw error
  }
}

function describeImage(image: ImageKey | undefined): CacheFacts['image'] {
  if (image === undefined) return undefined
  if (image.kind === 'digest') return { digest: image.digest }
  const name = image.reference.registry ? imageName(image.reference) : image.reference.repository
  return { name, reason: image.reason }
}

/** Writes one hit's output and result files; false (and nothing left behind) when any part is not right. */
async function makeWhole(
  input: CacheLookUpInput,
  state: { location: CacheLocation; outputs: InstanceOutputFiles },
  entry: CacheEntry,
  signal: AbortSignal
): Promise<boolean> {
  const placed: string[] = []
  try {
    const [stdout, stderr] = await Promise.all([
      readStoredBytes(state.location, entry.stdout, signal),
      readStoredBytes(state.location, entry.stderr, signal)
    ])
    if (entry.results.length > 0) {
      if (!input.results) return false
      const inline = new Map<string, Buffer>()
      const objects = entry.results.map(([path, sha256, size, bytes]) => {
        const key = bytes === undefined ? blobKey(state.location.stepDigest, sha256) : `inline/${path}`
        if (bytes !== undefined) inline.set(key, Buffer.from(bytes, 'base64'))
        return { key, size, path }
      })
      const written = await placeObjects(
        {
          store: withInline(input.store, inline),
          bucket: input.bucket,
          directory: input.results.directory,
          workspace: input.results.workspace,
          signal
        },
        objects
      )
      placed.push(...written.written.map(w => join(input.results!.directory, ...w.path.split('/'))))
      if (written.rejected.length > 0) throw new Error(written.rejected[0].reason)
      for (const [path, sha256] of entry.results) {
        const file = join(input.results.directory, ...path.split('/'))
        if ((await sha256File(file, signal)).sha256 !== sha256)
          throw new Error(`${path} does not match its hash`)
      }
    }
    state.outputs.append(entry.id, 'stdout', [stdout])
    state.outputs.append(entry.id, 'stderr', [stderr])
    return true
  } catch (error) {
    if (signal.aborted) throw error
    await Promise.all(placed.map(file => rm(file, { force: true })))
    return false
  }
}

/** The store, but serving the bytes an entry holds inline for their keys: they are placed like any download. */
function withInline(store: ObjectStore, inline: ReadonlyMap<string, Buffer>): ObjectStore {
  if (inline.size === 0) return store
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'getObjectStream') {
        const value = Reflect.get(target, property, receiver) as unknown
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      }
      return (bucket: string, key: string, signal: AbortSignal, range?: { start: number; end: number }) => {
        const bytes = inline.get(key)
        if (bytes === undefined) return target.getObjectStream(bucket, key, signal, range)
        const part = range ? bytes.subarray(range.start, range.end + 1) : bytes
        return Promise.resolve({ body: Readable.from([part]), size: bytes.length })
      }
    }
  })
}
