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
  /** The step's `timeout` as signals (set by run(); undefined without a timeout). */
  readonly deadline?: StepDeadline
  /** How long failed status reads are ridden out (tests shorten it). */
  readonly badReadBudgetMs?: number
  /** How the cache asks an image's registry for its digest (default: fetch; tests give a local registry). */
  readonly registryFetch?: typeof fetch
  /** The least time between two reads of a running task's credits under `max-credits` (tests shorten it). */
  readonly creditsReadMs?: number
}

/** After the timeout, result files of a task that ended (or was aborted) still come for this long. */
export const RESULTS_GRACE_MS = 10_000

/**
 * Stop or timeout, for the phases before following (planning, staging, creating): following watches the timeout
 * on its own, to abort the task and say why.
 */
export function boundedSignal({ stop, deadline }: Pick<StepContext, 'stop' | 'deadline'>): AbortSignal {
  return deadline ? AbortSignal.any([stop, deadline.signal]) : stop
}

/** Stop, or the timeout and its grace: for what comes after the task (result files, prune). */
export function afterTaskSignal({ stop, deadline }: Pick<StepContext, 'stop' | 'deadline'>): AbortSignal {
  return deadline ? AbortSignal.any([stop, deadline.late]) : stop
}

export interface StepDeadline {
  /** Aborted once the timeout has passed. */
  readonly signal: AbortSignal
  /** Aborted RESULTS_GRACE_MS later. */
  readonly late: AbortSignal
}

/** The step's timeout as signals, counted from `started`; `clear` ends their timers. */
export function stepDeadline(
  timeoutMs: number | undefined,
  started: number,
  clock: Clock
): { readonly deadline: StepDeadline | undefined; clear(): void } {
  if (timeoutMs === undefined) return { deadline: undefined, clear: () => undefined }
  const cleared = new AbortController()
  const at = (ms: number): AbortSignal => {
    const controller = new AbortController()
    void clock.sleep(Math.max(0, started + ms - clock.now()), cleared.signal).then(() => {
      if (!cleared.signal.aborted) controller.abort(new Error(`the timeout of ${timeoutMs} ms has passed`))
    })
    return controller.signal
  }
  return {
    deadline: { signal: at(timeoutMs), late: at(timeoutMs + RESULTS_GRACE_MS) },
    clear: () => cleared.abort()
  }
}
