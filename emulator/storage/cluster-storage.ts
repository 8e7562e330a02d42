/**
 * The storage of an emulated cluster (docs/emulator.md, "Storage"): the emulated S3 storage (emulated-storage.ts)
 * started on first need and stopped with the emulator, and what the emulated platform does with it at create time
 * (docs/qarnot-api.md §3 and §8): resource buckets must exist, the results bucket is made when missing.
 *
 * Nothing heavy is imported here: s3rver and the AWS SDK (about 330 ms of module loading per test file) are loaded
 * by the first start, so an emulator whose tests never touch storage pays nothing for it.
 */
import type { EmulatedStorage, StorageQuota } from './emulated-storage.js'
import { checkBucketsExist, isBucketName, type ResourceSpec } from './instance.js'
import { ensureBucket, type PlatformStore } from './platform-store.js'

export interface ClusterStorageOptions {
  /** The account's email: the storage access key (docs/qarnot-api.md §8). */
  readonly email: string
  /** The API token: the storage secret key. */
  readonly token: string
  /** Added to every client request (not to the platform's own). */
  readonly latencyMs?: number
  /** The account's storage quotas (enforced by the storage). */
  readonly quota?: StorageQuota
}

export class ClusterStorage {
  private starting: Promise<EmulatedStorage> | undefined
  private started: EmulatedStorage | undefined
  private internal: (PlatformStore & { destroy(): void }) | undefined
  private stopped = false

  constructor(private readonly options: ClusterStorageOptions) {}

  /** The storage if it has started (undefined before its first use). */
  get running(): EmulatedStorage | undefined {
    return this.started
  }

  /** Starts the storage once (a failed start is tried again on the next call); refused after stop(). */
  start(): Promise<EmulatedStorage> {
    if (this.stopped) return Promise.reject(new Error('the emulator has stopped'))
    this.starting ??= (async () => {
      const { startEmulatedStorage } = await import('./emulated-storage.js')
      const storage = await startEmulatedStorage(this.options)
      if (this.stopped) {
        await storage.stop()
        throw new Error('the emulator has stopped')
      }
      this.started = storage
      return storage
    })().catch((error: unknown) => {
      this.starting = undefined
      throw error
    })
    return this.starting
  }

  /** The store the emulated platform itself uses (instances' downloads and uploads): one client, kept. */
  async platformStore(): Promise<PlatformStore> {
    const storage = await this.start()
    this.internal ??= storage.internalStore()
    return this.internal
  }

  /** The resource buckets a create names that do not exist, in the order they are named. */
  async missingBuckets(spec: ResourceSpec): Promise<string[]> {
    return checkBucketsExist(await this.platformStore(), spec)
  }

  /**
   * Makes a bucket unless it exists (a results bucket, §8); false when its name cannot be a bucket's, other
   * failures thrown.
   */
  async makeBucket(name: string): Promise<boolean> {
    if (!isBucketName(name)) return false
    try {
      await ensureBucket(await this.platformStore(), name, new AbortController().signal)
      return true
    } catch (error) {
      if ((error as { name?: string }).name === 'InvalidBucketName') return false
      throw error
    }
  }

  /** Stops the storage (waiting for a start under way) and removes its folder. */
  async stop(): Promise<void> {
    this.stopped = true
    const starting = this.starting
    this.starting = undefined
    const storage = await starting?.catch(() => undefined)
    this.internal?.destroy()
    this.internal = undefined
    this.started = undefined
    await storage?.stop()
  }
}
