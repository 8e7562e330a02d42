/**
 * A whole read of a task's output stream, kept as it came in one scratch file, with each instance's byte count.
 * Checking 10,000 instances against it opens one file, not 10,000 (one per instance was most of the action's work
 * after a large task's end), and memory holds one count per instance whatever the output looks like. The few
 * instances whose output must be taken from it are demultiplexed again from the file, in one pass.
 */
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs'
import type { OutputStream } from '../qarnot/client.js'
import { TaskOutputDemux, UNATTRIBUTED, type InstanceChunks } from './logs.js'
import type { InstanceOutputFiles } from './output-files.js'

/** Chunks are written, and read back, in pieces of about this size. */
const BATCH_BYTES = 1024 * 1024

export class WholeReadCopy {
  private readonly fd: number
  private readonly demux = new TaskOutputDemux()
  private readonly sizes = new Map<number, number>()
  private written = 0
  private pending: Buffer[] = []
  private pendingBytes = 0

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w+')
  }

  /** One chunk of the whole read, as it came. */
  add(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.count(this.demux.feed(chunk))
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    if (this.pendingBytes >= BATCH_BYTES) this.flush()
  }

  /** The read is over: a last line without a newline is counted. */
  end(): void {
    this.count(this.demux.flush())
    this.flush()
  }

  size(id: number): number {
    return this.sizes.get(id) ?? 0
  }

  /** Ids with output in this read, the unattributed lines aside. */
  ids(): number[] {
    return [...this.sizes.keys()].filter(id => id !== UNATTRIBUTED)
  }

  /** The output of the `wanted` instances, demultiplexed again from the file into `into`, in one pass. */
  extract(wanted: ReadonlySet<number>, stream: OutputStream, into: InstanceOutputFiles): void {
    this.flush()
    const demux = new TaskOutputDemux()
    const buffer = Buffer.allocUnsafe(BATCH_BYTES)
    const keep = (chunks: InstanceChunks): void => {
      for (const [id, pieces] of chunks) if (wanted.has(id)) into.append(id, stream, pieces)
    }
    for (let offset = 0; offset < this.written;) {
      const read = readSync(this.fd, buffer, 0, Math.min(BATCH_BYTES, this.written - offset), offset)
      if (read === 0) throw new Error(`the scratch file ${this.path} was cut short`)
      // Pieces are slices of `buffer`: append copies them before the next read overwrites it.
      keep(demux.feed(buffer.subarray(0, read)))
      offset += read
    }
    keep(demux.flush())
  }

  /** Closes and removes the scratch file. */
  dispose(): void {
    try {
      closeSync(this.fd)
    } finally {
      rmSync(this.path, { force: true })
    }
  }

  private count(chunks: InstanceChunks): void {
    for (const [id, pieces] of chunks) {
      let bytes = 0
      for (const piece of pieces) bytes += piece.length
      this.sizes.set(id, (this.sizes.get(id) ?? 0) + bytes)
    }
  }

  private flush(): void {
    if (this.pendingBytes === 0) return
    const data = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes)
    let done = 0
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, this.written + done)
    this.written += data.length
    this.pending = []
    this.pendingBytes = 0
  }
}
