/**
 * Following a task's output while it runs: at most one fresh read per stream per poll at task level (so the cost
 * does not grow with the instance count), split per instance, written to files as it arrives, and handed to the
 * live log. After the end, what was collected is checked against one whole read of each stream (output lost in a
 * failed read, or taken by another reader of the same cursor, comes back that way at O(1) requests:
 * docs/qarnot-api.md §2), and only what that cannot settle is read again per instance, concurrently and bounded.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { SinkStopped, type OutputStream, type QarnotClient } from '../qarnot/client.js'
import { QarnotApiError } from '../qarnot/errors.js'
import { formatIds } from '../ranges.js'
import { errorMessage, plural } from '../words.js'
import { TaskOutputDemux, UNATTRIBUTED, type InstanceChunks } from './logs.js'
import { InstanceOutputFiles } from './output-files.js'
import { WholeReadCopy } from './whole-read-copy.js'

export const STREAMS: readonly OutputStream[] = ['stdout', 'stderr']
/** Output is written to files (and the live log) at least every this many bytes, so memory stays flat. */
export const FLUSH_BYTES = 256 * 1024
/** A read this large suggests more is waiting: the caller polls again soon, before the server's buffer rotates. */
export const BUSY_READ_BYTES = 256 * 1024
/** The server's output buffer is bounded (size unpublished): a whole read is trusted up to this size per stream. */
export const WHOLE_READ_MAX_BYTES = 32 * 1024 * 1024
/** Per-instance repair reads, at most, and how many at once. */
export const MAX_REPAIR_INSTANCES = 200
const REPAIR_CONCURRENCY = 8
/** The live log holds back a line's unfinished end, up to this much, so that a line is not split in the log. */
const LOG_HOLD_BYTES = 1024 * 1024

export type OutputClient = Pick<QarnotClient, 'readTaskOutput' | 'readInstanceOutput'>

export interface FollowerOptions {
  readonly client: OutputClient
  readonly uuid: string
  readonly files: InstanceOutputFiles
  /**
   * Lines of one flush, per instance, for the live log; absent when logs are not streamed. A returned promise (the
   * log's pipe is full) holds the reading back, so a slow log never fills memory.
   */
  readonly onOutput?: (stream: OutputStream, chunks: ReadonlyMap<number, string>) => void | Promise<void>
  /** Says what the follower does out of the ordinary (repairs, lost reads). */
  readonly log: (message: string) => void
  readonly flushBytes?: number
  /** When it aborts (the step is being stopped), a read under way ends at once rather than at its end. */
  readonly stop?: AbortSignal
  /**
   * Another step may have read the task's fresh output before (a task handed off, then collected): every instance
   * is a suspect until a whole read settles it, so that the report holds its whole output.
   */
  readonly readBefore?: boolean
}

interface HeldLine {
  id: number
  pieces: Buffer[]
  bytes: number
}

export class OutputFollower {
  private readonly demux = { stdout: new TaskOutputDemux(), stderr: new TaskOutputDemux() }
  private readonly held: Record<OutputStream, HeldLine | undefined> = { stdout: undefined, stderr: undefined }
  /** Instances known complete when the last successful read cycle started: their output was fully read. */
  private settled = new Set<number>()
  /** After a failed read: the instances settled before it, safe from every loss; all others are suspects. */
  private safeFromLoss: Set<number> | undefined
  /** Instances whose output may be missing something or be cut: read again after the end. */
  private readonly suspects = new Set<number>()
  /** The task was deleted (a read answered 404): nothing more can be read. */
  private gone = false
  lostReads = 0
  bytesRead = 0
  readonly streamBytes: Record<OutputStream, number> = { stdout: 0, stderr: 0 }
  repairReads = 0
  wholeReads = 0
  lastReadBytes = 0
  /** Sentences for the report: what could not be read or checked. */
  readonly notes: string[] = []

  /** What reads, and what stops the reads: the options' own, until finish() is given others. */
  private reader: { client: OutputClient; stop?: AbortSignal }

  constructor(private readonly options: FollowerOptions) {
    this.reader = { client: options.client, stop: options.stop }
    if (options.readBefore) this.safeFromLoss = new Set()
  }

