/**
 * The job summary: verdict, link, figures, the instance table (instance-table.ts), the pictures (pictures.ts) and
 * the instances' output (output-section.ts), rendered as Markdown within a byte budget (GitHub drops a step summary
 * over 1 MiB whole). Pure apart from reading outputs through the OutputReader.
 */
import { Outcome, TASQ_TASK_URL } from '../constants.js'
import { CELL_IDS_CHARS, idRanges } from './id-lists.js'
import { instanceTable } from './instance-table.js'
import type { CacheFacts, StepReport } from './model.js'
import { kib, outputSection } from './output-section.js'
import { renderPictures } from './pictures.js'
import { codeSpan, formatSeconds, listText, tableCell, utf8Bytes } from './text.js'
import { plural } from '../words.js'
import { budgetLine } from '../budget/cap.js'

export { failedFirst, FAILED_ROWS, FULL_TABLE_INSTANCES } from './instance-table.js'
export { INSTANCE_OUTPUT_BYTES, outputBlock } from './output-section.js'

/** GitHub's limit is 1,048,576 bytes; keep a margin for what other steps or the runner add. */
export const SUMMARY_BUDGET_BYTES = 900 * 1024
/** Kept free for the closing note. */
const NOTE_RESERVE_BYTES = 4096

/** Three significant figures at most, never rounded to zero: `1234`, `12.3`, `0.0042`. */
const round = (value: number): string =>
  value >= 100 ? value.toFixed(0) : value === 0 ? '0' : String(Number(value.toPrecision(3)))

/** `12.3 credits · 45.6 gCO2eq (60% less than Common European Datacenter) · 306 Wh, 294 Wh reused as heat`, or `""`. */
export function costLine(cost: StepReport['cost']): string {
  const parts: string[] = []
  if (cost?.credits !== undefined) parts.push(`${round(cost.credits)} credits`)
  const carbon = cost?.carbon
  if (carbon?.gCO2eq !== undefined) {
    const saved =
      carbon.savedPercent !== undefined && carbon.datacenterName
        ? ` (${round(carbon.savedPercent)}% less than ${tableCell(carbon.datacenterName)})`
        : ''
    parts.push(`${round(carbon.gCO2eq)} gCO2eq${saved}`)
  }
  if (carbon?.consumedWh !== undefined) {
    const reused = carbon.reusedWh !== undefined ? `, ${round(carbon.reusedWh)} Wh reused as heat` : ''
    parts.push(`${round(carbon.consumedWh)} Wh${reused}`)
  }
  return parts.join(' · ')
}

/** `612 files (41.2 MiB) up, 87 B of them sent, in 0.3 s · 1000 result files (3.9 MiB) back into out, in 3.1 s`. */
export function filesLine(files: StepReport['files']): string {
  const parts: string[] = []
  const { staged, results } = files ?? {}
  if (staged) {
    parts.push(
      `${plural(staged.files, 'resource file')} (${kib(staged.bytes)}) staged, ${kib(staged.bytesSent)} sent, in ${formatSeconds(staged.ms / 1000)}`
    )
  }
  if (results) {
    parts.push(
      `${plural(results.files, 'result file')} (${kib(results.bytes)}) back into ${codeSpan(results.directory)}, in ${formatSeconds(results.ms / 1000)}${results.incomplete ? ' ⚠️ not all of them: see the notes' : ''}`
    )
  }
  return parts.join(' · ')
}

/** Most notes (and task errors) listed in the summary, each at most NOTE_CHARS characters. */
const MAX_LISTED = 30
const NOTE_CHARS = 1000

const cut = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text)

/** Bullet items of untrusted text, bounded in number and length. */
function listItems(items: readonly string[], what: string, where: string): string[] {
  const listed = items.slice(0, MAX_LISTED).map(item => `- ${listText(cut(item, NOTE_CHARS))}`)
  if (items.length > MAX_LISTED)
    listed.push(`- …and ${plural(items.length - MAX_LISTED, `more ${what}`)}: ${where}.`)
  return listed
}

