/**
 * The job summary: verdict, link, instance table and each instance's output, rendered as Markdown within a byte
 * budget (GitHub drops a step summary over 1 MiB whole). Pure.
 */
import { Outcome } from '../constants.js'
import { formatIds } from '../ranges.js'
import type { InstanceResult } from '../task/verdict.js'
import type { TaskReport } from './model.js'
import { escapeHtml, formatSeconds, tableCell, tailBytes, utf8Bytes } from './text.js'

/** GitHub's limit is 1,048,576 bytes; keep a margin for what other steps or the runner add. */
export const SUMMARY_BUDGET_BYTES = 900 * 1024
/** Most of one instance's output shown in the summary (its tail). */
export const INSTANCE_OUTPUT_BYTES = 32 * 1024
/** Rows of the instance table before the rest are grouped as ranges. */
export const TABLE_ROWS = 500

const STATE_ICON: Record<InstanceResult['state'], string> = {
  Success: '✅',
  Failure: '❌',
  Cancelled: '⛔',
  NotCompleted: '⚠️'
}

function heading(report: TaskReport): string {
  const { verdict } = report
  const total = verdict.instances.length
  switch (report.outcome) {
    case Outcome.Success:
      return `✅ Qarnot task succeeded: ${total}/${total} instance${total === 1 ? '' : 's'}`
    case Outcome.Submitted:
      return '📤 Qarnot task submitted'
    case Outcome.Cancelled:
      return '⛔ Qarnot task cancelled'
    case Outcome.TimedOut:
      return '⏱️ Qarnot task aborted after the timeout'
    default:
      return `❌ Qarnot task failed: ${verdict.failedIds.length} of ${total} instance${total === 1 ? '' : 's'} did not succeed`
  }
}

function row(instance: InstanceResult): string {
  return `| ${instance.id} | ${STATE_ICON[instance.state]} ${instance.state} | ${formatSeconds(instance.wallTimeSec)} | ${formatSeconds(instance.execTimeSec)} | ${instance.attempts ?? ''} | ${tableCell(instance.error ?? '')} |`
}

function instanceTable(instances: readonly InstanceResult[]): string {
  const failedFirst = [...instances].sort(
    (a, b) => Number(a.state === 'Success') - Number(b.state === 'Success') || a.id - b.id
  )
  const shown = failedFirst.slice(0, TABLE_ROWS)
  const lines = [
    '| Instance | State | Wall time | Exec time | Attempts | Error |',
    '| ---: | --- | ---: | ---: | ---: | --- |',
    ...shown.map(row)
  ]
  const rest = failedFirst.slice(TABLE_ROWS)
  if (rest.length > 0) {
    const byState = new Map<string, number[]>()
    for (const instance of rest)
      byState.set(instance.state, [...(byState.get(instance.state) ?? []), instance.id])
    for (const [state, ids] of byState) lines.push(`| ${formatIds(ids)} | ${state} (${ids.length}) | | | | |`)
  }
  return lines.join('\n')
}

/** One instance's output block: a collapsible section with stdout and stderr in `<pre>`, escaped. */
export function outputBlock(
  id: number,
  state: string,
  stdout: string,
  stderr: string,
  maxBytes: number
): string {
  const parts: string[] = []
  for (const [label, text] of [
    ['stdout', stdout],
    ['stderr', stderr]
  ] as const) {
    if (text === '') continue
    const { text: shown, cut } = tailBytes(text, maxBytes)
    const note = cut
      ? ` (last ${Math.round(utf8Bytes(shown) / 1024)} KiB of ${Math.round(utf8Bytes(text) / 1024)} KiB)`
      : ''
    // <pre> on its own line starts an HTML block that blank lines inside the output cannot end.
    parts.push(`<b>${label}</b>${note}\n<pre>\n${escapeHtml(shown.replace(/\n$/, ''))}\n</pre>`)
  }
  if (parts.length === 0) parts.push('<i>no output</i>')
  return `<details><summary>Instance ${id}: ${escapeHtml(state)}</summary>\n\n${parts.join('\n\n')}\n\n</details>\n`
}

export function renderSummary(report: TaskReport, budgetBytes = SUMMARY_BUDGET_BYTES): string {
  const { verdict } = report
  const head = [
    `## ${heading(report)}`,
    '',
    `**Task** [${tableCell(report.name)}](${report.url}) · \`${report.uuid}\` · state \`${verdict.state}\` · followed for ${formatSeconds(report.elapsedMs / 1000) || '0 s'}`,
    ''
  ]
  if (report.outcome !== Outcome.Success) head.push(`> ${tableCell(report.headline)}`, '')
  if (verdict.taskErrors.length > 0) {
    head.push('**Task errors**', '', ...verdict.taskErrors.map(e => `- ${tableCell(e)}`), '')
  }
  if (verdict.instances.length > 0) head.push(instanceTable(verdict.instances), '')
  let markdown = head.join('\n')

  const blocks: string[] = []
  const order = [...verdict.instances].sort(
    (a, b) => Number(a.state === 'Success') - Number(b.state === 'Success') || a.id - b.id
  )
  let used = utf8Bytes(markdown) + 512 // room for the closing note
  let omitted: number[] = []
  for (const instance of order) {
    const output = report.outputs.get(instance.id) ?? { stdout: '', stderr: '' }
    const block = outputBlock(
      instance.id,
      instance.state,
      output.stdout,
      output.stderr,
      INSTANCE_OUTPUT_BYTES
    )
    const size = utf8Bytes(block) + 1
    if (omitted.length > 0 || used + size > budgetBytes) {
      omitted.push(instance.id)
      continue
    }
    blocks.push(block)
    used += size
  }
  if (blocks.length > 0) markdown += `\n### Output\n\n${blocks.join('\n')}`
  if (omitted.length > 0) {
    omitted = omitted.sort((a, b) => a - b)
    const where = report.logsDir
      ? ` Every instance's complete output is in the step log and in \`${report.logsDir}\`.`
      : ''
    markdown += `\n> [!NOTE]\n> The output of instance${omitted.length > 1 ? 's' : ''} ${formatIds(omitted)} is not shown here, to keep this summary under GitHub's 1 MiB limit.${where}\n`
  }
  return markdown
}
