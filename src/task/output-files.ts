/**
 * Each instance's complete output on disk, as it arrives: `<id>.stdout.log` and `<id>.stderr.log` in the logs
 * folder, written only for instances that printed something (an instance without a file printed nothing), and
 * `unattributed.<stream>.log` for lines that came without an instance prefix. Memory holds only byte counts; the
 * report reads heads and tails back from the files.
 */
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  statSync
} from 'node:fs'
import { join } from 'node:path'
import type { OutputStream } from '../qarnot/client.js'
import { UNATTRIBUTED } from './logs.js'

export class InstanceOutputFiles {
  private readonly sizes = new Map<string, number>()

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true })
  }

  path(id: number, stream: OutputStream): string {
    return join(this.dir, `${id === UNATTRIBUTED ? 'unattributed' : id}.${stream}.log`)
  }

  append(id: number, stream: OutputStream, pieces: readonly Buffer[]): void {
    const data = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces)
    if (data.length === 0) return
    appendFileSync(this.path(id, stream), data)
    const key = `${id}.${stream}`
    this.sizes.set(key, (this.sizes.get(key) ?? 0) + data.length)
  }

  /** Replaces an instance's file with another file (a repair read), moved in place. */
  replaceWith(id: number, stream: OutputStream, source: string): void {
    renameSync(source, this.path(id, stream))
    this.sizes.set(`${id}.${stream}`, statSync(this.path(id, stream)).size)
  }

  /** Takes a copy of another folder's file for an instance (a follow-up task replaying what a first one had). */
  copyFrom(other: InstanceOutputFiles, id: number, stream: OutputStream): void {
    if (other.size(id, stream) === 0) return
    copyFileSync(other.path(id, stream), this.path(id, stream))
    this.sizes.set(`${id}.${stream}`, other.size(id, stream))
  }

  size(id: number, stream: OutputStream): number {
    return this.sizes.get(`${id}.${stream}`) ?? 0
  }

  /** Ids that have output in either stream, the unattributed lines aside. */
  idsWithOutput(): number[] {
    const ids = new Set<number>()
    for (const key of this.sizes.keys()) ids.add(Number(key.slice(0, key.indexOf('.'))))
    ids.delete(UNATTRIBUTED)
    return [...ids]
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
  const length = Math.min(totalBytes, Math.max(0, Math.floor(maxBytes)))
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
  if (where === 'head' && length < totalBytes) end = wholeCharacterEnd(buffer, end)
  return { text: buffer.subarray(start, end).toString('utf8'), totalBytes }
}

/** Where a byte range ending at `end` stops on a whole UTF-8 character. */
export function wholeCharacterEnd(buffer: Buffer, end: number): number {
  let lead = end - 1
  while (lead > 0 && (buffer[lead] & 0xc0) === 0x80) lead--
  if (lead < 0) return end
  const needed = buffer[lead] >= 0xf0 ? 4 : buffer[lead] >= 0xe0 ? 3 : buffer[lead] >= 0xc0 ? 2 : 1
  return lead + needed > end ? lead : end
}
