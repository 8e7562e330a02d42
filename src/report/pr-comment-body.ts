/**
 * The pull-request comment: verdict, a compact table (the instances that did not succeed first, one row each, then
 * one row per other state, with the summary's icons), timings and links. Pure. Nothing in it may autolink: the run
 * is `run 31` linked to its page, never `run #31` (GitHub would link issue 31 and cross-reference it on every push).
 */
import type { RunContext } from '../github/context.js'
import { groupIds } from './grouping.js'
import { CELL_IDS_CHARS, idRanges } from './id-lists.js'
import { failedFirst, sharedError, STATE_ICON } from './instance-table.js'
import type { StepReport } from './model.js'
import { formatSeconds, tableCell } from './text.js'
import type { InstanceResult } from '../task/verdict.js'

/** Rows of instances that did not succeed before the rest are grouped as ranges: a comment is read at a glance. */
const COMMENT_ROWS = 20
/** GitHub refuses comments over 65,536 characters. */
const MAX_COMMENT_CHARS = 60_000

/** Who approved a fork's pull request, for which commit (docs/security.md). */
export interface CommentApproval {
  readonly by: string
  readonly sha: string
}

function tableLines(instances: readonly InstanceResult[]): string[] {
  const ordered = failedFirst(instances)
  const failed = ordered.filter(i => i.state !== 'Success')
  const shared = sharedError(instances)
  const lines: string[] = []
  if (shared !== undefined)
    lines.push(
      `Every one of the ${failed.length} instances that did not succeed: ${tableCell(shared.slice(0, 300))}`,
      ''
    )
  const error = shared === undefined
  lines.push(
    `| Instance | State | Wall time | Attempts |${error ? ' Error |' : ''}`,
    `| ---: | --- | ---: | ---: |${error ? ' --- |' : ''}`
  )
  for (const instance of failed.slice(0, COMMENT_ROWS)) {
    const cells = [
      instance.id,
      `${STATE_ICON[instance.state]} ${instance.state}`,
      formatSeconds(instance.wallTimeSec),
      instance.attempts ?? ''
    ]
    if (error) cells.push(tableCell((instance.error ?? '').slice(0, 300)))
    lines.push(`| ${cells.join(' | ')} |`)
  }
  const rest = [...failed.slice(COMMENT_ROWS), ...ordered.filter(i => i.state === 'Success')]
  for (const [state, ids] of groupIds(rest, i => i.state)) {
    const icon = STATE_ICON[state as InstanceResult['state']]
    lines.push(
      `| ${idRanges(ids, CELL_IDS_CHARS).text} | ${icon} ${state} (${ids.length.toLocaleString('en-US')}) | | |${error ? ' |' : ''}`
    )
  }
  return lines
}

/** `commit abc1234 · [run 31 attempt 2](url) · workflow / job`. */
function footer(context: RunContext): string {
  const commit = context.sha ? `commit ${context.sha.slice(0, 7)}` : undefined
  const attempt = context.runAttempt && context.runAttempt !== '1' ? ` attempt ${context.runAttempt}` : ''
  const words = context.runNumber ? `run ${context.runNumber}${attempt}` : undefined
  const run = words && context.runUrl ? `[${words}](${context.runUrl})` : words
  return [commit, run, tableCell(`${context.workflow ?? ''} / ${context.job ?? ''}`)]
    .filter(Boolean)
    .join(' · ')
}

export function renderComment(report: StepReport, context: RunContext, approval?: CommentApproval): string {
  const instances = report.verdict?.instances ?? []
  const links = report.task ? [`task [${tableCell(report.task.name)}](${report.task.url})`] : []
  links.push(`state \`${tableCell(report.state)}\``)
  if (report.task && report.outcome !== 'submitted')
    links.push(`followed for ${formatSeconds(report.elapsedMs / 1000)}`)
  if (context.runUrl && !context.runNumber) links.push(`[workflow run](${context.runUrl})`)
  const lines = [`### ${report.title}`, '', links.join(' · '), '']
  if (report.outcome !== 'success') lines.push(`> ${tableCell(report.headline)}`, '')
  if (instances.length > 0) lines.push(...tableLines(instances), '')
  // No @: an update of the comment would notify the approver each time. Escaped, as it comes from GitHub.
  if (approval)
    lines.push(
      `Approved by ${tableCell(approval.by)} for commit ${tableCell(approval.sha.slice(0, 7))} (fork pull request).`,
      ''
    )
  lines.push(`<sub>Updated for ${footer(context)}. Full output in the job summary.</sub>`)
  let body = lines.join('\n')
  if (body.length > MAX_COMMENT_CHARS)
    body = `${body.slice(0, MAX_COMMENT_CHARS)}\n\n_(cut: see the job summary)_`
  return body
}
