/**
 * The job summary: verdict, link, instance table and each instance's output, rendered as Markdown within a byte
 * budget (GitHub drops a step summary over 1 MiB whole). Failed instances come first with their errors and the
 * tail of their output; successful ones share what is left; a note says what was cut and where the rest is.
 * Pure apart from reading outputs through the OutputReader.
 */
import { Outcome } from '../constants.js'
import { formatIds } from '../ranges.js'
import type { InstanceResult } from '../task/verdict.js'
import { groupIds } from './grouping.js'
import type { TaskReport } from './model.js'
import { escapeHtml, formatSeconds, tableCell, utf8Bytes } from './text.js'

/** GitHub's limit is 1,048,576 bytes; keep a margin for what other steps or the runner add. */
export const SUMMARY_BUDGET_BYTES = 900 * 1024
/** Most of one instance's output shown (its tail, per stream). */
export const INSTANCE_OUTPUT_BYTES = 32 * 1024
/** Least worth showing for a successful instance; below this its block is left out. */
const MIN_SHARED_OUTPUT_BYTES = 512
/** Up to this many instances, every one has a table row; above, successful ones are grouped as ranges. */
export const FULL_TABLE_INSTANCES = 100
/** Rows for failed instances before they too are grouped. */
export const FAILED_ROWS = 300
/** Kept free for the closing note. */
const NOTE_RESERVE_BYTES = 4096

const STATE_ICON: Record<InstanceResult['state'], string> = {
  Success: '✅',
  Failure: '❌',
  Cancelled: '⛔',
  NotCompleted: '⚠️'
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`
}

function heading(report: TaskReport): string {
  const { verdict } = report
  const total = verdict.instances.length
  switch (report.outcome) {
    case Outcome.Success:
      return `✅ Qarnot task succeeded: ${total}/${plural(total, 'instance')}`
    case Outcome.Submitted:
      return '📤 Qarnot task submitted'
    case Outcome.Cancelled:
      return '⛔ Qarnot task cancelled'
    case Outcome.TimedOut:
      return '⏱️ Qarnot task aborted after the timeout'
    default:
      return `❌ Qarnot task failed: ${verdict.failedIds.length} of ${plural(total, 'instance')} did not succeed`
  }
}

function row(instance: InstanceResult): string {
  return `| ${instance.id} | ${STATE_ICON[instance.state]} ${instance.state} | ${formatSeconds(instance.wallTimeSec)} | ${formatSeconds(instance.execTimeSec)} | ${instance.attempts ?? ''} | ${tableCell(instance.error ?? '')} |`
}

function groupedRows(instances: readonly InstanceResult[]): string[] {
  return [...groupIds(instances, i => i.state)].map(
    ([state, ids]) =>
      `| ${formatIds(ids)} | ${STATE_ICON[state as InstanceResult['state']]} ${state} (${ids.length}) | | | | |`
  )
}

export function failedFirst(instances: readonly InstanceResult[]): InstanceResult[] {
  return [...instances].sort(
    (a, b) => Number(a.state === 'Success') - Number(b.state === 'Success') || a.id - b.id
  )
}

function instanceTable(instances: readonly InstanceResult[]): string {
  const ordered = failedFirst(instances)
  const lines = [
    '| Instance | State | Wall time | Exec time | Attempts | Error |',
    '| ---: | --- | ---: | ---: | ---: | --- |'
  ]
  if (instances.length <= FULL_TABLE_INSTANCES) {
    lines.push(...ordered.map(row))
  } else {
    const failed = ordered.filter(i => i.state !== 'Success')
    lines.push(...failed.slice(0, FAILED_ROWS).map(row))
    lines.push(...groupedRows([...failed.slice(FAILED_ROWS), ...ordered.filter(i => i.state === 'Success')]))
  }
  return lines.join('\n')
}

/** One instance's output block: a collapsible section with stdout and stderr in `<pre>`, escaped. */
export function outputBlock(
  id: number,
  state: string,
  parts: readonly { stream: string; text: string; totalBytes: number }[]
): string {
  const sections: string[] = []
  for (const { stream, text, totalBytes } of parts) {
    if (totalBytes === 0) continue
    const shownBytes = utf8Bytes(text)
    const note = shownBytes < totalBytes ? ` (last ${kib(shownBytes)} of ${kib(totalBytes)})` : ''
    // <pre> on its own line starts an HTML block that blank lines inside the output cannot end.
    sections.push(`<b>${stream}</b>${note}\n<pre>\n${escapeHtml(text.replace(/\n$/, ''))}\n</pre>`)
  }
  if (sections.length === 0) sections.push('<i>no output</i>')
  return `<details><summary>Instance ${id}: ${escapeHtml(state)}</summary>\n\n${sections.join('\n\n')}\n\n</details>\n`
}

function kib(bytes: number): string {
  return bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${(bytes / 1048576).toFixed(1)} MiB`
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
  if (verdict.taskErrors.length > 0)
    head.push('**Task errors**', '', ...verdict.taskErrors.map(e => `- ${tableCell(e)}`), '')
  if (verdict.instances.length > 0) head.push(instanceTable(verdict.instances), '')
  let markdown = head.join('\n')
  if (utf8Bytes(markdown) > budgetBytes - NOTE_RESERVE_BYTES) {
    // Only thousands of distinct errors get here: drop the table rather than lose the summary.
    markdown = `${head.slice(0, 4).join('\n')}\n_The instance table is too large for the summary; see the \`results\` output._\n`
  }

  const blocks: string[] = []
  const omitted: number[] = []
  let left = budgetBytes - NOTE_RESERVE_BYTES - utf8Bytes(markdown)
  const ordered = failedFirst(verdict.instances)
  const successCount = ordered.filter(i => i.state === 'Success').length
  let successLeft = successCount
  for (const instance of ordered) {
    const success = instance.state === 'Success'
    // Failed instances take what they need; successful ones share what remains equally.
    const share = success ? Math.floor(left / Math.max(1, successLeft) / 2) - 200 : left / 2 - 200
    const perStream = Math.min(INSTANCE_OUTPUT_BYTES, share)
    if (success) successLeft--
    if (perStream < MIN_SHARED_OUTPUT_BYTES) {
      omitted.push(instance.id)
      continue
    }
    const parts = (['stdout', 'stderr'] as const).map(stream => ({
      stream,
      ...report.outputs.tail(instance.id, stream, perStream)
    }))
    const block = outputBlock(instance.id, instance.state, parts)
    const size = utf8Bytes(block) + 1
    if (size > left) {
      omitted.push(instance.id)
      continue
    }
    blocks.push(block)
    left -= size
  }
  if (blocks.length > 0) markdown += `\n### Output\n\n${blocks.join('\n')}`
  if (omitted.length > 0) {
    const where = report.logsDir
      ? ` Every instance's complete output is in the step log and in \`${report.logsDir}\` on the runner.`
      : ''
    let ids = formatIds(omitted)
    if (ids.length > 2000) ids = `${ids.slice(0, ids.lastIndexOf(',', 2000))},…`
    markdown += `\n> [!NOTE]\n> The output of ${plural(omitted.length, 'instance')} (${ids}) is not shown here, to keep this summary under GitHub's 1 MiB limit.${where}\n`
  }
  return markdown
}
