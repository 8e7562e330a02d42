/**
 * Demultiplexing the task-level output stream (`0> line`, `3> line`, interleaved in arrival order, docs/qarnot-api.md
 * §2) into each instance's own bytes. Pure, incremental and linear: chunks may end anywhere, even inside a prefix, a
 * line or a UTF-8 character; a line is never held whole (its bytes are handed on as they come, as slices of the
 * chunks), so a line of hundreds of MB costs no more than its bytes. Only the first `<id>> ` of a line is a prefix
 * (leading spaces tolerated, as one fixture pads it); the rest is the instance's text, byte for byte.
 */

const NEWLINE = 0x0a
const SPACE = 0x20
const GT = 0x3e
/** Leading spaces and up to 10 digits, `>`, space: a prefix is decided within this many bytes. */
const MAX_PREFIX_BYTES = 48

/** Bytes per instance id, in the order they arrived. */
export type InstanceChunks = Map<number, Buffer[]>

/** Where lines without an instance prefix go: no instance's output is corrupted by them. */
export const UNATTRIBUTED = -1

/** The id and where the text starts, `undefined` when the line has no `<id>> ` prefix, `null` when it is too soon to say. */
export function parsePrefix(line: Buffer): { id: number; start: number } | undefined | null {
  let i = 0
  while (i < line.length && line[i] === SPACE) i++
  const digitsStart = i
  while (i < line.length && line[i] >= 0x30 && line[i] <= 0x39 && i - digitsStart < 10) i++
  if (i === line.length || (i - digitsStart > 0 && i + 1 === line.length && line[i] === GT)) {
    return line.length < MAX_PREFIX_BYTES && line.indexOf(NEWLINE) < 0 ? null : undefined
  }
  if (i === digitsStart || line[i] !== GT || line[i + 1] !== SPACE) return undefined
  return { id: Number(line.subarray(digitsStart, i).toString('latin1')), start: i + 2 }
}

function push(into: InstanceChunks, id: number, piece: Buffer): void {
  if (piece.length === 0) return
  const pieces = into.get(id)
  if (pieces) pieces.push(piece)
  else into.set(id, [piece])
}

export class TaskOutputDemux {
  /** The start of a line while its prefix is not yet decided (at most MAX_PREFIX_BYTES). */
  private head: Buffer = Buffer.alloc(0)
  /** The instance of the line in progress, once its prefix was read; undefined at a line start. */
  private current: number | undefined
  /** Lines that had no prefix: a sign that the server's buffer rotated inside a line, or of a format change. */
  unprefixedLines = 0

  /** Feeds a chunk of the stream; returns its bytes per instance (slices of the chunk, no copies). */
  feed(chunk: Buffer, into: InstanceChunks = new Map()): InstanceChunks {
    let position = 0
    while (position < chunk.length) {
      if (this.current === undefined) {
        position = this.readPrefix(chunk, position, into)
        continue
      }
      const newline = chunk.indexOf(NEWLINE, position)
      const end = newline < 0 ? chunk.length : newline + 1
      push(into, this.current, chunk.subarray(position, end))
      if (newline >= 0) this.current = undefined
      position = end
    }
    return into
  }

  /** The instance whose line is cut at this point of the stream, if any (its bytes so far were handed on). */
  get lineInProgress(): number | undefined {
    return this.current
  }

  /**
   * The stream broke here (a read ended early): what was held is dropped and the next byte starts a line, so
   * that the next read's first line is not glued to this one. Returns the instance whose line was cut, if known.
   */
  abandonLine(): number | undefined {
    const cut = this.current
    this.current = undefined
    this.head = Buffer.alloc(0)
    return cut
  }

  /** The stream has ended: a held line start without its newline is a last line (or bytes without prefix). */
  flush(into: InstanceChunks = new Map()): InstanceChunks {
    if (this.head.length > 0) this.decide(this.head, true, into)
    this.head = Buffer.alloc(0)
    this.current = undefined
    return into
  }

  /** Reads a line start from `position`; returns where the line's text continues. */
  private readPrefix(chunk: Buffer, position: number, into: InstanceChunks): number {
    const take = Math.min(chunk.length - position, MAX_PREFIX_BYTES - this.head.length)
    const newline = chunk.indexOf(NEWLINE, position)
    const end = newline >= 0 && newline < position + take ? newline + 1 : position + take
    const head = Buffer.concat([this.head, chunk.subarray(position, end)])
    const used = this.decide(head, false, into)
    if (used === undefined) {
      this.head = head
      return end
    }
    this.head = Buffer.alloc(0)
    // Bytes of this chunk that the decision did not use are read again as the line's text.
    return end - (head.length - used)
  }

  /** Decides a line start: the bytes of `head` it used, or undefined when more are needed. */
  private decide(head: Buffer, final: boolean, into: InstanceChunks): number | undefined {
    const prefix = parsePrefix(head)
    if (prefix === null && !final) return undefined
    if (prefix) {
      this.current = prefix.id
      return prefix.start
    }
    this.unprefixedLines++
    const newline = head.indexOf(NEWLINE)
    const lineEnd = newline < 0 ? head.length : newline + 1
    push(into, UNATTRIBUTED, Buffer.from(head.subarray(0, lineEnd)))
    this.current = newline < 0 && !final ? UNATTRIBUTED : undefined
    return lineEnd
  }
}
