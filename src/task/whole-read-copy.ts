/**
 * A whole read of a task's output stream, demultiplexed into one scratch file: each instance's pieces are appended
 * as they come and remembered as byte ranges. Checking 10,000 instances against it then opens one file, not 10,000
 * (one per instance was most of the action's work after a large task's end).
 */
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs'
import { UNATTRIBUTED } from './logs.js'

/** Pieces are written in batches of about this size. */
const WRITE_BATCH_BYTES = 1024 * 1024

export class WholeReadCopy {
  private readonly fd: number
  /** id -> [offset, length] ranges in the scratch file, in order. */
  private readonly ranges = new Map<number, [number, number][]>()
  private written = 0
  private pending: Buffer[] = []
  private pendingBytes = 0

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w+')
  }

  append(id: number, pieces: readonly Buffer[]): void {
    for (const piece of pieces) {
      if (piece.length === 0) continue
      const offset = this.written + this.pendingBytes
      const ranges = this.ranges.get(id) ?? []
      const last = ranges[ranges.length - 1]
      if (last && last[0] + last[1] === offset) last[1] += piece.length
      else ranges.push([offset, piece.length])
      this.ranges.set(id, ranges)
      this.pending.push(piece)
      this.pendingBytes += piece.length
      if (this.pendingBytes >= WRITE_BATCH_BYTES) this.flush()
    }
  }

  size(id: number): number {
    let bytes = 0
    for (const [, length] of this.ranges.get(id) ?? []) bytes += length
    return bytes
  }

  /** Ids with output in this read, the unattributed lines aside. */
  ids(): number[] {
    return [...this.ranges.keys()].filter(id => id !== UNATTRIBUTED)
  }

  /** An instance's whole output in this read (bounded: whole reads are checked only up to a few tens of MiB). */
  read(id: number): Buffer {
    this.flush()
    const ranges = this.ranges.get(id) ?? []
    const data = Buffer.allocUnsafe(this.size(id))
    let at = 0
    for (const [offset, length] of ranges) {
      let done = 0
      while (done < length) done += readSync(this.fd, data, at + done, length - done, offset + done)
      at += length
    }
    return data
  }

  /** Closes and removes the scratch file. */
  dispose(): void {
    try {
      closeSync(this.fd)
    } finally {
      rmSync(this.path, { force: true })
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
