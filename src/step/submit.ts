/**
 * Submit (or find): plan the attempt (a re-run computes only what failed, docs/rerun.md), stage the files, then
 * create the task, or find the one the `task` input names.
 */
import type { PreparedFiles } from '../storage/session.js'
import type { Settings } from '../inputs/settings.js'
import type { QarnotClient } from '../qarnot/client.js'
import { HURRIED_REQUEST_TIMEOUT_MS, HURRIED_RETRY } from '../qarnot/retry.js'
import { planAttempt } from '../task/earlier.js'
import type { RerunPlan } from '../task/rerun.js'
import { startTask, type TaskStart } from '../task/start.js'
import type { StepContext } from './context.js'

export interface Submitted {
  readonly plan: RerunPlan
  /** Undefined when a re-run has nothing left to compute. */
  readonly start: TaskStart | undefined
  readonly prepared: PreparedFiles | undefined
}

export async function submitStep(
  settings: Settings,
  prepared: PreparedFiles | undefined,
  client: QarnotClient,
  { io, clock, stop, env }: StepContext
): Promise<Submitted> {
  const plan = await planAttempt(settings, client, message => io.info(message))
  if (plan.kind === 'none') return { plan, start: undefined, prepared }
  const only = plan.kind === 'some' ? plan.rerun : undefined
  const hurried = client.with({ timeoutMs: HURRIED_REQUEST_TIMEOUT_MS, retry: HURRIED_RETRY })
  const start = await startTask(settings, { io, client, hurried, clock, stop, only, env }, prepared)
  return { plan, start, prepared }
}
