/**
 * What the emulated platform does with one task's files (docs/qarnot-api.md §8, docs/emulator.md "Storage"): the
 * task's resources are downloaded once into a cache folder of the task; each attempt of each instance gets its own
 * copy of them as its $TASK_PATH (copy-on-write clones where the file system has them, else plain copies: an
 * instance that writes to a resource never changes another's); when an instance ends, the files it created or
 * changed there go to the results bucket. Every piece of work is tracked, so that the task can wait for its uploads
 * (UploadingResults) and the emulator for everything before it removes folders.
 */
import { constants as fsConstants } from 'node:fs'
import { cp, mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import {
  materializeResources,
  snapshotDirectory,
  uploadResults,
  type AdvancedResourceBucketWire,
  type ResourceSnapshot,
  type ResultsFilterSubject,
  type ResultSpec
} from './instance.js'
import type { PlatformStore } from './platform-store.js'

/** The storage fields of a create body, as the emulator reads (and echoes) them. */
export interface TaskStorageSpec extends ResultSpec {
  readonly resourceBuckets: readonly string[]
  readonly advancedResourceBuckets: readonly AdvancedResourceBucketWire[]
  readonly uploadResultsOnCancellation: boolean | null
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null)

/** The storage fields of a bound create body (validation.ts has checked their types). */
export function storageSpecOf(body: Readonly<Record<string, unknown>>): TaskStorageSpec {
  const list = <T>(value: unknown): T[] => (Array.isArray(value) ? (value as T[]) : [])
  return {
    resourceBuckets: list<string>(body.resourceBuckets),
    advancedResourceBuckets: list<AdvancedResourceBucketWire>(body.advancedResourceBuckets),
    resultBucket: text(body.resultBucket),
    resultsBucket: text(body.resultsBucket),
    resultsBucketPrefix: text(body.resultsBucketPrefix),
    resultsWhitelist: text(body.resultsWhitelist),
    resultsBlacklist: text(body.resultsBlacklist),
    uploadResultsOnCancellation:
      typeof body.uploadResultsOnCancellation === 'boolean' ? body.uploadResultsOnCancellation : null
  }
}

export function hasResources(spec: TaskStorageSpec): boolean {
  return spec.resourceBuckets.length > 0 || spec.advancedResourceBuckets.length > 0
}

/** The bucket results go to (`resultBucket`, or the other name `resultsBucket`), if any. */
export function resultsBucketOf(spec: ResultSpec): string | undefined {
  return spec.resultBucket || spec.resultsBucket || undefined
}

/** Whether the task needs storage at all: resources to give, or results to keep. */
export function usesStorage(spec: TaskStorageSpec): boolean {
  return hasResources(spec) || resultsBucketOf(spec) !== undefined
}

export class TaskFiles {
  private readonly controller = new AbortController()
  private readonly pending = new Set<Promise<unknown>>()
  private cache: Promise<string | undefined> | undefined

  constructor(
    readonly spec: TaskStorageSpec,
    /** The store the platform uses (started on first need). */
    private readonly store: () => Promise<PlatformStore>,
    /** The task's own folder: the cache goes in it, beside the instances' folders. */
    private readonly taskPath: string,
    /** What the results filters are matched against (quirk `resultsFilterSubject`). */
    private readonly filterSubject: ResultsFilterSubject = 'relative'
  ) {}

  get hasResults(): boolean {
    return resultsBucketOf(this.spec) !== undefined
  }

  get resultsBucket(): string | undefined {
    return resultsBucketOf(this.spec)
  }

  /** Aborted when the task is disposed: every transfer under way stops. */
  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** Work to wait for before the task ends or its folders go. */
  track<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work)
    const forget = (): void => void this.pending.delete(work)
    work.then(forget, forget)
    return work
  }

  /** Resolves when no tracked work is left (work added while waiting included). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending])
  }

  /** Downloads the task's resources into its cache folder, once; the folder (undefined: no resources). */
  resources(): Promise<string | undefined> {
    this.cache ??= this.track(
      (async () => {
        if (!hasResources(this.spec)) return undefined
        const folder = join(this.taskPath, '.resources')
        await materializeResources(await this.store(), this.spec, folder, this.signal)
        return folder
      })()
    )
    return this.cache
  }

  /**
   * A fresh $TASK_PATH for one attempt of an instance: emptied (a retried or preempted instance starts on a new
   * machine), the resources copied in with their times; returns what it holds, for uploadResults.
   */
  async prepareInstance(dir: string): Promise<ResourceSnapshot> {
    return this.track(
      (async () => {
        const cache = await this.resources()
        this.signal.throwIfAborted()
        await rm(dir, { recursive: true, force: true })
        if (cache) {
          await cp(cache, dir, {
            recursive: true,
            preserveTimestamps: true,
            mode: fsConstants.COPYFILE_FICLONE
          })
        } else {
          await mkdir(dir, { recursive: true })
        }
        return snapshotDirectory(dir)
      })()
    )
  }

  /**
   * Uploads what the instance created or changed in `dir` to the results bucket (filters with `${NAME}`
   * substituted from `variables`), then removes the folder; resolves to the number of files sent. The caller
   * tracks it, with what it does of the outcome.
   */
  async upload(dir: string, snapshot: ResourceSnapshot, variables: Record<string, string>): Promise<number> {
    const done = await uploadResults(await this.store(), dir, this.spec, snapshot, {
      constants: variables,
      signal: this.signal,
      filterSubject: this.filterSubject
    })
    await rm(dir, { recursive: true, force: true })
    return done.files
  }

  /**
   * A snapshot: what the instance created or changed in `dir` so far goes to `spec`'s bucket; the folder stays, as
   * the instance still runs. Resolves to the number of files sent; the caller tracks it.
   */
  async uploadSnapshot(
    dir: string,
    snapshot: ResourceSnapshot,
    variables: Record<string, string>,
    spec: ResultSpec
  ): Promise<number> {
    const done = await uploadResults(await this.store(), dir, spec, snapshot, {
      constants: variables,
      signal: this.signal,
      filterSubject: this.filterSubject
    })
    return done.files
  }

  /** Stops every transfer; idle() then tells when they have let go. */
  dispose(): void {
    this.controller.abort(new Error('the task was deleted'))
  }
}
