/**
 * The one report path, taken on every exit once the inputs are read: the failures grouped in the log, every
 * output, the job summary, the pull-request comment, then the verdict. A report that cannot be written (no
 * summary file, a comment refused) warns and never changes the verdict.
 */
import { logLine, type ActionIO } from '../action-io.js'
import { Outcome, type OutputName } from '../constants.js'
import { commentOnPullRequest } from '../github/comment-step.js'
import type { CommentsApi } from '../github/pr-comment.js'
import type { CommentApproval } from './pr-comment-body.js'
import { errorMessage } from '../words.js'
import { logFailedInstances } from './live-log.js'
import type { StepReport } from './model.js'
import { buildOutputs } from './outputs.js'
import { redactRendered, redactReport } from './redact.js'
import { renderSummary } from './summary.js'

export interface ReportTargets {
  readonly io: ActionIO
  readonly env: NodeJS.ProcessEnv
  readonly summary: boolean
  readonly streamLogs: boolean
  /** Values no output, summary or comment may carry (Settings.secrets): task output can print them. */
  readonly secrets: readonly string[]
  /** Present when `pr-comment` is true. */
  readonly prComment?: {
    readonly token: string
    /** Tells matrix legs' comments apart (Settings.commentLeg). */
    readonly leg?: string
    readonly comments?: (token: string) => CommentsApi
    /** A fork's pull request approved for its head commit: who approved which commit. */
    readonly approval?: CommentApproval
  }
}

export async function writeReport(unredacted: StepReport, targets: ReportTargets): Promise<void> {
  const { io, secrets } = targets
  const report = redactReport(unredacted, secrets)
  const redact = (text: string): string => redactRendered(text, secrets)
  if (targets.streamLogs && report.verdict) logFailedInstances(io, report.verdict.instances, report.outputs)
  for (const note of report.notes) logLine(io)(note)
  const results = report.files?.results
  if (results?.incomplete)
    io.warning(
      `Not every result file came back into ${results.directory}: the notes above say which and why.`
    )
  if (results?.empty) io.warning(results.empty)
  try {
    for (const [name, value] of Object.entries(buildOutputs(report))) io.setOutput(name as OutputName, value)
  } catch (error) {
    io.warning(`The step outputs could not be written (${errorMessage(error)}).`)
  }
  if (targets.summary) {
    try {
      await io.appendSummary(redact(renderSummary(report)))
    } catch (error) {
      io.warning(`The job summary could not be written (${errorMessage(error)}); the verdict is unchanged.`)
    }
  }
  if (targets.prComment) {
    await commentOnPullRequest({ io, env: targets.env, report, redact, ...targets.prComment })
  }
  // A hand-off passes: the task runs on, to be collected (unless continue-with could not be dispatched).
  const handedOff = report.outcome === Outcome.HandedOff && report.handOff?.failed !== true
  if (report.outcome === Outcome.Success || report.outcome === Outcome.Submitted || handedOff)
    io.info(report.headline)
  else io.setFailed(report.headline, report.title)
}
