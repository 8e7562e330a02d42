/**
 * The pull-request comment step: finds the pull request of the run, and creates or updates this step's comment.
 * It never changes the verdict; without permission it only warns.
 */
import type { ActionIO } from '../action-io.js'
import { renderComment } from '../report/pr-comment-body.js'
import type { TaskReport } from '../report/model.js'
import { readRunContext } from './context.js'
import {
  commentMarker,
  isPermissionError,
  octokitComments,
  upsertComment,
  type CommentsApi
} from './pr-comment.js'

export interface CommentStep {
  readonly io: Pick<ActionIO, 'info' | 'warning'>
  readonly env: NodeJS.ProcessEnv
  readonly token: string
  readonly report: TaskReport
  /** GitHub's comments API (default: Octokit with the token, at GITHUB_API_URL). */
  readonly comments?: (token: string) => CommentsApi
}

export async function commentOnPullRequest({ io, env, token, report, comments }: CommentStep): Promise<void> {
  const context = readRunContext(env)
  if (context.pullRequest === undefined || !context.owner || !context.repo) {
    io.info(
      `pr-comment: this run (${context.eventName ?? 'unknown event'}) has no pull request; no comment written.`
    )
    return
  }
  if (token === '') {
    io.warning('pr-comment: no github-token; the pull request gets no comment.')
    return
  }
  const marker = commentMarker([context.workflow, context.job, context.action])
  try {
    const api = comments?.(token) ?? (await octokitComments(token, env.GITHUB_API_URL))
    const target = { owner: context.owner, repo: context.repo, issue: context.pullRequest }
    const { action, id } = await upsertComment(api, target, marker, renderComment(report, context))
    io.info(`pr-comment: comment ${id} ${action} on pull request #${context.pullRequest}.`)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    io.warning(
      isPermissionError(error)
        ? `pr-comment: the token may not comment on pull request #${context.pullRequest} (${message}). A fork's pull request gets a read-only token; otherwise grant 'permissions: pull-requests: write'. The verdict is unchanged.`
        : `pr-comment: could not write the comment (${message}). The verdict is unchanged.`
    )
  }
}
