/**
 * The summary's instance table: failed instances first, one row each (up to FAILED_ROWS), the rest grouped by state
 * (and by where they came from) as ranges kept short in their cell, the whole lists under the table. On a re-run,
 * a column says which attempt's task each row comes from; an error every failure shares is said once, above. Pure.
 */
import { TASQ_TASK_URL } from '../constants.js'
import type { InstanceResult } from '../task/verdict.js'
import { groupIds } from './grouping.js'
import { CELL_IDS_CHARS, idRanges, LISTED_IDS_CHARS } from './id-lists.js'
import type { StepReport } from './model.js'
import { formatSeconds, tableCell } from './text.js'

/** Up to this many instances, every one has a table row; above, successful ones are grouped as ranges. */
export const FULL_TABLE_INSTANCES = 100
/** Rows for failed instances before they too are grouped. */
export const FAILED_ROWS = 300
/** An error shown in a cell, at most (the output section has the rest). */
const ERROR_CELL_CHARS = 300

export const STATE_ICON: Record<InstanceResult['state'], string> = {
  Success: '✅',
  Failure: '❌',
  Cancelled: '⛔',
  NotCompleted: '⚠️'
}

export function failedFirst(instances: readonly InstanceResult[]): InstanceResult[] {
  return [...instances].sort(
    (a, b) => Number(a.state === 'Success') - Number(b.state === 'Success') || a.id - b.id
  )
}

/** The one error every instance that did not succeed shares (two of them at least), or undefined. */
export function sharedError(instances: readonly InstanceResult[]): string | undefined {
  const failed = instances.filter(i => i.state !== 'Success')
  const errors = new Set(failed.map(i => i.error ?? ''))
  const [only] = errors
  return failed.length > 1 && errors.size === 1 && only ? only : undefined
}

/** `2 (restarted)` when an instance ran more than once: a retry, or preemption (docs/qarnot-api.md §4). */
function attemptsCell(attempts: number | undefined): string {
  if (attempts === undefined) return ''
  return attempts > 1 ? `${attempts} (restarted ${attempts - 1}×)` : String(attempts)
}

/** Where each instance not computed now came from, as a cell: an earlier attempt's task, or the cache. */
function sourcesOf(report: StepReport): Map<number, string> | undefined {
  const kept = report.rerun?.kept ?? []
  const cached = report.cache?.hitIds ?? []
  if (kept.length === 0 && cached.length === 0) return undefined
  const sources = new Map<number, string>()
  for (const { uuid, attempt, ids } of kept) {
    const cell = `kept from [attempt ${attempt}](${TASQ_TASK_URL}${uuid})`
    for (const id of ids) sources.set(id, cell)
  }
  for (const id of cached) sources.set(id, 'cache')
  return sources
}

interface Columns {
  readonly sources: Map<number, string> | undefined
  readonly errors: boolean
}

function row(instance: InstanceResult, columns: Columns): string {
  const cells = [
    String(instance.id),
    `${STATE_ICON[instance.state]} ${instance.state}`,
    time(instance.wallTimeSec),
    time(instance.execTimeSec),
    attemptsCell(instance.attempts)
  ]
  if (columns.sources) cells.push(columns.sources.get(instance.id) ?? 'this attempt')
  if (columns.errors) cells.push(tableCell(cut(instance.error ?? '', ERROR_CELL_CHARS)))
  return `| ${cells.join(' | ')} |`
}

/** A time that never breaks across lines (`1 min 7 s` split in two makes a row twice as tall). */
const time = (seconds: number | undefined): string => formatSeconds(seconds).replace(/ /g, '\u00a0')

const cut = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text)

/** Grouped rows, and the lists under the table for the groups whose ranges were cut in their cell. */
function groupedRows(
  instances: readonly InstanceResult[],
  columns: Columns
): { rows: string[]; lists: string[] } {
  const rows: string[] = []
  const lists: string[] = []
  const groups = groupIds(instances, i => `${i.state}\n${columns.sources?.get(i.id) ?? 'this attempt'}`)
  for (const [key, ids] of groups) {
    const [state, source] = key.split('\n') as [InstanceResult['state'], string]
    const label = `${STATE_ICON[state]} ${state} (${ids.length.toLocaleString('en-US')})`
    const cell = idRanges(ids, CELL_IDS_CHARS)
    if (cell.cut)
      lists.push(`- ${label}${columns.sources ? `, ${source}` : ''}: ${idRanges(ids, LISTED_IDS_CHARS).text}`)
    const cells = [cell.text, label, '', '', '']
    if (columns.sources) cells.push(source)
    if (columns.errors) cells.push('')
    rows.push(`| ${cells.join(' | ')} |`)
  }
  return { rows, lists }
}

/** The table, the error said once above it when every failure has it, and the lists of ids cut in its cells. */
export function instanceTable(report: StepReport, instances: readonly InstanceResult[]): string {
  const shared = sharedError(instances)
  const sources = sourcesOf(report)
  // On a re-run, what this attempt computed comes before what it kept; a column of no error is left out.
  const ordered = failedFirst(instances).sort(
    (a, b) =>
      Number(a.state === 'Success') - Number(b.state === 'Success') ||
      Number(sources?.has(a.id) ?? false) - Number(sources?.has(b.id) ?? false)
  )
  const columns: Columns = {
    sources,
    errors: shared === undefined && instances.some(i => (i.error ?? '') !== '')
  }
  const head = ['Instance', 'State', 'Wall time', 'Exec time', 'Attempts']
  const align = ['---:', '---', '---:', '---:', '---:']
  if (columns.sources) {
    head.push('From')
    align.push('---')
  }
  if (columns.errors) {
    head.push('Error')
    align.push('---')
  }
  const lines: string[] = []
  if (shared !== undefined) {
    const failed = ordered.filter(i => i.state !== 'Success').length
    lines.push(
      `Every one of the ${failed.toLocaleString('en-US')} instances that did not succeed: ${tableCell(cut(shared, 1000))}`,
      ''
    )
  }
  lines.push(`| ${head.join(' | ')} |`, `| ${align.join(' | ')} |`)
  let lists: string[] = []
  if (instances.length <= FULL_TABLE_INSTANCES) {
    lines.push(...ordered.map(i => row(i, columns)))
  } else {
    const failed = ordered.filter(i => i.state !== 'Success')
    lines.push(...failed.slice(0, FAILED_ROWS).map(i => row(i, columns)))
    const grouped = groupedRows(
      [...failed.slice(FAILED_ROWS), ...ordered.filter(i => i.state === 'Success')],
      columns
    )
    lines.push(...grouped.rows)
    lists = grouped.lists
  }
  if (lists.length > 0) lines.push('', '**Instances by state**', '', ...lists)
  return lines.join('\n')
}
