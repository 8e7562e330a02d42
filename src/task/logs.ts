/**
 * Demultiplexing the task-level output stream (`0> line`, `3> line`, interleaved in arrival order) into each
 * instance's own bytes. Pure and incremental: chunks may end anywhere, even inside a line or a UTF-8 character;
 * the incomplete tail is held until the next chunk. Only the first `<id>> ` of a line is a prefix (leading spaces
 * tolerated, as one fixture pads it); the rest is the instance's text, byte for byte.
 */

const NEWLINE = 0x0a
const SPACE = 0x20
const GT = 0x3e

/** Bytes per instance id, in the order they arrived. */
export type InstanceChunks = Map<number, Buffer[]>

/** The id and where the text starts, or undefined when the line has no `<id>> ` prefix. */
export function parsePrefix(line: Buffer): { id: number; start: number } | undefined {
  let i = 0
  while (i < line.length && line[i] === SPACE) i++
  const digitsStart = i
  while (i < line.length && line[i] >= 0x30 && line[i] <= 0x39 && i - digitsStart < 10) i++
  if (i === digitsStart || line[i] !== GT || line[i + 1] !== SPACE) return undefined
  return { id: Number(line.subarray(digitsStart, i).toString('latin1')), start: i + 2 }
}

export class TaskOutputDemux {
  private carry: Buffer = Buffer.alloc(0)
  private lastId: number | undefined
  /** Lines that had no prefix: a sign that the server's buffer rotated inside a line, or of a format change. */
  unprefixedLines = 0

  /** Feeds a chunk of the stream; returns the complete lines it finished, per instance. */
  feed(chunk: Buffer, into: InstanceChunks = new Map()): InstanceChunks {
    let data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk
    let start = 0
    for (;;) {
      const newline = data.indexOf(NEWLINE, start)
      if (newline < 0) break
      this.line(data.subarray(start, newline + 1), into)
      start = newline + 1
    }
    data = data.subarray(start)
    // Copy so the caller's (possibly large) chunk is not kept alive by a small tail.
    this.carry = data.length > 0 ? Buffer.from(data) : Buffer.alloc(0)
    return into
  }

  /** The stream has ended: whatever is held is a last line without its newline. */
  flush(into: InstanceChunks = new Map()): InstanceChunks {
    if (this.carry.length > 0) this.line(this.carry, into)
    this.carry = Buffer.alloc(0)
    return into
  }

  get pendingBytes(): number {
    return this.carry.length
  }

  private line(line: Buffer, into: InstanceChunks): void {
    const prefix = parsePrefix(line)
    let id: number | undefined
    let text: Buffer
    if (prefix) {
      id = prefix.id
      text = line.subarray(prefix.start)
    } else {
      this.unprefixedLines++
      id = this.lastId
      text = line
    }
    if (id === undefined) return
    this.lastId = id
    const pieces = into.get(id)
    if (pieces) pieces.push(text)
    else into.set(id, [text])
  }
}
