/**
 * Entry of the main step (runs.main). The stop handlers are installed before anything else happens, so that a
 * stop signal at any moment after start-up reaches run(); the post step has its own entry (src/post-entry.ts),
 * so that it can never take itself for the main step.
 */
import * as core from '@actions/core'
import { coreIO } from './action-io.js'
import { run } from './main.js'
import { systemClock } from './task/clock.js'
import { errorMessage } from './words.js'

// The runner stops a cancelled step with SIGINT, then SIGTERM 7.5 s later: both ask run() to abort the task.
const stop = new AbortController()
const onSignal = (signal: NodeJS.Signals): void => {
  if (!stop.signal.aborted) core.info(`Received ${signal}.`)
  stop.abort()
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)

run({ io: coreIO, env: process.env, clock: systemClock, stop: stop.signal }).catch(error =>
  core.setFailed(errorMessage(error))
)
