/** The pull-request comment: verdict, a compact table of instances (failed first), timings and links. Pure. */
import type { RunContext } from '../github/context.js'
import { formatIds } from '../ranges.js'
import { groupIds } from './grouping.js'
import type { StepReport } from './model.js'
import { failedFirst } from './summary.js'
import { formatSeconds, tableCell } from './text.js'

/** Rows before the rest are grouped as ranges: a comment is read at a glance. */
const COMMENT_ROWS = 20
/** GitHub refuses comments over 65,536 characters. */
const MAX_COMMENT_CHARS = 60_000

/** Who approved a fork's pull request, for which commit (docs/security.md). */
export interface CommentApproval {
  readonly by: string
  readonly sha: string
}

export function renderComment(report: StepReport, context: RunContext, approval?: CommentApproval): string {
  const instances = report.verdict?.instances ?? []
  const total = instances.length
  const links = report.task ? [`task [${tableCell(report.task.name)}](${report.task.url})`] : []
  links.push(`state \`${tableCell(report.state)}\``)
  if (report.task) links.push(`followed for ${formatSeconds(report.elapsedMs / 1000) || '0 s'}`)
  if (context.runUrl) links.push(`[workflow run](${context.runUrl})`)
  const lines = [`### ${report.title}`, '', links.join(' · '), '']
  if (report.outcome !== 'success') lines.push(`> ${tableCell(report.headline)}`, '')
  if (total > 0) {
    const ordered = failedFirst(instances)
    lines.push('| Instance | State | Wall time | Attempts | Error |', '| ---: | --- | ---: | ---: | --- |')
    for (const instance of ordered.slice(0, COMMENT_ROWS)) {
      lines.push(
        `| ${instance.id} | ${instance.state} | ${formatSeconds(instance.wallTimeSec)} | ${instance.attempts ?? ''} | ${tableCell((instance.error ?? '').slice(0, 300))} |`
      )
    }
    const rest = ordered.slice(COMMENT_ROWS)
    const groups = groupIds(rest, i => i.state)
    for (const [state, ids] of groups) lines.push(`| ${formatIds(ids)} | ${state} (${ids.length}) | | | |`)
    lines.push('')
  }
  const commit = context.sha ? `commit ${context.sha.slice(0, 7)}` : undefined
  const run = context.runNumber
    ? `run #${context.runNumber}${context.runAttempt && context.runAttempt !== '1' ? ` attempt ${context.runAttempt}` : ''}`
    : undefined
  const footer = [commit, run, tableCell(`${context.workflow ?? ''} / ${context.job ?? ''}`)]
    .filter(Boolean)
    .join(' · ')
  // No @: an update of the comment would notify the approver each time. Escaped, as it comes from GitHub.
  if (approval)
    lines.push(
      `Approved by ${tableCell(approval.by)} for commit ${tableCell(approval.sha.slice(0, 7))} (fork pull request).`,
      ''
    )
  lines.push(`<sub>Updated for ${footer}. Full output in the job summary.</sub>`)
  let body = lines.join('\n')
  if (body.length > MAX_COMMENT_CHARS)
    body = `${body.slice(0, MAX_COMMENT_CHARS)}\n\n_(cut: see the job summary)_`
  return body
}
