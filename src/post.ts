/**
 * post(): runs after main, even when main was cancelled, crashed or was killed. Aborts the task if main did not
 * see it end, finding it by uuid, or by the shortname saved before the create when no answer named it. It never
 * creates anything and never fails the job: it says what it did, and warns when it could not.
 */
import { coreIO, type ActionIO } from './action-io.js'
import { State } from './constants.js'
import { readPostSettings } from './inputs/settings.js'
import { QarnotClient } from './qarnot/client.js'
import { POST_STEP_REQUEST_TIMEOUT_MS, POST_STEP_RETRY } from './qarnot/retry.js'
import { ActionsHttpTransport, type Transport } from './qarnot/transport.js'
import type { TaskOutputWire } from './qarnot/types.js'
import { systemClock, type Clock } from './task/clock.js'
import { isFinalState } from './task/states.js'
import { LOOKUP_PATIENCE_MS, findByShortname } from './task/submit.js'
import { USER_AGENT } from './version.js'
import { errorMessage } from './words.js'

export interface PostDependencies {
  readonly io: ActionIO
  readonly env: NodeJS.ProcessEnv
  readonly clock?: Clock
  readonly transport?: () => Transport
}

/** A task known by uuid is looked for this long while the API answers badly: a few request timeouts (15 s each). */
const KNOWN_TASK_PATIENCE_MS = 45_000

/** The task main may have left, if any: by uuid, else by the shortname of a create whose answer never came. */
async function findLeftTask(
  io: ActionIO,
  client: QarnotClient,
  clock: Clock
): Promise<TaskOutputWire | undefined> {
  const uuid = io.getState(State.TaskUuid)
  // Known by uuid: a 404 means it is gone; other failures are ridden out a while, as for the shortname.
  if (uuid !== '') return findByShortname(client, uuid, clock, KNOWN_TASK_PATIENCE_MS, undefined, false)
  const shortname = io.getState(State.Shortname)
  io.info(`Post: the main step sent a create but saw no answer; looking for task ${shortname}.`)
  // A slow create may make the task after main is gone: look for a while before concluding there is none.
  return findByShortname(client, shortname, clock, LOOKUP_PATIENCE_MS)
}

/** The task ended, was left running on purpose, or was handed off (whatever else was saved, abort-on-cancel aside). */
function nothingToDo(io: ActionIO, known: string): boolean {
  if (io.getState(State.HandedOff) === 'true') {
    io.info(`Post: task ${known} was handed off (hand-off-after); it goes on running, and is not aborted.`)
    return true
  }
  if (io.getState(State.TaskEnded) !== 'true') return false
  io.info(
    `Post: task ${known} was followed to its end by the main step, or left running on purpose; nothing to do.`
  )
  return true
}

export async function post(deps: PostDependencies = { io: coreIO, env: process.env }): Promise<void> {
  const { io, env } = deps
  const known = io.getState(State.TaskUuid) || io.getState(State.Shortname)
  if (known === '') {
    io.info('Post: no Qarnot task was created by this step; nothing to clean up.')
    return
  }
  if (nothingToDo(io, known)) return
  let settings
  try {
    settings = readPostSettings(name => io.getInput(name), env)
  } catch (error) {
    io.warning(`Post: task ${known} may still be running, and it cannot be checked: ${errorMessage(error)}`)
    return
  }
  io.setSecret(settings.token)
  // A task the step meant to abort (timeout, lost) is aborted: abort-on-cancel is about cancels.
  if (!settings.abortOnCancel && io.getState(State.MustAbort) !== 'true') {
    io.warning(`Post: task ${known} may still be running; abort-on-cancel is false, so it is left alone.`)
    return
  }
  const transport = deps.transport?.() ?? new ActionsHttpTransport(USER_AGENT)
  const client = new QarnotClient({
    baseUrl: settings.apiUrl,
    token: settings.token,
    userAgent: USER_AGENT,
    transport,
    timeoutMs: POST_STEP_REQUEST_TIMEOUT_MS,
    retry: POST_STEP_RETRY
  })
  try {
    const task = await findLeftTask(io, client, deps.clock ?? systemClock)
    if (!task) {
      io.info(`Post: no task ${known} exists; nothing to clean up.`)
      return
    }
    if (isFinalState(task.state)) {
      io.info(`Post: task ${task.uuid} has ended (${task.state}); nothing to clean up.`)
      return
    }
    const answer = await client.abortTask(task.uuid)
    io.info(
      answer === 'aborted'
        ? `Post: task ${task.uuid} was still ${task.state} after the main step stopped; it has been aborted.`
        : `Post: task ${task.uuid} had just ended; nothing to abort.`
    )
  } catch (error) {
    io.warning(`Post: could not check or abort task ${known}: ${errorMessage(error)}`)
  } finally {
    transport.close()
  }
}

/** For @github/local-action, which runs an entry's exported `run`. */
export const run = post
