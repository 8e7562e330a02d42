/**
 * The check of where a pull request's code comes from, before anything is sent to Qarnot (docs/security.md):
 * the repository's own pull requests, and runs for no pull request, go ahead; a fork's goes ahead as
 * `pull-requests-from-forks` says, by default only once approved for its head commit. Talks to GitHub through
 * PullRequestApi; the decision itself is approval.ts.
 */
import { Outcome, type OutcomeValue } from '../constants.js'
import type { ForkSettings } from '../inputs/forks.js'
import { Input } from '../constants.js'
import { decideApproval, labelAdders } from './approval.js'
import { MAX_TIMELINE_EVENTS, type PullRequestApi, type PullRequestWire } from './pull-request-api.js'
import { PRIVILEGED_EVENTS, isFork, isPullRequestRun, type PullRequestEvent } from './pull-request-event.js'

export interface ApprovedCommit {
  readonly by: string
  readonly sha: string
  /** When the label was added, as GitHub recorded it. */
  readonly at: string
}

export type GateResult =
  /** Go ahead; `approval` for an approved fork, `note` to log (e.g. a fork let through by `always`). */
  | { readonly go: true; readonly approval?: ApprovedCommit; readonly note?: string }
  | { readonly go: false; readonly outcome: OutcomeValue; readonly message: string }

export interface GateContext {
  readonly githubToken: string
  /** GitHub's API with the token (a parameter so that tests give a local stand-in). */
  readonly api: (token: string) => Promise<PullRequestApi>
}

const short = (sha: string): string => sha.slice(0, 7)

export async function checkPullRequestSource(
  forks: ForkSettings,
  event: PullRequestEvent,
  context: GateContext
): Promise<GateResult> {
  const [owner, repo] = event.repository?.split('/') ?? []
  if (!isPullRequestRun(event) || !owner || !repo) return { go: true }
  const base = event.baseRepo ?? event.repository
  if (event.headRepo !== undefined && !isFork(event.headRepo, base)) return { go: true }
  // Other events (pull_request, reviews) run the workflow of the pull request itself: checked when the payload
  // says the head is a fork, never worth a question to GitHub otherwise.
  const privileged = (PRIVILEGED_EVENTS as readonly string[]).includes(event.eventName ?? '')
  if (event.headRepo === undefined && !privileged) return { go: true }
  if (forks.policy === 'always')
    return {
      go: true,
      note: `pull-requests-from-forks is always: a pull request's code is not checked for approval before it runs on Qarnot with this workflow's token.`
    }
  if (forks.policy === 'never' && event.headRepo !== undefined)
    return never(event.number, event.headRepo, event.headSha)
  if (context.githubToken === '')
    return {
      go: false,
      outcome: Outcome.AwaitingApproval,
      message: `This run is for a pull request that may come from a fork, and the input '${Input.GithubToken}' is empty, so its approval cannot be checked; nothing was sent to Qarnot. Leave github-token at its default (the job's token, with permissions pull-requests: read and issues: read).`
    }
  const api = await context.api(context.githubToken)
  const pr = await findPullRequest(api, owner, repo, event)
  if (!pr) return refusedNoPullRequest(event)
  const headRepo = pr.head.repo?.full_name ?? null
  if (!isFork(headRepo, pr.base.repo.full_name)) return { go: true }
  if (forks.policy === 'never') return never(pr.number, headRepo, pr.head.sha)
  return approve(api, { owner, repo }, pr, forks.label, event.headSha)
}

async function approve(
  api: PullRequestApi,
  base: { owner: string; repo: string },
  pr: PullRequestWire,
  label: string,
  eventHeadSha: string | undefined
): Promise<GateResult> {
  const labels = (pr.labels ?? []).map(l => l.name ?? '')
  // Without the label there is nothing to date: the timeline is not read.
  const timeline = labels.includes(label)
    ? await api.timeline(base.owner, base.repo, pr.number, MAX_TIMELINE_EVENTS)
    : []
  const permissions = new Map<string, string>()
  // Only the users who may have approved are asked about, newest first, a few at most.
  for (const user of labelAdders(timeline, label).reverse().slice(0, 5))
    permissions.set(user, await api.permission(base.owner, base.repo, user))
  const decision = decideApproval({
    label,
    headSha: pr.head.sha,
    eventHeadSha,
    headPushedAt: pr.head.repo?.pushed_at ?? undefined,
    labels,
    timeline,
    permissions
  })
  if (decision.approved) return { go: true, approval: decision }
  const fork = pr.head.repo?.full_name ?? 'a deleted fork'
  const commit = short(pr.head.sha)
  return {
    go: false,
    outcome: Outcome.AwaitingApproval,
    message: `Pull request #${pr.number} comes from the fork ${fork} (commit ${commit}) and is not approved to compute on Qarnot: ${decision.reason}. To approve, someone with write access to ${base.owner}/${base.repo} reviews commit ${commit} and adds the label '${label}' to the pull request (a later push voids it), then this job runs again. Nothing was sent to Qarnot.`
  }
}

/** The pull request of the run: by number, or (a workflow_run from a fork gives none) by its head branch. */
async function findPullRequest(
  api: PullRequestApi,
  owner: string,
  repo: string,
  event: PullRequestEvent
): Promise<PullRequestWire | undefined> {
  if (event.number !== undefined) return api.pull(owner, repo, event.number)
  if (!event.headLabel) return undefined
  const pulls = await api.pullsOfHead(owner, repo, event.headLabel)
  const match = pulls.find(p => p.head.sha === event.headSha)
  // The listing may be stale or partial: the pull request itself is read again for its labels and head.
  return match ? api.pull(owner, repo, match.number) : undefined
}

function never(number: number | undefined, headRepo: string | null, sha: string | undefined): GateResult {
  const what = number === undefined ? 'This run is for a pull request' : `Pull request #${number}`
  return {
    go: false,
    outcome: Outcome.RefusedFork,
    message: `${what} comes from the fork ${headRepo ?? '(deleted)'}${sha ? ` (commit ${short(sha)})` : ''}, and pull-requests-from-forks is never: nothing was sent to Qarnot. Set pull-requests-from-forks: approved to compute once someone with write access approves a commit with a label.`
  }
}

function refusedNoPullRequest(event: PullRequestEvent): GateResult {
  return {
    go: false,
    outcome: Outcome.AwaitingApproval,
    message: `This workflow_run comes from ${event.headLabel ?? 'another repository'}${event.headSha ? ` (commit ${short(event.headSha)})` : ''}, and no open pull request has that commit as its head, so no approval can be checked; nothing was sent to Qarnot.`
  }
}
