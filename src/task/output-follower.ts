/**
 * Following a task's output while it runs: at most one fresh read per stream per poll at task level (so the cost
 * does not grow with the instance count), split per instance, written to files as it arrives, and handed to the
 * live log. Per-instance reads happen only to repair what a failed read may have lost.
 */
import type { OutputStream, QarnotClient } from '../qarnot/client.js'
import { formatIds } from '../ranges.js'
import { TaskOutputDemux, type InstanceChunks } from './logs.js'
import type { InstanceOutputFiles } from './output-files.js'

export const STREAMS: readonly OutputStream[] = ['stdout', 'stderr']
/** Output is written to files (and the live log) at least every this many bytes, so memory stays flat. */
export const FLUSH_BYTES = 256 * 1024
/** A read this large suggests more is waiting: the caller polls again soon, before the server's buffer rotates. */
export const BUSY_READ_BYTES = 256 * 1024

export interface FollowerOptions {
  readonly client: Pick<QarnotClient, 'streamFreshTaskOutput' | 'instanceOutput'>
  readonly uuid: string
  readonly files: InstanceOutputFiles
  /**
   * Complete lines of one flush, per instance, for the live log; absent when logs are not streamed. A returned
   * promise (the log's pipe is full) holds the reading back, so a slow log never fills memory.
   */
  readonly onOutput?: (stream: OutputStream, chunks: ReadonlyMap<number, string>) => void | Promise<void>
  /** Says what the follower does out of the ordinary (repairs, lost reads). */
  readonly log: (message: string) => void
  readonly flushBytes?: number
  /** When it aborts (the step is being stopped), a read under way ends at once rather than at its end. */
  readonly stop?: AbortSignal
}

class ReadStopped extends Error {
  constructor() {
    super('stopped: the step is being cancelled')
  }
}

export class OutputFollower {
  private readonly demux = { stdout: new TaskOutputDemux(), stderr: new TaskOutputDemux() }
  /** Instances known complete when the last successful read cycle started: their output was fully read. */
  private settled = new Set<number>()
  /** After a failed read: the instances that were settled before it; every other one is repaired at the end. */
  private safeFromLoss: Set<number> | undefined
  lostReads = 0
  bytesRead = 0
  repairReads = 0
  lastReadBytes = 0

  constructor(private readonly options: FollowerOptions) {}

  /** One fresh read of each stream. `completedIds`: instances the last status read reported complete. */
  async readNew(completedIds: ReadonlySet<number>): Promise<number> {
    let received = 0
    if (this.options.stop?.aborted) return 0
    let failed = false
    for (const stream of STREAMS) {
      try {
        received += await this.readStream(stream)
      } catch (error) {
        failed = true
        this.lostReads++
        if (this.options.stop?.aborted) break // cut short on purpose: the step is being cancelled
        this.options.log(
          `Reading new ${stream} failed (${error instanceof Error ? error.message : String(error)}); output it held will be read again per instance after the end.`
        )
      }
    }
    // Any instance not complete before the last good read may have printed into the lost answer.
    if (failed) this.safeFromLoss ??= new Set(this.settled)
    else this.settled = new Set(completedIds)
    this.lastReadBytes = received
    return received
  }

  /**
   * After the task's end: reads until a round brings nothing new (at most `rounds`), flushes held partial lines,
   * then repairs what failed reads may have lost. `ids` are all the task's instances. With `repair: false` (the
   * step is being cancelled and has seconds left) what is lost stays lost, and the log says so.
   */
  async finish(ids: readonly number[], { rounds = 3, repair = true } = {}): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      if ((await this.readNew(new Set(ids))) === 0) break
    }
    for (const stream of STREAMS) await this.write(stream, this.demux[stream].flush())
    const unprefixed = this.demux.stdout.unprefixedLines + this.demux.stderr.unprefixedLines
    if (unprefixed > 0) {
      this.options.log(
        `${unprefixed} output line${unprefixed > 1 ? 's' : ''} had no instance prefix (the server's output buffer may have rotated); those lines were given to the instance of the line before.`
      )
    }
    const safe = this.safeFromLoss
    if (safe && repair) await this.repair(ids.filter(id => !safe.has(id)))
    else if (safe)
      this.options.log('Output lost in failed reads is not repaired: the step is being cancelled.')
  }

  private async readStream(stream: OutputStream): Promise<number> {
    const demux = this.demux[stream]
    const flushBytes = this.options.flushBytes ?? FLUSH_BYTES
    let pending: InstanceChunks = new Map()
    let pendingBytes = 0
    let received = 0
    await this.options.client.streamFreshTaskOutput(this.options.uuid, stream, async chunk => {
      if (this.options.stop?.aborted) throw new ReadStopped()
      received += chunk.length
      demux.feed(chunk, pending)
      pendingBytes += chunk.length
      if (pendingBytes >= flushBytes) {
        const full = pending
        pending = new Map()
        pendingBytes = 0
        await this.write(stream, full)
      }
    })
    await this.write(stream, pending)
    this.bytesRead += received
    return received
  }

  private async write(stream: OutputStream, chunks: InstanceChunks): Promise<void> {
    if (chunks.size === 0) return
    const texts = this.options.onOutput ? new Map<number, string>() : undefined
    for (const [id, pieces] of chunks) {
      this.options.files.append(id, stream, pieces)
      texts?.set(id, Buffer.concat(pieces).toString('utf8'))
    }
    if (texts) await this.options.onOutput?.(stream, texts)
  }

  /** Reads whole outputs of `ids` per instance, keeping whichever copy is longer. */
  private async repair(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return
    this.options.log(
      `Repairing the output of instance${ids.length > 1 ? 's' : ''} ${formatIds(ids)} with per-instance reads, after ${this.lostReads} failed read${this.lostReads === 1 ? '' : 's'}.`
    )
    for (const id of ids) {
      for (const stream of STREAMS) {
        this.repairReads++
        const whole = await this.options.client.instanceOutput(this.options.uuid, stream, id)
        if (Buffer.byteLength(whole, 'utf8') > this.options.files.size(id, stream)) {
          this.options.files.replace(id, stream, whole)
        }
      }
    }
  }
}
