/**
 * The job summary: verdict, link, instance table and each instance's output, rendered as Markdown within a byte
 * budget (GitHub drops a step summary over 1 MiB whole). Failed instances come first with their errors and the
 * tail of their output; successful ones share what is left; a note says what was cut and where the rest is.
 * Pure apart from reading outputs through the OutputReader.
 */
import { Outcome, TASQ_TASK_URL } from '../constants.js'
import { formatIds } from '../ranges.js'
import type { InstanceResult } from '../task/verdict.js'
import { groupIds } from './grouping.js'
import type { CacheFacts, StepReport } from './model.js'
import { renderPictures } from './pictures.js'
import { codeSpan, escapeHtml, formatSeconds, listText, tableCell, utf8Bytes } from './text.js'
import { plural } from '../words.js'
import { budgetLine } from '../budget/cap.js'

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

/** `2 (restarted)` when an instance ran more than once: a retry, or preemption (docs/qarnot-api.md §4). */
function attemptsCell(attempts: number | undefined): string {
  if (attempts === undefined) return ''
  return attempts > 1 ? `${attempts} (restarted ${attempts - 1}×)` : String(attempts)
}

function row(instance: InstanceResult): string {
  return `| ${instance.id} | ${STATE_ICON[instance.state]} ${instance.state} | ${formatSeconds(instance.wallTimeSec)} | ${formatSeconds(instance.execTimeSec)} | ${attemptsCell(instance.attempts)} | ${tableCell(instance.error ?? '')} |`
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
  instance: Pick<InstanceResult, 'id' | 'state' | 'attempts'>,
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
  // A restarted instance's output holds every run, one after the other: say so rather than show it as one.
  const runs =
    (instance.attempts ?? 1) > 1 ? ` (ran ${instance.attempts} times: the output holds every run)` : ''
  return `<details><summary>Instance ${instance.id}: ${escapeHtml(instance.state)}${runs}</summary>\n\n${sections.join('\n\n')}\n\n</details>\n`
}

function kib(bytes: number): string {
  return bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${(bytes / 1048576).toFixed(1)} MiB`
}

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
      `${plural(cache.hitIds.length, 'instance')} from the cache (${tableCell(cut(formatIds(cache.hitIds), 200))}), computed by task${uuids.length > 1 ? 's' : ''} ${tasks.join(', ')}${more}${saved.length > 0 ? `; saved ${saved.join(' and ')}` : ''}`
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

function header(report: StepReport): string[] {
  const followed = report.task ? ` · followed for ${formatSeconds(report.elapsedMs / 1000) || '0 s'}` : ''
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

/** Each instance's output block, failed ones first, within `budgetBytes`; the ids left out. */
function outputBlocks(report: StepReport, budgetBytes: number): { blocks: string[]; omitted: number[] } {
  const blocks: string[] = []
  const omitted: number[] = []
  let left = budgetBytes
  const ordered = failedFirst(report.verdict?.instances ?? [])
  let successLeft = ordered.filter(i => i.state === 'Success').length
  for (const instance of ordered) {
    const success = instance.state === 'Success'
    // Failed instances take what they need; successful ones share what remains equally.
    const share = success ? Math.floor(left / Math.max(1, successLeft) / 2) - 200 : left / 2 - 200
    const perStream = Math.min(INSTANCE_OUTPUT_BYTES, share)
    if (success) successLeft--
    const parts =
      perStream < MIN_SHARED_OUTPUT_BYTES
        ? []
        : (['stdout', 'stderr'] as const).map(stream => ({
            stream,
            ...report.outputs.tail(instance.id, stream, perStream)
          }))
    const block = parts.length > 0 ? outputBlock(instance, parts) : ''
    const size = utf8Bytes(block) + 1
    if (block === '' || size > left) {
      omitted.push(instance.id)
      continue
    }
    blocks.push(block)
    left -= size
  }
  return { blocks, omitted }
}

function omittedNote(report: StepReport, omitted: readonly number[]): string {
  const where = report.logsDir
    ? ` Every instance's complete output is in the step log and in \`${report.logsDir}\` on the runner.`
    : ''
  let ids = formatIds(omitted)
  if (ids.length > 2000) ids = `${ids.slice(0, ids.lastIndexOf(',', 2000))},…`
  return `\n> [!NOTE]\n> The output of ${plural(omitted.length, 'instance')} (${ids}) is not shown here, to keep this summary under GitHub's 1 MiB limit.${where}\n`
}

export function renderSummary(report: StepReport, budgetBytes = SUMMARY_BUDGET_BYTES): string {
  const head = header(report)
  const instances = report.verdict?.instances ?? []
  if (instances.length > 0) head.push(instanceTable(instances), '')
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
  const { blocks, omitted } = outputBlocks(report, budgetBytes - NOTE_RESERVE_BYTES - utf8Bytes(markdown))
  if (blocks.length > 0) markdown += `\n### Output\n\n${blocks.join('\n')}`
  if (omitted.length > 0) markdown += omittedNote(report, omitted)
  return markdown
}
