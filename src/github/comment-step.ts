/**
 * The pull-request comment step: finds the pull request of the run, and creates or updates this step's comment.
 * It never changes the verdict; without permission it only warns.
 */
import type { ActionIO } from '../action-io.js'
import { renderComment, type CommentApproval } from '../report/pr-comment-body.js'
import type { StepReport } from '../report/model.js'
import { errorMessage } from '../words.js'
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
  readonly report: StepReport
  /** GitHub's comments API (default: Octokit with the token, at GITHUB_API_URL). */
  readonly comments?: (token: string) => CommentsApi
  /** Tells matrix legs' comments apart (Settings.commentLeg); the marker is workflow, job and step without it. */
  readonly leg?: string
  readonly timeoutMs?: number
  /** A last pass over the body (the comment is posted through the API: the runner masks nothing in it). */
  readonly redact?: (body: string) => string
  /** A fork's pull request approved for its head commit: said in the comment. */
  readonly approval?: CommentApproval
}

/** The comment is a courtesy: a GitHub API that stalls must not hold the step for longer than this. */
export const COMMENT_TIMEOUT_MS = 20_000

/** Rejects when `promise` is not settled within `ms`, and aborts `controller` so that what it drives stops too. */
function within<T>(promise: Promise<T>, ms: number, controller: AbortController): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort()
      reject(new Error(`GitHub did not answer within ${ms / 1000} s`))
    }, ms)
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}

export async function commentOnPullRequest({
  io,
  env,
  token,
  report,
  comments,
  leg,
  timeoutMs = COMMENT_TIMEOUT_MS,
  redact = body => body,
  approval
}: CommentStep): Promise<void> {
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
  const marker = commentMarker([context.workflow, context.job, context.action, ...(leg ? [leg] : [])])
  const controller = new AbortController()
  const target = { owner: context.owner, repo: context.repo, issue: context.pullRequest }
  try {
    const write = async (): Promise<{ action: string; id: number }> => {
      const api = comments?.(token) ?? (await octokitComments(token, env.GITHUB_API_URL, controller.signal))
      return upsertComment(api, target, marker, redact(renderComment(report, context, approval)))
    }
    const { action, id } = await within(write(), timeoutMs, controller)
    io.info(`pr-comment: comment ${id} ${action} on pull request #${context.pullRequest}.`)
  } catch (error) {
    const message = errorMessage(error)
    io.warning(
      isPermissionError(error)
        ? `pr-comment: the token may not comment on pull request #${context.pullRequest} (${message}). A fork's pull request gets a read-only token; otherwise grant 'permissions: pull-requests: write'. The verdict is unchanged.`
        : `pr-comment: could not write the comment (${message}). The verdict is unchanged.`
    )
  }
}
