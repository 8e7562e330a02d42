/**
 * Entry for both the main and the post step (runs.main and runs.post name this same file): a saved state flag
 * tells them apart, as actions/checkout does.
 */
import * as core from '@actions/core'
import { coreIO } from './action-io.js'
import { State } from './constants.js'
import { run } from './main.js'
import { post } from './post.js'
import { systemClock } from './task/watch.js'

async function entry(): Promise<void> {
  if (core.getState(State.IsPost) === 'true') {
    // The post step never fails the job: whatever goes wrong there is a warning.
    await post().catch(error =>
      core.warning(`Post: ${error instanceof Error ? error.message : String(error)}`)
    )
    return
  }
  core.saveState(State.IsPost, 'true')
  // The runner stops a cancelled step with SIGINT, then SIGTERM 7.5 s later: both ask run() to abort the task.
  const stop = new AbortController()
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stop.signal.aborted) core.info(`Received ${signal}.`)
    stop.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  await run({ io: coreIO, env: process.env, clock: systemClock, stop: stop.signal })
}

entry().catch(error => core.setFailed(error instanceof Error ? error.message : String(error)))
