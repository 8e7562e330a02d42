/**
 * What a hand-off does once the step has stopped following (docs/long-runs.md): with `continue-with`, dispatch
 * the named workflow with the task's UUID; either way, say in one sentence how the task will be collected.
 */
import type { ActionIO } from '../action-io.js'
import { DispatchError, dispatchWorkflow } from '../github/dispatch.js'
import { HANDED_OFF_SELECTOR } from '../inputs/hand-off.js'
import type { Settings } from '../inputs/settings.js'
import { errorMessage } from '../words.js'

export interface HandOffReport {
  readonly afterMs: number
  /** How the task will be collected, or why the dispatch failed and what to do. */
  readonly collection: string
  /** The dispatch of continue-with failed: the step fails, the task still runs. */
  readonly failed: boolean
}

export interface HandOffContext {
  readonly io: Pick<ActionIO, 'info'>
  readonly env: NodeJS.ProcessEnv
  readonly userAgent: string
  /** The step's stop: a cancel during the dispatch ends it at once (the runner gives seconds after a cancel). */
  readonly stop?: AbortSignal
  /** GitHub's API (default: the global fetch); tests give a local stand-in through GITHUB_API_URL. */
  readonly fetch?: typeof fetch
}

export async function handOff(
  settings: Settings,
  uuid: string,
  context: HandOffContext
): Promise<HandOffReport> {
  const afterMs = settings.handOff?.afterMs ?? 0
  const next = settings.handOff?.continueWith
  if (!next)
    return {
      afterMs,
      failed: false,
      collection: `a step with task: ${uuid}, or a scheduled workflow with task: ${HANDED_OFF_SELECTOR}, collects it whole (docs/long-runs.md).`
    }
  try {
    await dispatchWorkflow({
      apiUrl: context.env.GITHUB_API_URL || 'https://api.github.com',
      token: settings.githubToken,
      repository: next.repository,
      workflow: next.workflow,
      ref: next.ref.replace(/^refs\/(heads|tags)\//, ''),
      inputs: { 'task-uuid': uuid },
      userAgent: context.userAgent,
      fetch: context.fetch,
      stop: context.stop
    })
    context.io.info(`Dispatched workflow ${next.workflow} on ${next.ref} with task-uuid ${uuid}.`)
    return {
      afterMs,
      failed: false,
      collection: `workflow ${next.workflow} was dispatched on ${next.ref} with task-uuid ${uuid}; its step follows the task on and reports it whole.`
    }
  } catch (error) {
    const why = error instanceof DispatchError ? error.message : errorMessage(error)
    return {
      afterMs,
      failed: true,
      collection: `workflow ${next.workflow} could not be dispatched: ${why}. The task goes on running: run ${next.workflow} by hand with task-uuid ${uuid}, or collect it with a step with task: ${uuid}.`
    }
  }
}
