/**
 * One comment per step on the pull request, found by a hidden marker: created once, updated in place on every
 * re-run. GitHub's API sits behind a small interface; the real one is Octokit from @actions/github.
 */

export interface IssueComment {
  readonly id: number
  readonly body?: string | null
  /** Who wrote it: `Bot` for the workflow's own token (github-actions[bot]). */
  readonly user?: { readonly login?: string; readonly type?: string } | null
}

export interface CommentsApi {
  list(owner: string, repo: string, issue: number): Promise<IssueComment[]>
  create(owner: string, repo: string, issue: number, body: string): Promise<IssueComment>
  update(owner: string, repo: string, commentId: number, body: string): Promise<IssueComment>
}

/**
 * Octokit, with the base URL the runner gives (GITHUB_API_URL) unless told otherwise. Loaded only when a comment
 * is written: @actions/github is most of the bundle, and every run would pay for it at start-up otherwise.
 */
export async function octokitComments(
  token: string,
  baseUrl?: string,
  signal?: AbortSignal
): Promise<CommentsApi> {
  const { getOctokit } = await import('@actions/github')
  const octokit = getOctokit(token, { ...(baseUrl ? { baseUrl } : {}), request: { signal } })
  return {
    list: (owner, repo, issue) =>
      octokit.paginate(octokit.rest.issues.listComments, { owner, repo, issue_number: issue, per_page: 100 }),
    create: async (owner, repo, issue, body) =>
      (await octokit.rest.issues.createComment({ owner, repo, issue_number: issue, body })).data,
    update: async (owner, repo, commentId, body) =>
      (await octokit.rest.issues.updateComment({ owner, repo, comment_id: commentId, body })).data
  }
}

/** The hidden marker that tells this step's comment from any other. */
export function commentMarker(parts: readonly (string | undefined)[]): string {
  const key = parts.map(part => (part ?? '').replace(/--+/g, '-').replace(/[<>]/g, '')).join('/')
  return `<!-- qarnot-action:${key} -->`
}

export async function upsertComment(
  api: CommentsApi,
  target: { owner: string; repo: string; issue: number },
  marker: string,
  body: string
): Promise<{ action: 'created' | 'updated'; id: number }> {
  const full = `${marker}\n${body}`
  // Anyone can paste the marker into a comment: a bot's comment first, then the newest; one the token may not
  // edit (someone else's) is passed over, and a new comment written.
  const candidates = (await api.list(target.owner, target.repo, target.issue))
    .filter(c => c.body?.includes(marker))
    .sort((a, b) => Number(b.user?.type === 'Bot') - Number(a.user?.type === 'Bot') || b.id - a.id)
  for (const existing of candidates.slice(0, 3)) {
    try {
      await api.update(target.owner, target.repo, existing.id, full)
      return { action: 'updated', id: existing.id }
    } catch (error) {
      if (!isPermissionError(error)) throw error
    }
  }
  const created = await api.create(target.owner, target.repo, target.issue, full)
  return { action: 'created', id: created.id }
}

/** Whether an error from GitHub means the token may not comment (forks, read-only tokens). */
export function isPermissionError(error: unknown): boolean {
  const status = (error as { status?: number } | null)?.status
  return status === 401 || status === 403 || status === 404
}
