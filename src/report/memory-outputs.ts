/** An OutputReader over texts held in memory: for small reports (and tests). */
import type { OutputReader, StreamName } from './model.js'
import { headBytes, tailBytes, utf8Bytes } from './text.js'

export class MemoryOutputs implements OutputReader {
  constructor(private readonly texts: ReadonlyMap<number, { stdout: string; stderr: string }> = new Map()) {}

  tail(id: number, stream: StreamName, maxBytes: number): { text: string; totalBytes: number } {
    const whole = this.texts.get(id)?.[stream] ?? ''
    return { text: tailBytes(whole, maxBytes).text, totalBytes: utf8Bytes(whole) }
  }

  head(id: number, stream: StreamName, maxBytes: number): { text: string; totalBytes: number } {
    const whole = this.texts.get(id)?.[stream] ?? ''
    return { text: headBytes(whole, maxBytes).text, totalBytes: utf8Bytes(whole) }
  }
}
