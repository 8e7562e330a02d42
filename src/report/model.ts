/** What the report parts (log, summary, outputs) are made from. */
import type { OutcomeValue } from '../constants.js'
import type { Verdict } from '../task/verdict.js'

export interface InstanceOutput {
  readonly stdout: string
  readonly stderr: string
}

export interface TaskReport {
  readonly uuid: string
  readonly url: string
  readonly name: string
  readonly outcome: OutcomeValue
  readonly verdict: Verdict
  /** Output per instance id; an instance absent here printed nothing we could read. */
  readonly outputs: ReadonlyMap<number, InstanceOutput>
  readonly logsDir: string | undefined
  /** One sentence: what happened (shown first in the summary, and as the failure message). */
  readonly headline: string
  readonly elapsedMs: number
}
