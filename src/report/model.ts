/** What the report parts (log, summary, outputs) are made from. */
import type { OutcomeValue } from '../constants.js'
import type { Verdict } from '../task/verdict.js'

export type StreamName = 'stdout' | 'stderr'

/** Reads parts of each instance's complete output (kept in files, so memory does not grow with it). */
export interface OutputReader {
  /** At most `maxBytes` from the end, cut on a character boundary; `totalBytes` is the whole size. */
  tail(id: number, stream: StreamName, maxBytes: number): { text: string; totalBytes: number }
  /** At most `maxBytes` from the start, cut on a character boundary. */
  head(id: number, stream: StreamName, maxBytes: number): { text: string; totalBytes: number }
}

export interface TaskReport {
  readonly uuid: string
  readonly url: string
  readonly name: string
  readonly outcome: OutcomeValue
  readonly verdict: Verdict
  readonly outputs: OutputReader
  readonly logsDir: string | undefined
  /** One sentence: what happened (shown first in the summary, and as the failure message). */
  readonly headline: string
  readonly elapsedMs: number
}
