/**
 * The step's check of a pull request's source, run before any request to Qarnot (docs/security.md): a fork's
 * pull request run without the secrets is explained, a fork's that is not approved is refused, and an approved
 * one goes ahead with its approval on the task's labels and in the pull-request comment.
 */
import { logLine, type ActionIO } from '../action-io.js'
import { Input, Outcome, type OutcomeValue } from '../constants.js'
import { readEvent } from '../github/context.js'
import { checkPullRequestSource, type ApprovedCommit } from '../github/fork-gate.js'
import { octokitPullRequests, type PullRequestApi } from '../github/pull-request-api.js'
import { isFork, readPullRequestEvent, type PullRequestEvent } from '../github/pull-request-event.js'
import { DEFAULT_APPROVAL_LABEL } from '../inputs/forks.js'
import type { Settings } from '../inputs/settings.js'
import { errorMessage, oneLine } from '../words.js'
import type { StepContext } from './context.js'

/** GitHub's answers are few and small: a GitHub API that stalls must not hold the step longer than this. */
export const SOURCE_CHECK_TIMEOUT_MS = 30_000

export interface SourceCheckContext extends Pick<StepContext, 'io' | 'env' | 'stop'> {
  /** GitHub's API for the check (default: Octokit with github-token, at GITHUB_API_URL). */
  readonly pullRequests?: (token: string, signal: AbortSignal) => PullRequestApi
  readonly sourceCheckTimeoutMs?: number
}

function eventOf(env: NodeJS.ProcessEnv): PullRequestEvent {
  return readPullRequestEvent(env.GITHUB_EVENT_NAME, env.GITHUB_REPOSITORY, readEvent(env.GITHUB_EVENT_PATH))
}

/**
 * A fork's pull request run without the Qarnot token (GitHub gives `pull_request` runs from forks no secrets):
 * said plainly, with the safe ways forward, instead of as a bad input. Undefined when that is not the case.
 */
export function withheldSecrets(io: ActionIO, env: NodeJS.ProcessEnv): OutcomeValue | undefined {
  if (io.getInput(Input.Token) !== '') return undefined
  const event = eventOf(env)
  if (event.headRepo === undefined || !isFork(event.headRepo, event.baseRepo ?? event.repository))
    return undefined
  const label = oneLine(io.getInput(Input.ApprovalLabel) || DEFAULT_APPROVAL_LABEL, 60)
  const what = event.number === undefined ? 'a pull request' : `pull request #${event.number}`
  io.setFailed(
    `This run (${event.eventName ?? 'an event'}) is for ${what} from the fork ${event.headRepo ?? '(deleted)'}: GitHub gives such runs no secrets, so the input 'token' is empty and nothing was sent to Qarnot. Two safe ways forward: run this workflow on pull_request_target and have someone with write access approve each commit with the label '${label}' (docs/security.md explains the workflow), or have a maintainer push the reviewed commits to a branch of ${event.repository ?? 'the repository'} and run it there.`
  )
  return Outcome.RefusedFork
}

export interface SourceChecked {
  /** With an approval, the task carries it in its labels. */
  readonly settings: Settings
  readonly approval?: ApprovedCommit
}

/** The settings to go ahead with, or the outcome of a refused step (its failure already told). */
export async function guardPullRequestSource(
  settings: Settings,
  context: SourceCheckContext
): Promise<SourceChecked | OutcomeValue> {
  const { io, env } = context
  const timeout = AbortSignal.timeout(context.sourceCheckTimeoutMs ?? SOURCE_CHECK_TIMEOUT_MS)
  const signal = AbortSignal.any([context.stop, timeout])
  try {
    const result = await Promise.race([
      checkPullRequestSource(settings.forks, eventOf(env), {
        githubToken: settings.githubToken,
        api: async token =>
          context.pullRequests?.(token, signal) ??
          (await octokitPullRequests(token, env.GITHUB_API_URL, signal))
      }),
      aborted(signal)
    ])
    if (!result.go) {
      io.setFailed(oneLine(result.message, 2000))
      return result.outcome
    }
    if (result.note) io.warning(result.note)
    return result.approval ? approved(settings, result.approval, io) : { settings }
  } catch (error) {
    if (context.stop.aborted) {
      io.setFailed(
        'The step was cancelled while the pull request was being checked; nothing was sent to Qarnot.'
      )
      return Outcome.Cancelled
    }
    const why = timeout.aborted ? 'GitHub did not answer in time' : oneLine(errorMessage(error), 500)
    io.setFailed(
      `Could not check whether this pull request may compute on Qarnot (${why}); nothing was sent to Qarnot. Re-run the job; if it persists, check that github-token may read pull requests and issues.`
    )
    return Outcome.Failure
  }
}

/** Rejects once `signal` aborts; handled, so that an abort after the race is over is no unhandled rejection. */
function aborted(signal: AbortSignal): Promise<never> {
  const promise = new Promise<never>((_, reject) => {
    const fail = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
    if (signal.aborted) fail()
    else signal.addEventListener('abort', fail, { once: true })
  })
  promise.catch(() => undefined)
  return promise
}

function approved(settings: Settings, approval: ApprovedCommit, io: Pick<ActionIO, 'info'>): SourceChecked {
  logLine(io)(
    `This fork's pull request was approved by ${approval.by} for commit ${approval.sha.slice(0, 7)} (label added at ${approval.at}).`
  )
  const labels = { 'github-approved-by': approval.by, 'github-approved-sha': approval.sha }
  const task = settings.task && { ...settings.task, labels: { ...settings.task.labels, ...labels } }
  return { settings: { ...settings, task }, approval }
}
