/**
 * The workflow run this step belongs to, from the runner's GITHUB_* variables and the event payload file.
 * Plain variables, as the runner sets them; nothing here talks to GitHub.
 */
import { readFileSync } from 'node:fs'

export interface RunContext {
  readonly repository: string | undefined
  readonly owner: string | undefined
  readonly repo: string | undefined
  readonly workflow: string | undefined
  readonly job: string | undefined
  /** The step's id (or the runner's generated name), so that one comment belongs to one step. */
  readonly action: string | undefined
  readonly runId: string | undefined
  readonly runAttempt: string | undefined
  readonly runNumber: string | undefined
  readonly sha: string | undefined
  readonly ref: string | undefined
  readonly eventName: string | undefined
  readonly pullRequest: number | undefined
  readonly serverUrl: string
  readonly runUrl: string | undefined
}

export function readEvent(path: string | undefined): Record<string, unknown> {
  if (!path) return {}
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
  } catch {
    return {}
  }
}

/** The pull request number of pull_request(_target) events, or of a `refs/pull/N/...` ref. */
function pullRequestNumber(event: Record<string, unknown>, ref: string | undefined): number | undefined {
  const pr = event.pull_request as { number?: unknown } | undefined
  if (pr && typeof pr.number === 'number') return pr.number
  const issue = event.issue as { number?: unknown; pull_request?: unknown } | undefined
  if (issue && issue.pull_request && typeof issue.number === 'number') return issue.number
  const match = /^refs\/pull\/(\d+)\//.exec(ref ?? '')
  return match ? Number(match[1]) : undefined
}

export function readRunContext(env: NodeJS.ProcessEnv): RunContext {
  const repository = env.GITHUB_REPOSITORY || undefined
  const [owner, repo] = repository?.split('/') ?? []
  const serverUrl = env.GITHUB_SERVER_URL || 'https://github.com'
  const runId = env.GITHUB_RUN_ID || undefined
  const runAttempt = env.GITHUB_RUN_ATTEMPT || undefined
  const ref = env.GITHUB_REF || undefined
  return {
    repository,
    owner,
    repo,
    workflow: env.GITHUB_WORKFLOW || undefined,
    job: env.GITHUB_JOB || undefined,
    action: env.GITHUB_ACTION || undefined,
    runId,
    runAttempt,
    runNumber: env.GITHUB_RUN_NUMBER || undefined,
    sha: env.GITHUB_SHA || undefined,
    ref,
    eventName: env.GITHUB_EVENT_NAME || undefined,
    pullRequest: pullRequestNumber(readEvent(env.GITHUB_EVENT_PATH), ref),
    serverUrl,
    runUrl:
      repository && runId
        ? `${serverUrl}/${repository}/actions/runs/${runId}${runAttempt && runAttempt !== '1' ? `/attempts/${runAttempt}` : ''}`
        : undefined
  }
}

/** The tag every task created by the action carries, so `GET /tasks?tag=github-actions` finds them. */
export const TRACE_TAG = 'github-actions'

/** Labels that lead from a task on Tasq back to the run that made it. Empty values are left out. */
export function traceLabels(context: RunContext): Record<string, string> {
  const labels: Record<string, string | number | undefined> = {
    'github-repository': context.repository,
    'github-workflow': context.workflow,
    'github-job': context.job,
    'github-run-id': context.runId,
    'github-run-attempt': context.runAttempt,
    'github-sha': context.sha,
    'github-ref': context.ref,
    'github-event': context.eventName,
    'github-pull-request': context.pullRequest,
    'github-run-url': context.runUrl
  }
  return Object.fromEntries(
    Object.entries(labels)
      .filter(([, value]) => value !== undefined && value !== '')
      .map(([key, value]) => [key, String(value)])
  )
}
