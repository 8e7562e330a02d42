/**
 * post(): runs after main, even when main was cancelled or crashed. Aborts the task if main did not see it end.
 * It never fails the job: it says what it did, and warns when it could not.
 */
import { coreIO, type ActionIO } from './action-io.js'
import { DEFAULT_API_URL, Env, Input, State } from './constants.js'
import { QarnotClient } from './qarnot/client.js'
import { ActionsHttpTransport, type Transport } from './qarnot/transport.js'
import { isFinalState } from './task/states.js'
import { USER_AGENT } from './version.js'

export interface PostDependencies {
  readonly io: ActionIO
  readonly env: NodeJS.ProcessEnv
  readonly transport?: () => Transport
}

export async function post(deps: PostDependencies = { io: coreIO, env: process.env }): Promise<void> {
  const { io, env } = deps
  const uuid = io.getState(State.TaskUuid)
  if (uuid === '') {
    io.info('Post: no Qarnot task was created by this step; nothing to clean up.')
    return
  }
  if (io.getState(State.TaskEnded) === 'true') {
    io.info(`Post: task ${uuid} was followed to its end by the main step; nothing to clean up.`)
    return
  }
  if (!/^true$/i.test(io.getInput(Input.AbortOnCancel) || 'true')) {
    io.warning(`Post: task ${uuid} may still be running; abort-on-cancel is false, so it is left alone.`)
    return
  }
  const token = io.getInput(Input.Token)
  if (token === '') {
    io.warning(`Post: task ${uuid} may still be running, and no token is available to abort it.`)
    return
  }
  io.setSecret(token)
  const transport = deps.transport?.() ?? new ActionsHttpTransport(USER_AGENT, 15_000)
  const client = new QarnotClient({
    baseUrl: io.getInput(Input.ApiUrl) || env[Env.ClusterUrl] || DEFAULT_API_URL,
    token,
    userAgent: USER_AGENT,
    transport,
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 2000, maxTotalMs: 8000, maxRetryAfterMs: 3000 }
  })
  try {
    const task = await client.getTask(uuid)
    if (isFinalState(task.state)) {
      io.info(`Post: task ${uuid} has ended (${task.state}); nothing to clean up.`)
      return
    }
    const answer = await client.abortTask(uuid)
    io.info(
      answer === 'aborted'
        ? `Post: task ${uuid} was still ${task.state} after the main step stopped; it has been aborted.`
        : `Post: task ${uuid} had just ended; nothing to abort.`
    )
  } catch (error) {
    io.warning(
      `Post: could not check or abort task ${uuid}: ${error instanceof Error ? error.message : String(error)}`
    )
  } finally {
    transport.close()
  }
}
