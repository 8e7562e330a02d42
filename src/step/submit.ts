/**
 * Submit (or find): plan the attempt (a re-run computes only what failed, docs/rerun.md), stage the files, then
 * create the task, or find the one the `task` input names. All of it within the step's timeout: a task is never
 * created once the timeout has passed.
 */
import { logLine } from '../action-io.js'
import { State } from '../constants.js'
import { openStorage, type PreparedFiles, type StorageSession } from '../storage/session.js'
import type { Settings } from '../inputs/settings.js'
import type { QarnotClient } from '../qarnot/client.js'
import { HURRIED_REQUEST_TIMEOUT_MS, HURRIED_RETRY } from '../qarnot/retry.js'
import { planAttempt } from '../task/earlier.js'
import type { RerunPlan } from '../task/rerun.js'
import { startTask, type TaskStart } from '../task/start.js'
import { errorMessage } from '../words.js'
import { boundedSignal, type StepContext } from './context.js'

export interface Submitted {
  readonly plan: RerunPlan
  /** Undefined when a re-run has nothing left to compute. */
  readonly start: TaskStart | undefined
  readonly prepared: PreparedFiles | undefined
  /** Storage, when the step has files (for a re-run with nothing to compute: to bring the earlier results back). */
  readonly storage: StorageSession | undefined
  /** The step's timeout passed before the task could be created (the user's stop aside). */
  readonly timedOut: boolean
  /** Why storage could not be reached for a re-run with nothing to compute. */
  readonly storageNote?: string
}

export async function submitStep(
  settings: Settings,
  prepared: PreparedFiles | undefined,
  client: QarnotClient,
  context: StepContext
): Promise<Submitted> {
  const { io, clock, env } = context
  const stop = boundedSignal(context)
  const timedOut = (): boolean => !context.stop.aborted && stop.aborted
  const plan = await planAttempt(settings, client.with({ signal: stop }), logLine(io))
  if (plan.kind === 'none') return { ...(await storageForKept(settings, prepared, client, context)), plan }
  if (stop.aborted) {
    return {
      plan,
      start: { stopped: true, task: undefined },
      prepared,
      storage: undefined,
      timedOut: timedOut()
    }
  }
  const only = plan.kind === 'some' ? plan.rerun : undefined
  const hurried = client.with({ timeoutMs: HURRIED_REQUEST_TIMEOUT_MS, retry: HURRIED_RETRY })
  const start = await startTask(settings, { io, client, hurried, clock, stop, only, env }, prepared)
  if (start.stopped && timedOut()) io.saveState(State.MustAbort, 'true')
  const widened = start.task?.widened
  return {
    plan: widened ? { kind: 'all', reason: widened } : plan,
    start,
    prepared,
    storage: start.storage,
    timedOut: timedOut()
  }
}

/** A re-run with nothing to compute still brings the earlier attempts' result files back, when `results` is set. */
async function storageForKept(
  settings: Settings,
  prepared: PreparedFiles | undefined,
  client: QarnotClient,
  context: StepContext
): Promise<Omit<Submitted, 'plan'>> {
  const none = { start: undefined, prepared, storage: undefined, timedOut: false }
  if (!prepared?.resultsDir) return none
  const stop = boundedSignal(context)
  try {
    return {
      ...none,
      storage: await openStorage(client.with({ signal: stop }), prepared, context.env, settings.token, stop)
    }
  } catch (error) {
    return {
      ...none,
      storageNote: `The earlier attempts' result files could not be brought back (${errorMessage(error)}).`
    }
  }
}
