/** What every phase of the step is given: the runner's I/O, its environment, time, and the stop signal. */
import type { ActionIO } from '../action-io.js'
import type { Clock } from '../task/clock.js'

export interface StepContext {
  readonly io: ActionIO
  readonly env: NodeJS.ProcessEnv
  readonly clock: Clock
  /** Aborted when the runner asks the step to stop (SIGINT, SIGTERM). */
  readonly stop: AbortSignal
  /** When the step started (clock ms), set by run(): `timeout` counts from there. */
  readonly started?: number
  /** How long failed status reads are ridden out (tests shorten it). */
  readonly badReadBudgetMs?: number
}