/** What the cache did: hits and from where, what they saved, how the image was keyed, what was stored. */
export function cacheLine(cache: CacheFacts | undefined): string | undefined {
  if (!cache) return undefined
  const parts: string[] = []
  if (cache.hitIds.length > 0) {
    const uuids = cache.sources.map(s => s.task)
    const tasks = uuids.slice(0, 3).map(uuid => `[\`${uuid.slice(0, 8)}\`](${TASQ_TASK_URL}${uuid})`)
    const more = uuids.length > 3 ? ` and ${uuids.length - 3} more` : ''
    const saved = [
      cache.savedInstanceSec > 0 ? `${formatSeconds(cache.savedInstanceSec)} of instance time` : undefined,
      cache.savedCredits !== undefined ? `about ${round(cache.savedCredits)} credits` : undefined
    ].filter(Boolean)
    parts.push(
      `${plural(cache.hitIds.length, 'instance')} from the cache (${idRanges(cache.hitIds, CELL_IDS_CHARS).text}), computed by task${uuids.length > 1 ? 's' : ''} ${tasks.join(', ')}${more}${saved.length > 0 ? `; saved ${saved.join(' and ')}` : ''}`
    )
  } else parts.push('no instance from the cache')
  if (cache.image && 'digest' in cache.image)
    parts.push(`image keyed by its digest \`${cache.image.digest.slice(0, 19)}…\``)
  else if (cache.image)
    parts.push(
      `image keyed by its name ${codeSpan(cut(cache.image.name, 200))}: a moving tag is keyed by name (${tableCell(cut(cache.image.reason, 200))})`
    )
  if (cache.mode === 'read') parts.push('read only: nothing stored')
  else if (cache.storedCount > 0) parts.push(`${plural(cache.storedCount, 'instance')} stored`)
  return parts.join(' · ')
}

/** `**Re-ran** 3 of 40 instances (7, 19, 33) · 37 kept from attempt 1 (task [`0f3a…`](url))`, on a re-run. */
export function rerunLine(report: StepReport): string | undefined {
  const { rerun } = report
  if (!rerun) return undefined
  const total = report.verdict?.instances.length ?? 0
  const ran =
    rerun.rerunIds.length > 0
      ? `${rerun.rerunIds.length.toLocaleString('en-US')} of ${plural(total, 'instance')} (${idRanges(rerun.rerunIds, CELL_IDS_CHARS).text})`
      : 'no instance: every one succeeded before'
  const kept = rerun.kept.map(
    k =>
      `${k.ids.length.toLocaleString('en-US')} kept from attempt ${k.attempt} (task [\`${k.uuid.slice(0, 8)}\`](${TASQ_TASK_URL}${k.uuid}))`
  )
  return [`**Re-ran** ${ran}`, ...kept].join(' · ')
}

function header(report: StepReport): string[] {
  // A step that does not wait follows nothing: no "followed for 0.0 s".
  const followed =
    report.task && report.outcome !== Outcome.Submitted
      ? ` · followed for ${formatSeconds(report.elapsedMs / 1000)}`
      : ''
  const task = report.task
    ? `**Task** [${tableCell(cut(report.task.name, 200))}](${report.task.url}) · \`${report.task.uuid}\` · `
    : ''
  const cost = costLine(report.cost)
  const lines = [`## ${report.title}`, '', `${task}state \`${tableCell(report.state)}\`${followed}`, '']
  if (cost) lines.push(`**Cost** ${cost}`, '')
  const budget = budgetLine(report.budget)
  if (budget) lines.push(`**Budget** ${tableCell(budget)}`, '')
  const files = filesLine(report.files)
  if (files) lines.push(`**Files** ${files}`, '')
  const cache = cacheLine(report.cache)
  if (cache) lines.push(`**Cache** ${cache}`, '')
  const rerun = rerunLine(report)
  if (rerun) lines.push(rerun, '')
  if (report.outcome !== Outcome.Success) lines.push(`> ${tableCell(report.headline)}`, '')
  if (report.notes.length > 0) lines.push(...listItems(report.notes, 'note', 'the step log has them all'), '')
  const taskErrors = report.verdict?.taskErrors ?? []
  if (taskErrors.length > 0)
    lines.push(
      '**Task errors**',
      '',
      ...listItems(taskErrors, 'task error', 'the results output has them'),
      ''
    )
  return lines
}

export function renderSummary(report: StepReport, budgetBytes = SUMMARY_BUDGET_BYTES): string {
  const head = header(report)
  const instances = report.verdict?.instances ?? []
  if (instances.length > 0) head.push(instanceTable(report, instances), '')
  let markdown = head.join('\n')
  if (utf8Bytes(markdown) > budgetBytes - NOTE_RESERVE_BYTES) {
    // Only thousands of distinct errors get here: drop the table rather than lose the summary.
    markdown = `${header(report).join('\n')}\n_The instance table is too large for the summary; see the \`results\` output._\n`
  }
  // Pictures of this attempt's instances only: those kept from earlier attempts were not computed now.
  const kept = new Set(report.keptIds ?? [])
  const { timeline } = report
  const computed = instances.filter(
    i =>
      !kept.has(i.id) &&
      (timeline === undefined || timeline.instance(i.id) !== undefined || i.wallTimeSec !== undefined)
  )
  const pictures = renderPictures(computed, report.timeline)
  if (pictures) markdown += `\n${pictures}`
  markdown += outputSection(report, budgetBytes - NOTE_RESERVE_BYTES - utf8Bytes(markdown))
  return markdown
}