  /** One fresh read of each stream. `completedIds`: instances the last status read reported complete. */
  async readNew(completedIds: ReadonlySet<number>): Promise<number> {
    let received = 0
    if (this.reader.stop?.aborted || this.gone) return 0
    let failed = false
    for (const stream of STREAMS) {
      try {
        received += await this.readStream(stream)
      } catch (error) {
        failed = true
        if (this.isGone(error)) break
        this.lostReads++
        const cut = this.demux[stream].abandonLine()
        if (cut !== undefined && cut !== UNATTRIBUTED) this.suspects.add(cut)
        await this.releaseHeld(stream)
        if (this.reader.stop?.aborted) break // cut short on purpose: the step is being cancelled
        this.options.log(
          `Reading new ${stream} failed (${errorMessage(error)}); what it held is read again after the end.`
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
   * After the task's end: reads until a round brings nothing new (at most `rounds`), then checks the collected
   * output against a whole read and repairs what it cannot settle. `ids` are the task's instances. With
   * `verify: false` (the step is being cancelled and has seconds left) what is lost stays lost, and the log says so.
   */
  async finish(
    ids: readonly number[],
    {
      rounds = 3,
      verify = true,
      client,
      stop
    }: { rounds?: number; verify?: boolean; client?: OutputClient; stop?: AbortSignal } = {}
  ): Promise<void> {
    // After a timeout the reads while following were cut off: the last ones get their own, short, bound.
    if (client) this.reader = { client, stop }
    for (let round = 0; round < rounds; round++) {
      if ((await this.readNew(new Set(ids))) === 0) break
    }
    for (const stream of STREAMS) {
      await this.write(stream, this.demux[stream].flush(), true)
      await this.releaseHeld(stream)
    }
    this.reportUnattributed()
    const safe = this.safeFromLoss
    if (safe) for (const id of ids) if (!safe.has(id)) this.suspects.add(id)
    if (!verify) {
      if (this.suspects.size > 0)
        this.note('Output lost in failed reads was not read again: the step was cancelled.')
      return
    }
    for (const stream of STREAMS) if (!this.gone) await this.verifyWithWholeRead(stream, ids)
    if (!this.gone) await this.repairSuspects()
  }

  /** A 404 on an output read: the task was deleted (auto-delete may remove a finished task, docs/qarnot-api.md §3). Said once. */
  private isGone(error: unknown): boolean {
    if (!(error instanceof QarnotApiError && error.status === 404)) return false
    if (!this.gone)
      this.note(
        'The task was deleted before all of its output could be read; the output shown is what was read before.'
      )
    this.gone = true
    return true
  }

  /** Recorded for the report, which logs it with the others. */
  private note(sentence: string): void {
    this.notes.push(sentence)
  }

  private reportUnattributed(): void {
    const count = this.demux.stdout.unprefixedLines + this.demux.stderr.unprefixedLines
    if (count === 0) return
    this.note(
      `${plural(count, 'output line')} came without an instance prefix (the server's output buffer may have rotated); they are kept apart in ${this.options.files.path(UNATTRIBUTED, 'stdout').replace(/stdout\.log$/, '<stream>.log')}, in no instance's output.`
    )
  }

  private async readStream(stream: OutputStream): Promise<number> {
    const demux = this.demux[stream]
    const flushBytes = this.options.flushBytes ?? FLUSH_BYTES
    let pending: InstanceChunks = new Map()
    let pendingBytes = 0
    let received = 0
    await this.reader.client.readTaskOutput(this.options.uuid, stream, 'fresh', async chunk => {
      if (this.reader.stop?.aborted) throw new SinkStopped('the step is being cancelled')
      received += chunk.length
      demux.feed(chunk, pending)
      pendingBytes += chunk.length
      if (pendingBytes >= flushBytes) {
        const full = pending
        pending = new Map()
        pendingBytes = 0
        await this.write(stream, full, false)
      }
    })
    await this.write(stream, pending, false)
    this.bytesRead += received
    this.streamBytes[stream] += received
    return received
  }

  /** To the files at once; to the live log by whole lines (a line's unfinished end waits, up to LOG_HOLD_BYTES). */
  private async write(stream: OutputStream, chunks: InstanceChunks, final: boolean): Promise<void> {
    for (const [id, pieces] of chunks) this.options.files.append(id, stream, pieces)
    if (!this.options.onOutput) return
    const inProgress = final ? undefined : this.demux[stream].lineInProgress
    const texts = new Map<number, string>()
    for (const [id, pieces] of chunks) {
      const held = this.held[stream]?.id === id ? this.held[stream] : undefined
      const all = held ? [...held.pieces, ...pieces] : pieces
      if (held) this.held[stream] = undefined
      if (id === inProgress) {
        const bytes = all.reduce((sum, piece) => sum + piece.length, 0)
        if (bytes < LOG_HOLD_BYTES) {
          const whole = Buffer.concat(all)
          const lastNewline = whole.lastIndexOf(0x0a)
          this.held[stream] = {
            id,
            pieces: [whole.subarray(lastNewline + 1)],
            bytes: whole.length - lastNewline - 1
          }
          if (lastNewline >= 0) texts.set(id, whole.subarray(0, lastNewline + 1).toString('utf8'))
          continue
        }
      }
      texts.set(id, Buffer.concat(all).toString('utf8'))
    }
    if (texts.size > 0) await this.options.onOutput(stream, texts)
  }

  private async releaseHeld(stream: OutputStream): Promise<void> {
    const held = this.held[stream]
    this.held[stream] = undefined
    if (held && held.bytes > 0 && this.options.onOutput) {
      await this.options.onOutput(stream, new Map([[held.id, Buffer.concat(held.pieces).toString('utf8')]]))
    }
  }

  /** Compares each instance's collected output with one whole read of the stream, and takes the whole read where it has more. */
  private async verifyWithWholeRead(stream: OutputStream, ids: readonly number[]): Promise<void> {
    if (this.streamBytes[stream] > WHOLE_READ_MAX_BYTES) {
      this.options.log(
        `The ${stream} (${(this.streamBytes[stream] / 1048576).toFixed(0)} MiB) is too large to be checked against a whole read; output taken by another reader while the task ran, if any, would be missing.`
      )
      return
    }
    const whole = new WholeReadCopy(join(this.options.files.dir, `.whole-${stream}`))
    try {
      const wholeBytes = await this.readWhole(stream, whole)
      if (wholeBytes === undefined) return
      // A whole read with less than we read ourselves, or starting inside a line, lost its beginning (rotation).
      const complete = wholeBytes >= this.streamBytes[stream] && whole.size(UNATTRIBUTED) === 0
      const replaced = this.takeFromWhole(stream, whole, ids, complete)
      if (replaced.length > 0) {
        this.note(
          `The ${stream} of ${plural(replaced.length, 'instance')} (${formatIds(replaced)}) was completed from a whole read: part of it had been lost in a failed read or taken by another reader of the task's output.`
        )
      }
    } finally {
      whole.dispose()
    }
  }

  private async readWhole(stream: OutputStream, into: WholeReadCopy): Promise<number | undefined> {
    let bytes = 0
    this.wholeReads++
    try {
      await this.reader.client.readTaskOutput(this.options.uuid, stream, 'whole', chunk => {
        if (this.reader.stop?.aborted) throw new SinkStopped('the step is being cancelled')
        bytes += chunk.length
        if (bytes > 2 * WHOLE_READ_MAX_BYTES)
          throw new SinkStopped('the whole output is larger than expected')
        into.add(chunk)
      })
      into.end()
      return bytes
    } catch (error) {
      if (!this.isGone(error))
        this.note(`The whole ${stream} could not be read to check the output (${errorMessage(error)}).`)
      return undefined
    }
  }

  /** Takes the whole read's copy where it holds more (or, when complete, where it differs); returns the ids taken. */
  private takeFromWhole(
    stream: OutputStream,
    whole: WholeReadCopy,
    ids: readonly number[],
    complete: boolean
  ): number[] {
    const files = this.options.files
    const more = new Set<number>()
    const same = new Set<number>()
    for (const id of new Set([...ids, ...whole.ids(), ...files.idsWithOutput()])) {
      const ours = files.size(id, stream)
      const theirs = whole.size(id)
      if (theirs > ours) more.add(id)
      else if (complete && this.suspects.has(id) && theirs === ours && ours > 0) same.add(id)
      // A rotated whole read may lack an instance's beginning too: its suspects are still read per instance. So is
      // a suspect that shows nothing at all: a rotation on a line boundary cannot be seen, and the read is cheap.
      if (complete && (ours > 0 || theirs > 0)) this.suspects.delete(id)
    }
    if (more.size + same.size === 0) return []
    const copy = new InstanceOutputFiles(join(this.options.files.dir, `.taken-${stream}`))
    try {
      whole.extract(new Set([...more, ...same]), stream, copy)
      for (const id of same) {
        if (!readFileSync(files.path(id, stream)).equals(readFileSync(copy.path(id, stream)))) more.add(id)
      }
      for (const id of more) files.replaceWith(id, stream, copy.path(id, stream))
    } finally {
      rmSync(copy.dir, { recursive: true, force: true })
    }
    return [...more].sort((a, b) => a - b)
  }

  /** Per-instance whole reads for what the whole task-level read could not settle: concurrent, and bounded. */
  private async repairSuspects(): Promise<void> {
    const ids = [...this.suspects].sort((a, b) => a - b)
    if (ids.length === 0) return
    const chosen = ids.slice(0, MAX_REPAIR_INSTANCES)
    this.options.log(
      `Reading the output of ${plural(chosen.length, 'instance')} (${formatIds(chosen)}) again, per instance.`
    )
    const scratch = join(this.options.files.dir, '.repair')
    mkdirSync(scratch, { recursive: true })
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < chosen.length && !this.reader.stop?.aborted && !this.gone) {
        await this.repairOne(chosen[next++], scratch)
      }
    }
    try {
      await Promise.all(Array.from({ length: REPAIR_CONCURRENCY }, worker))
    } finally {
      rmSync(scratch, { recursive: true, force: true })
    }
    if (ids.length > chosen.length) {
      this.note(
        `The output of ${plural(ids.length - chosen.length, 'more instance')} (${formatIds(ids.slice(chosen.length))}) may be incomplete: only ${MAX_REPAIR_INSTANCES} are read again per instance.`
      )
    }
  }

  private async repairOne(id: number, scratch: string): Promise<void> {
    const copy = new InstanceOutputFiles(join(scratch, String(id)))
    for (const stream of STREAMS) {
      this.repairReads++
      try {
        await this.reader.client.readInstanceOutput(this.options.uuid, stream, id, chunk =>
          copy.append(id, stream, [chunk])
        )
      } catch (error) {
        if (this.isGone(error)) return
        this.note(
          `The ${stream} of instance ${id} could not be read again (${errorMessage(error)}); it may be incomplete.`
        )
        continue
      }
      if (copy.size(id, stream) > this.options.files.size(id, stream)) {
        this.options.files.replaceWith(id, stream, copy.path(id, stream))
      }
    }
  }
}
