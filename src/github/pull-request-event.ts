/**
 * Which pull request, if any, a run acts for, and what its event payload says of it: where its head comes from,
 * and which commit. Pure: the payload is read by the caller.
 */

/** Events that run in the base repository with its secrets and a token that may write, whoever wrote the code. */
export const PRIVILEGED_EVENTS = ['pull_request_target', 'issue_comment', 'workflow_run'] as const

export interface PullRequestEvent {
  readonly eventName: string | undefined
  /** The base repository (GITHUB_REPOSITORY), `owner/name`. */
  readonly repository: string | undefined
  /** The pull request's number, when the payload gives it (a workflow_run from a fork does not). */
  readonly number: number | undefined
  /** From the payload when it carries the pull request: `null` when the head repository was deleted. */
  readonly headRepo?: string | null
  readonly baseRepo?: string
  /** The head commit the event was sent for (what a workflow checking out the event's head runs). */
  readonly headSha?: string
  /** workflow_run: the head branch as `owner:branch`, which finds the run's pull request. */
  readonly headLabel?: string
}

type Json = Record<string, unknown>

const object = (value: unknown): Json | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

/** `null` when the repository object is there but null (a deleted fork), undefined when absent. */
function repoName(side: unknown): string | null | undefined {
  const part = object(side)
  if (!part || !('repo' in part)) return undefined
  return text(object(part.repo)?.full_name) ?? null
}

function fromPullRequest(pr: Json): Partial<PullRequestEvent> {
  return {
    number: typeof pr.number === 'number' ? pr.number : undefined,
    headRepo: repoName(pr.head),
    baseRepo: repoName(pr.base) ?? undefined,
    headSha: text(object(pr.head)?.sha)
  }
}

function fromWorkflowRun(run: Json): Partial<PullRequestEvent> {
  const head = object(run.head_repository)
  const owner = text(object(head?.owner)?.login)
  const branch = text(run.head_branch)
  const first = Array.isArray(run.pull_requests) ? object(run.pull_requests[0]) : undefined
  return {
    number: typeof first?.number === 'number' ? first.number : undefined,
    headRepo: head ? (text(head.full_name) ?? null) : undefined,
    headSha: text(run.head_sha),
    headLabel: owner && branch ? `${owner}:${branch}` : undefined
  }
}

export function readPullRequestEvent(
  eventName: string | undefined,
  repository: string | undefined,
  payload: Json
): PullRequestEvent {
  const base = { eventName, repository, number: undefined }
  const pr = object(payload.pull_request)
  if (pr) return { ...base, ...fromPullRequest(pr) }
  const issue = object(payload.issue)
  if (issue && issue.pull_request && typeof issue.number === 'number')
    return { ...base, number: issue.number }
  const run = object(payload.workflow_run)
  if (eventName === 'workflow_run' && run) {
    const found = fromWorkflowRun(run)
    // A run of the repository's own branch without a pull request is the repository's own code.
    if (found.number === undefined && (found.headRepo === repository || !found.headLabel)) return base
    return { ...base, ...found }
  }
  return base
}

/** Whether the run acts for a pull request at all. */
export function isPullRequestRun(event: PullRequestEvent): boolean {
  return event.number !== undefined || event.headLabel !== undefined
}

/** Whether a head repository (`null`: deleted) is another than the base: a fork's pull request. */
export function isFork(headRepo: string | null | undefined, baseRepo: string | undefined): boolean {
  if (headRepo === undefined) return false
  return headRepo === null || headRepo.toLowerCase() !== (baseRepo ?? '').toLowerCase()
}
