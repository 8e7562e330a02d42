/**
 * Creating the task exactly once, and never leaving one behind. The create carries a shortname unique to this
 * step run (saved by the caller before it is sent), so whenever the create may have made a task without saying so
 * (a lost or unreadable answer, a shortname clash, a refusal of a retried create), the task is looked up by that
 * shortname, patiently, since a look-up may lag the create by seconds (docs/qarnot-api.md §3, docs/qarnot-api.md §7).
 */
import type { QarnotClient } from '../qarnot/client.js'
import {
  QarnotAnswerError,
  QarnotApiError,
  QarnotCancelledError,
  QarnotNetworkError,
  invalidFields,
  rootError
} from '../qarnot/errors.js'
import { isTransientStatus } from '../qarnot/retry.js'
import type { TaskCreateBody, TaskOutputWire } from '../qarnot/types.js'
import { errorMessage } from '../words.js'
import type { Clock } from './clock.js'

export interface Submission {
  readonly uuid: string
  /** True when the task was found by its shortname rather than named by the create's answer. */
  readonly adopted: boolean
}

export interface SubmitOptions {
  /** Bound to the step's stop signal: a stop ends the create at once, and no retry follows. */
  readonly client: QarnotClient
  readonly body: TaskCreateBody & { shortname: string }
  readonly clock: Clock
  readonly stop: AbortSignal
  readonly log: (message: string) => void
  /** How long a look-up by shortname may keep answering 404 before the task is taken as never made. */
  readonly lookupPatienceMs?: number
}

/** The step was stopped while creating; `uuid` is the task found and aborted meanwhile, if any. */
export class SubmitStoppedError extends Error {
  constructor(readonly uuid: string | undefined) {
    super('The step was stopped while the task was being created')
    this.name = 'SubmitStoppedError'
  }
}

export const LOOKUP_PATIENCE_MS = 30_000
const LOOKUP_INTERVAL_MS = 1_500

/** Whether a failed create may still have made the task. */
export function mayHaveCreated(error: unknown): boolean {
  const root = rootError(error)
  if (root instanceof QarnotAnswerError || root instanceof QarnotNetworkError) return true
  if (!(root instanceof QarnotApiError) || root.status < 400 || root.status >= 500) return false
  // A clash is answered 400 or 403 (docs/qarnot-api.md §3); any refusal of a retried create may be about the first attempt's task.
  return (
    invalidFields(root.apiMessage).includes('shortname-uniqueness') ||
    /shortname-uniqueness/i.test(root.apiMessage) ||
    root.attempt > 1
  )
}

/**
 * Finds a task by shortname (or uuid), waiting out a look-up that lags the create and an API that answers badly;
 * undefined when it never shows (404 to the end); the last error when the API never answered well enough to say.
 * With `whileMissing: false` a 404 is taken at its word at once (a known uuid).
 */
export async function findByShortname(
  client: QarnotClient,
  shortname: string,
  clock: Clock,
  patienceMs: number,
  signal?: AbortSignal,
  whileMissing = true
): Promise<TaskOutputWire | undefined> {
  const deadline = clock.now() + patienceMs
  let unanswered: Error | undefined
  for (;;) {
    try {
      return await client.getTask(shortname)
    } catch (error) {
      if (error instanceof QarnotCancelledError || signal?.aborted) return undefined
      // Not there yet (404), or the API not answering well (an odd answer, the network, a 5xx or 429 that outlived
      // the client's retries): all are worth another look while patience lasts.
      const root = rootError(error)
      if (!whileMissing && root instanceof QarnotApiError && root.status === 404) return undefined
      const notYet = root instanceof QarnotApiError && (root.status === 404 || isTransientStatus(root.status))
      const transient = notYet || root instanceof QarnotAnswerError || root instanceof QarnotNetworkError
      if (!transient) throw error
      unanswered = root instanceof QarnotApiError && root.status === 404 ? undefined : (error as Error)
    }
    if (clock.now() + LOOKUP_INTERVAL_MS > deadline) {
      if (unanswered !== undefined) throw unanswered
      return undefined
    }
    await clock.sleep(LOOKUP_INTERVAL_MS, signal)
  }
}

export async function submitTask(options: SubmitOptions, hurried: QarnotClient): Promise<Submission> {
  const { client, body, clock, stop, log } = options
  try {
    const { uuid } = await client.createTask(body)
    return { uuid, adopted: false }
  } catch (error) {
    if (stop.aborted) throw await abortWhatWasMade(hurried, body, clock, log)
    if (!mayHaveCreated(error)) throw error
    log(`${errorMessage(error)}; looking for the task by its shortname ${body.shortname} before giving up.`)
    const found = await findByShortname(
      client,
      body.shortname,
      clock,
      options.lookupPatienceMs ?? LOOKUP_PATIENCE_MS,
      stop
    )
    if (stop.aborted) throw await abortWhatWasMade(hurried, body, clock, log)
    // The shortname is random per step run: only our own create can hold it. Check the name to be sure.
    if (!found || (typeof found.name === 'string' && found.name !== body.name)) throw error
    return { uuid: found.uuid, adopted: true }
  }
}

/** After a stop during the create: a quick look for the task, aborted if it exists (the post step looks again). */
async function abortWhatWasMade(
  hurried: QarnotClient,
  body: TaskCreateBody & { shortname: string },
  clock: Clock,
  log: (message: string) => void
): Promise<SubmitStoppedError> {
  try {
    const found = await findByShortname(hurried, body.shortname, clock, 2_000)
    if (!found) return new SubmitStoppedError(undefined)
    log(`The step was stopped during the create: aborting task ${found.uuid}, found by its shortname.`)
    await hurried.abortTask(found.uuid)
    return new SubmitStoppedError(found.uuid)
  } catch (error) {
    log(
      `Could not check for a task made by the interrupted create (${errorMessage(error)}); the post step looks again.`
    )
    return new SubmitStoppedError(undefined)
  }
}
