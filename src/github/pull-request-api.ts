/**
 * The few GitHub REST reads the fork check makes, behind a small interface: the pull request, its timeline, a
 * user's permission, and the pull requests of a head branch. The real one is Octokit from @actions/github.
 */
import type { TimelineEvent } from './approval.js'

/** `GET /repos/{owner}/{repo}/pulls/{number}`, the fields read. */
export interface PullRequestWire {
  readonly number: number
  readonly state?: string
  readonly head: {
    readonly sha: string
    readonly label?: string
    /** Null when the head repository was deleted. */
    readonly repo: { readonly full_name: string; readonly pushed_at?: string | null } | null
  }
  readonly base: { readonly repo: { readonly full_name: string } }
  readonly labels?: readonly { readonly name?: string }[]
}

export interface PullRequestApi {
  pull(owner: string, repo: string, number: number): Promise<PullRequestWire>
  /** Every event of the timeline, oldest first; throws when there are more than `maxEvents`. */
  timeline(owner: string, repo: string, number: number, maxEvents: number): Promise<TimelineEvent[]>
  /** `admin`, `write`, `read`, `none` (GitHub's `permission`; maintain reads as write, triage as read). */
  permission(owner: string, repo: string, user: string): Promise<string>
  /** Open pull requests whose head is `owner:branch`. */
  pullsOfHead(owner: string, repo: string, head: string): Promise<PullRequestWire[]>
}

/** Timeline pages of 100; a pull request with more events than this is refused rather than half read. */
export const MAX_TIMELINE_EVENTS = 5000

/** Loaded only when a fork's pull request is checked: @actions/github is most of the bundle. */
export async function octokitPullRequests(
  token: string,
  baseUrl: string | undefined,
  signal: AbortSignal
): Promise<PullRequestApi> {
  const { getOctokit } = await import('@actions/github')
  const octokit = getOctokit(token, { ...(baseUrl ? { baseUrl } : {}), request: { signal } })
  return {
    pull: async (owner, repo, number) =>
      (await octokit.rest.pulls.get({ owner, repo, pull_number: number })).data,
    timeline: async (owner, repo, number, maxEvents) => {
      const events: TimelineEvent[] = []
      const pages = octokit.paginate.iterator(octokit.rest.issues.listEventsForTimeline, {
        owner,
        repo,
        issue_number: number,
        per_page: 100
      })
      for await (const page of pages) {
        events.push(...(page.data as TimelineEvent[]))
        if (events.length > maxEvents)
          throw new Error(`the timeline of pull request #${number} has more than ${maxEvents} events`)
      }
      return events
    },
    permission: async (owner, repo, user) => {
      try {
        const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({
          owner,
          repo,
          username: user
        })
        return data.permission
      } catch (error) {
        // Not a collaborator (or not a user at all): no permission.
        if ((error as { status?: number }).status === 404) return 'none'
        throw error
      }
    },
    pullsOfHead: async (owner, repo, head) =>
      (await octokit.rest.pulls.list({ owner, repo, head, state: 'open', per_page: 100 })).data
  }
}
