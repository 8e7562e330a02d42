/** What the report parts (log, summary, outputs, pull-request comment) are made from. */
import type { CacheSource } from '../cache/saved-credits.js'
import type { OutcomeValue } from '../constants.js'
import type { CarbonFacts } from '../qarnot/cost.js'
import type { BudgetFacts } from '../budget/cap.js'
import type { TimelineView } from '../task/timeline.js'
import type { Verdict } from '../task/verdict.js'

export type StreamName = 'stdout' | 'stderr'

/** Reads parts of each instance's complete output (kept in files, so memory does not grow with it). */
export interface OutputReader {
  /** At most `maxBytes` from the end, cut on a character boundary; `totalBytes` is the whole size. */
  tail(id: number, stream: StreamName, maxBytes: number): { text: string; totalBytes: number }
  /** At most `maxBytes` from the start, cut on a character boundary. */
  head(id: number, stream: StreamName, maxBytes: number): { text: string; totalBytes: number }
}

/** Reads nothing: a step that followed no task has no output. */
export const NO_OUTPUT: OutputReader = {
  tail: () => ({ text: '', totalBytes: 0 }),
  head: () => ({ text: '', totalBytes: 0 })
}

export interface TaskIdentity {
  readonly uuid: string
  readonly url: string
  /** Untrusted when the task was found rather than created: escaped wherever it is shown. */
  readonly name: string
}

export interface CacheFacts {
  readonly mode: 'write' | 'read'
  /** Instances that came from the cache, and the tasks that computed them. */
  readonly hitIds: readonly number[]
  readonly sources: readonly CacheSource[]
  /** What the hits took when they were computed: instance-seconds, and credits as their tasks' share (when known). */
  readonly savedInstanceSec: number
  readonly savedCredits: number | undefined
  /** How the image is keyed: by its digest, or by name (a moving tag) and why. */
  readonly image: { readonly digest: string } | { readonly name: string; readonly reason: string } | undefined
  /** Instances stored by this run. */
  readonly storedCount: number
}

export interface StepReport {
  readonly outcome: OutcomeValue
  /** With its icon: the summary's heading and the pull-request comment's title. */
  readonly title: string
  /** One sentence: what happened (shown first in the summary, and as the failure message). */
  readonly headline: string
  /** The task, once it exists. */
  readonly task: TaskIdentity | undefined
  /** The last state seen (`Unknown` when none was read). */
  readonly state: string
  /** The verdict over the instances; undefined when the task was not followed (submitted, not created). */
  readonly verdict: Verdict | undefined
  /** Instances a re-run kept from earlier attempts, or that came from the cache: in the verdict, not computed now. */
  readonly keptIds?: readonly number[]
  /** What the cache did, when it was on (docs/cache.md). */
  readonly cache?: CacheFacts
  /** How many instances were asked for, when known. */
  readonly requestedCount: number | undefined
  readonly outputs: OutputReader
  readonly logsDir: string | undefined
  /** Absolute path of the results folder, when the step brings results back. */
  readonly resultsDir?: string
  readonly elapsedMs: number
  /** What the reader should know beyond the verdict: output that could not be read or checked, ids never asked for. */
  readonly notes: readonly string[]
  /** Resources sent before the create, and result files brought back after the end (docs/storage.md). */
  readonly files?: {
    readonly staged?: {
      readonly files: number
      readonly bytes: number
      readonly bytesSent: number
      readonly ms: number
    }
    readonly results?: {
      readonly directory: string
      readonly files: number
      readonly bytes: number
      readonly ms: number
      /** Some result file did not come back (the notes say which). */
      readonly incomplete: boolean
      /** Instances succeeded but no file came back: why that may be (warned). */
      readonly empty?: string
    }
  }
  /** When instances and states were seen while following, for the pictures. */
  readonly timeline?: TimelineView
  /** What the task (with the earlier attempts a re-run completes) cost, as far as Qarnot said. */
  readonly cost?: { readonly credits?: number; readonly carbon?: CarbonFacts }
  /** The task was handed off: how it will be collected; `failed` when continue-with could not dispatch. */
  readonly handOff?: { readonly collection: string; readonly failed: boolean }
  /** Under `max-credits`: the cap, the estimate, and this attempt's task's credits (docs/budget.md). */
  readonly budget?: BudgetFacts
  /** A re-run of the failed jobs: the ids computed again, and the earlier tasks the others were kept from. */
  readonly rerun?: RerunFacts
}

export interface RerunFacts {
  readonly rerunIds: readonly number[]
  readonly kept: readonly {
    readonly uuid: string
    readonly attempt: number
    readonly ids: readonly number[]
  }[]
}
