/**
 * Submit (or find): plan the attempt (a re-run computes only what failed, docs/rerun.md), stage the files, then
 * create the task, or find the one the `task` input names. All of it within the step's timeout: a task is never
 * created once the timeout has passed.
 */
import { logLine } from '../action-io.js'
import { State } from '../constants.js'
import { openStorage, type PreparedFiles, type StorageSession } from '../storage/session.js'
import { HAND_OFF_AT_LABEL } from '../inputs/hand-off.js'
import type { Settings } from '../inputs/settings.js'
import type { QarnotClient } from '../qarnot/client.js'
import { HURRIED_REQUEST_TIMEOUT_MS, HURRIED_RETRY } from '../qarnot/retry.js'
import { keptOfFollowedTask, planAttempt } from '../task/earlier.js'
import { encodeKept } from '../task/kept-label.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import type { EarlierTask, RerunPlan } from '../task/rerun.js'
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
  /** What the report should say of the plan (a collected re-run whose kept instances cannot be read). */
  readonly planNotes?: string[]
}

/** With hand-off-after, the task is labelled with the moment its step hands it off (the collector reads it). */
function withHandOffAt(settings: Settings, started: number): Settings {
  if (!settings.task || !settings.handOff) return settings
  const at = new Date(started + settings.handOff.afterMs).toISOString()
  return {
    ...settings,
    task: { ...settings.task, labels: { ...settings.task.labels, [HAND_OFF_AT_LABEL]: at } }
  }
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
  let earlier: readonly EarlierTask[] | undefined
  let plan = await planAttempt(settings, client.with({ signal: stop }), logLine(io), found => {
    earlier = found
  })
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
  // A step that does not wait names what it kept to the step that collects the task (`task:`), or computes all.
  const keptLabel = !settings.wait && plan.kind === 'some' ? encodeKept(plan.kept) : undefined
  if (!settings.wait && plan.kind === 'some' && keptLabel === undefined)
    plan = {
      kind: 'all',
      reason: `the step does not wait, and the instances kept from earlier attempts are too many to name to the step that collects the task`
    }
  const only = plan.kind === 'some' ? plan.rerun : undefined
  const hurried = client.with({ timeoutMs: HURRIED_REQUEST_TIMEOUT_MS, retry: HURRIED_RETRY })
  const start = await startTask(
    withHandOffAt(settings, context.started ?? clock.now()),
    { io, client, hurried, clock, stop, only, keptLabel, env, registryFetch: context.registryFetch, earlier },
    prepared
  )
  if (start.stopped && timedOut()) io.saveState(State.MustAbort, 'true')
  const widened = start.task?.widened
  // A collecting step reports what the re-run it follows kept from earlier attempts, as if it had waited.
  const collected =
    settings.followTask && start.task?.initial
      ? await collectedPlan(start.task.initial, client.with({ signal: stop }), io)
      : undefined
  return {
    plan: widened ? { kind: 'all', reason: widened } : (collected?.plan ?? plan),
    planNotes: collected?.notes,
    start,
    prepared,
    storage: start.storage,
    timedOut: timedOut()
  }
}

async function collectedPlan(
  document: TaskOutputWire,
  client: QarnotClient,
  io: StepContext['io']
): Promise<{ plan: RerunPlan; notes: string[] } | undefined> {
  try {
    const collected = await keptOfFollowedTask(document, client)
    for (const note of collected?.notes ?? []) io.warning(note)
    return collected
  } catch (error) {
    const note = `Task ${document.uuid} was a re-run that kept instances from earlier attempts, but they could not be read (${errorMessage(error)}): only its own instances are reported.`
    io.warning(note)
    return { plan: { kind: 'all', reason: undefined }, notes: [note] }
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
