/**
 * The cache after the task (docs/cache.md, "What is stored"): only verified successes. An instance is stored when
 * it succeeded, the task's output was read whole, and, with `results`, every result file came back and each one
 * is attributable to it (the per-instance layout, `out/<id>/...`). Objects go first, the entry last. A failure
 * here is a note: the cache never fails the step.
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ensureBucket } from '../storage/connect.js'
import { sha256File } from '../storage/hashing.js'
import { mapLimit } from '../storage/pool.js'
import { instanceOfResult } from '../storage/session.js'
import type { InstanceOutputFiles } from '../task/output-files.js'
import type { InstanceResult } from '../task/verdict.js'
import { errorMessage, plural } from '../words.js'
import { putBlob, putEntry } from './cache-store.js'
import { ENTRY_FORMAT, INLINE_BYTES, storedBytes, type CacheEntry } from './entry.js'
import { instanceCacheKey } from './key.js'
import type { CacheState } from './lookup.js'

/** An instance whose output is larger than this is not stored (it would be read whole into memory). */
export const MAX_STORED_OUTPUT_BYTES = 64 * 1024 * 1024
const RECORD_CONCURRENCY = 32

export interface RecordInput {
  readonly state: CacheState
  readonly taskUuid: string
  /** The instances this task computed, as the verdict saw them. */
  readonly instances: readonly InstanceResult[]
  readonly files: InstanceOutputFiles
  /** Why the output may not be whole (the follower's notes); empty when it was read whole. */
  readonly outputNotes: readonly string[]
  /** With `results`: the folder, the files this task's bucket gave, and whether anything failed to come back. */
  readonly results:
    | { readonly directory: string; readonly written: readonly string[]; readonly incomplete: boolean }
    | undefined
  readonly now: Date
  readonly signal: AbortSignal
}

export interface Recorded {
  readonly stored: number
  readonly notes: string[]
}

export async function recordSuccesses(input: RecordInput): Promise<Recorded> {
  const { state, results } = input
  if (state.settings.mode !== 'write') return { stored: 0, notes: [] }
  const succeeded = input.instances.filter(i => i.state === 'Success')
  if (succeeded.length === 0) return { stored: 0, notes: [] }
  const nothing = (why: string): Recorded => ({
    stored: 0,
    notes: [`Nothing was stored in the cache: ${why}.`]
  })
  if (input.outputNotes.length > 0) return nothing('the task output was not read whole')
  if (results?.incomplete) return nothing('not every result file came back')
  const byInstance = new Map<number, string[]>()
  for (const path of results?.written ?? []) {
    const id = instanceOfResult(path)
    if (id === undefined)
      return nothing(
        `the result ${JSON.stringify(path)} belongs to no instance (write each instance's files under out/\${INSTANCE_ID}/ to cache them)`
      )
    byInstance.set(id, [...(byInstance.get(id) ?? []), path])
  }
  const { location } = state
  try {
    await ensureBucket(location.store, location.bucket, input.signal)
    const stored = await mapLimit(
      succeeded,
      RECORD_CONCURRENCY,
      (instance, s) => recordOne(input, instance, byInstance.get(instance.id) ?? [], s),
      input.signal
    )
    const count = stored.filter(Boolean).length
    const skipped = succeeded.length - count
    return {
      stored: count,
      notes:
        skipped > 0
          ? [
              `${plural(skipped, 'instance')} were not stored in the cache: their output is larger than 64 MiB.`
            ]
          : []
    }
  } catch (error) {
    if (input.signal.aborted)
      return { stored: 0, notes: ['The cache was not written: the step was stopped.'] }
    return {
      stored: 0,
      notes: [`The cache could not be written (${errorMessage(error)}); the step's verdict is unchanged.`]
    }
  }
}

async function recordOne(
  input: RecordInput,
  instance: InstanceResult,
  paths: readonly string[],
  signal: AbortSignal
): Promise<boolean> {
  const { location } = input.state
  const read = async (stream: 'stdout' | 'stderr'): Promise<Buffer | undefined> => {
    const path = input.files.path(instance.id, stream)
    const size = await stat(path).then(
      s => s.size,
      () => 0
    )
    if (size > MAX_STORED_OUTPUT_BYTES) return undefined
    return size === 0 ? Buffer.alloc(0) : readFile(path, { signal })
  }
  const [stdout, stderr] = await Promise.all([read('stdout'), read('stderr')])
  if (!stdout || !stderr) return false
  const outputs = [storedBytes(stdout), storedBytes(stderr)]
  for (const [stored, bytes] of [
    [outputs[0], stdout],
    [outputs[1], stderr]
  ] as const) {
    if (stored.inline === undefined) await putBlob(location, stored.sha256, { bytes }, signal)
  }
  const results: CacheEntry['results'] = []
  for (const path of [...paths].sort()) {
    const file = join(input.results?.directory ?? '', ...path.split('/'))
    // A small file is read once, hashed and kept inline; a large one is hashed streaming, then uploaded.
    if ((await stat(file)).size <= INLINE_BYTES) {
      const bytes = await readFile(file, { signal })
      const { sha256, size, inline } = storedBytes(bytes)
      // (It grew since: then it goes up as an object like a large one.)
      if (inline === undefined) await putBlob(location, sha256, { bytes }, signal)
      results.push(inline === undefined ? [path, sha256, size] : [path, sha256, size, inline])
      continue
    }
    const { sha256, size } = await sha256File(file, signal)
    await putBlob(location, sha256, { path: file, size }, signal)
    results.push([path, sha256, size])
  }
  const entry: CacheEntry = {
    format: ENTRY_FORMAT,
    key: instanceCacheKey(location.stepDigest, instance.id),
    id: instance.id,
    task: input.taskUuid,
    createdAt: input.now.toISOString(),
    ...(instance.wallTimeSec !== undefined && { wallTimeSec: instance.wallTimeSec }),
    ...(instance.execTimeSec !== undefined && { execTimeSec: instance.execTimeSec }),
    ...(instance.peakMemoryMB !== undefined && { peakMemoryMB: instance.peakMemoryMB }),
    taskInstances: input.instances.length,
    stdout: outputs[0],
    stderr: outputs[1],
    results
  }
  await putEntry(location, entry, signal)
  return true
}
