/**
 * A server-side output buffer: circular (old bytes rotate away past `capacity`), addressed by absolute offsets so
 * that "new since the last read" cursors stay right after rotation.
 */
export class OutputBuffer {
  private chunks: Buffer[] = []
  private retained = 0
  /** Absolute offset of the first retained byte. */
  private start = 0
  /** Where the next fresh read starts (one cursor per buffer, shared by every reader). */
  private cursor = 0

  constructor(private readonly capacity: number = Number.POSITIVE_INFINITY) {}

  get end(): number {
    return this.start + this.retained
  }

  append(data: Buffer | string): void {
    const chunk = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.retained += chunk.length
    while (this.retained > this.capacity && this.chunks.length > 0) {
      const excess = this.retained - this.capacity
      const first = this.chunks[0]
      if (first.length <= excess) {
        this.chunks.shift()
        this.retained -= first.length
        this.start += first.length
      } else {
        this.chunks[0] = first.subarray(excess)
        this.retained -= excess
        this.start += excess
      }
    }
  }

  /** Everything still retained, as the stored pieces (no copy: answers can be hundreds of MB). */
  readAll(): Buffer[] {
    return [...this.chunks]
  }

  /** What arrived since the last fresh read (what rotated away meanwhile is lost), and moves the cursor. */
  readFresh(): Buffer[] {
    let skip = Math.max(this.cursor, this.start) - this.start
    const pieces: Buffer[] = []
    for (const chunk of this.chunks) {
      if (skip >= chunk.length) {
        skip -= chunk.length
        continue
      }
      pieces.push(skip > 0 ? chunk.subarray(skip) : chunk)
      skip = 0
    }
    this.cursor = this.end
    return pieces
  }
}

/**
 * Builds the task-level stream: each complete line of an instance becomes `<id>> line\n` in arrival order. A partial
 * line waits for its newline, or for the instance to end.
 */
export class PrefixedLineWriter {
  /** Each instance's unfinished line, as the pieces it came in (joined once, when it ends: linear in its size). */
  private readonly partial = new Map<number, Buffer[]>()

  constructor(private readonly target: OutputBuffer) {}

  write(instanceId: number, data: Buffer): void {
    let rest = data
    for (;;) {
      const newline = rest.indexOf(0x0a)
      if (newline < 0) break
      this.emit(instanceId, rest.subarray(0, newline + 1))
      rest = rest.subarray(newline + 1)
    }
    if (rest.length === 0) return
    const pieces = this.partial.get(instanceId)
    if (pieces) pieces.push(Buffer.from(rest))
    else this.partial.set(instanceId, [Buffer.from(rest)])
  }

  /** The instance ended: its unfinished last line is written with a newline. */
  flush(instanceId: number): void {
    if (this.partial.has(instanceId)) this.emit(instanceId, Buffer.from('\n'))
  }

  /** One whole line: the prefix, what was held of it, and its end. */
  private emit(instanceId: number, end: Buffer): void {
    const held = this.partial.get(instanceId) ?? []
    this.partial.delete(instanceId)
    this.target.append(Buffer.concat([Buffer.from(`${instanceId}> `), ...held, end]))
  }
}
