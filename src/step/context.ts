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
  /** Aborted once the step's `timeout` has passed (set by run(); never without a timeout). */
  readonly deadline?: AbortSignal
  /** How long failed status reads are ridden out (tests shorten it). */
  readonly badReadBudgetMs?: number
}

/**
 * Stop or timeout, for the phases before and after following (planning, staging, creating, results): following
 * itself watches the timeout on its own, to abort the task and say why.
 */
export function boundedSignal({ stop, deadline }: Pick<StepContext, 'stop' | 'deadline'>): AbortSignal {
  return deadline ? AbortSignal.any([stop, deadline]) : stop
}

/** The step's timeout as a signal, counted from `started`; `clear` ends its timer. */
export function stepDeadline(
  timeoutMs: number | undefined,
  started: number,
  clock: Clock
): { readonly signal: AbortSignal | undefined; clear(): void } {
  if (timeoutMs === undefined) return { signal: undefined, clear: () => undefined }
  const deadline = new AbortController()
  const cleared = new AbortController()
  void clock.sleep(Math.max(0, started + timeoutMs - clock.now()), cleared.signal).then(() => {
    if (!cleared.signal.aborted) deadline.abort(new Error(`the timeout of ${timeoutMs} ms has passed`))
  })
  return { signal: deadline.signal, clear: () => cleared.abort() }
}
