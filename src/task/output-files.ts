/**
 * Each instance's complete output on disk, as it arrives: `<id>.stdout.log` and `<id>.stderr.log` in the logs
 * folder. Memory holds only byte counts; the report reads heads and tails back from the files.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { join } from 'node:path'
import type { OutputStream } from '../qarnot/client.js'

export class InstanceOutputFiles {
  private readonly sizes = new Map<string, number>()

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true })
  }

  path(id: number, stream: OutputStream): string {
    return join(this.dir, `${id}.${stream}.log`)
  }

  append(id: number, stream: OutputStream, pieces: readonly Buffer[]): void {
    const data = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces)
    if (data.length === 0) return
    appendFileSync(this.path(id, stream), data)
    const key = `${id}.${stream}`
    this.sizes.set(key, (this.sizes.get(key) ?? 0) + data.length)
  }

  /** Replaces an instance's file with what a repair read returned. */
  replace(id: number, stream: OutputStream, text: string): void {
    const data = Buffer.from(text, 'utf8')
    writeFileSync(this.path(id, stream), data)
    this.sizes.set(`${id}.${stream}`, data.length)
  }

  size(id: number, stream: OutputStream): number {
    return this.sizes.get(`${id}.${stream}`) ?? 0
  }

  /** Makes sure every instance has both files, empty when it printed nothing. */
  ensureFiles(ids: readonly number[]): void {
    for (const id of ids) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const path = this.path(id, stream)
        if (!existsSync(path)) writeFileSync(path, '')
      }
    }
  }

  /** At most `maxBytes` from the end of a file, starting on a character (and a line when one starts nearby). */
  tail(id: number, stream: OutputStream, maxBytes: number): { text: string; totalBytes: number } {
    return readPart(this.path(id, stream), maxBytes, 'tail')
  }

  /** At most `maxBytes` from the start of a file, ending on a whole character. */
  head(id: number, stream: OutputStream, maxBytes: number): { text: string; totalBytes: number } {
    return readPart(this.path(id, stream), maxBytes, 'head')
  }
}

function readPart(
  path: string,
  maxBytes: number,
  where: 'head' | 'tail'
): { text: string; totalBytes: number } {
  if (!existsSync(path)) return { text: '', totalBytes: 0 }
  const totalBytes = statSync(path).size
  const length = Math.min(totalBytes, maxBytes)
  if (length <= 0) return { text: '', totalBytes }
  const buffer = Buffer.alloc(length)
  const fd = openSync(path, 'r')
  try {
    readSync(fd, buffer, 0, length, where === 'tail' ? totalBytes - length : 0)
  } finally {
    closeSync(fd)
  }
  let start = 0
  let end = length
  if (where === 'tail' && length < totalBytes) {
    while (start < end && (buffer[start] & 0xc0) === 0x80) start++
    const newline = buffer.indexOf(0x0a, start)
    if (newline >= 0 && newline - start < 1024 && newline + 1 < end) start = newline + 1
  }
  if (where === 'head' && length < totalBytes) {
    // Drop a character cut at the end: find the last lead byte and check its sequence is complete.
    let lead = end - 1
    while (lead > 0 && (buffer[lead] & 0xc0) === 0x80) lead--
    const needed = buffer[lead] >= 0xf0 ? 4 : buffer[lead] >= 0xe0 ? 3 : buffer[lead] >= 0xc0 ? 2 : 1
    if (lead + needed > end) end = lead
  }
  return { text: buffer.subarray(start, end).toString('utf8'), totalBytes }
}
