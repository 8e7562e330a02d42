/**
 * Pictures of a finished task for the job summary, as Mermaid blocks GitHub draws (```mermaid) with a few lines of
 * figures beside them. Pure: from the verdict's instances and the polling timeline, to Markdown.
 *
 * - How long instances took: a histogram of wall times (`xychart-beta`), with round bin edges, the instances that did
 *   not succeed drawn over the others, and the stragglers and the slowest few named in text beside it.
 * - When they ran (up to `ganttMaxInstances`): a `gantt` of each instance from the times polling saw, never made up.
 * - Where the time went at task level: queued, running, uploading results, in one line of figures.
 * - Peak memory: the median and the largest, with its instance, to right-size `hardware`.
 *
 * Nothing the task controls reaches the Mermaid source: it is made of this module's words and of numbers (instance
 * ids, counts, times). Whatever the instance count, the Markdown stays within a few KB (PICTURES_MAX_BYTES).
 */
import { formatIds } from '../ranges.js'
import type { InstanceResult } from '../task/verdict.js'
import type { StateSighting, TimelineView } from '../task/timeline.js'
import { formatSeconds } from './text.js'

export interface PictureOptions {
  /** Most instances drawn one by one on the timeline (default 50); above, the timeline is left out. */
  readonly ganttMaxInstances?: number
  /** Slowest instances named under the histogram (default 5). */
  readonly slowestShown?: number
  /** Most bins of the histogram, the overflow bin included (default 20). */
  readonly maxBins?: number
}

/** The Markdown never grows past this, whatever the instance count (tests hold it to that). */
export const PICTURES_MAX_BYTES = 12 * 1024
const DEFAULT_GANTT_MAX = 50
const DEFAULT_SLOWEST = 5
const DEFAULT_MAX_BINS = 20
/** Fewer instances with a wall time than this: no histogram (the figures say it all). */
const HISTOGRAM_MIN_INSTANCES = 10
/** Fewer reference instances than this: no straggler is named. */
const STRAGGLER_MIN_INSTANCES = 3
/** Straggler ids are listed up to this many characters of ranges. */
const STRAGGLER_IDS_CHARS = 300
/** Up to this many instances, the timeline is open; above, folded in <details>. */
const GANTT_OPEN_MAX = 12
/** MAD to standard deviation for normally distributed data. */
const MAD_TO_SIGMA = 1.4826

// ---------------------------------------------------------------------------------------------------- numbers

function sortedOf(values: Iterable<number>): Float64Array {
  return Float64Array.from(values).sort()
}

/** The median of sorted values (undefined for none). */
export function median(sorted: ArrayLike<number>): number | undefined {
  const n = sorted.length
  if (n === 0) return undefined
  const middle = n >> 1
  return n % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/**
 * Durations as the summary writes them (`42 s`, `3 min 5 s`), rounded first so that 59.7 s never shows as `60 s`
 * or `1 min 60 s`, with two significant digits below a second, and no `0 s` or `0 min` tail.
 */
export function duration(seconds: number): string {
  if (seconds < 1) return `${Number(Math.max(0, seconds).toPrecision(2))} s`
  const rounded = seconds < 10 ? Math.round(seconds * 10) / 10 : Math.round(seconds)
  return formatSeconds(rounded).replace(/ 0 (?:s|min)$/, '')
}

function megabytes(mb: number): string {
  return mb < 1024 ? `${Math.round(mb)} MB` : `${(mb / 1024).toFixed(mb < 10 * 1024 ? 1 : 0)} GB`
}

/** Ids as ranges, cut at `maxChars` on a comma with `…` (they can be many). */
function idList(ids: readonly number[], maxChars = STRAGGLER_IDS_CHARS): string {
  const text = formatIds(ids).replace(/,/g, ', ')
  return text.length <= maxChars ? text : `${text.slice(0, text.lastIndexOf(',', maxChars))}, …`
}

/** `1 instance`, `3,000 instances`. */
function instancesWord(count: number): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? 'instance' : 'instances'}`
}

// ---------------------------------------------------------------------------------------------------- stragglers

export interface WallTimeStats {
  /** Instances with a wall time. */
  readonly count: number
  readonly medianSec: number
  /** Median absolute deviation from the median. */
  readonly madSec: number
  /** Wall times above this are stragglers; undefined when too few instances to tell. */
  readonly stragglerAboveSec: number | undefined
  /** Which instances the median and MAD come from. */
  readonly reference: 'succeeded' | 'all'
  /** Slowest first. */
  readonly stragglers: readonly InstanceResult[]
  readonly slowest: readonly InstanceResult[]
}

/**
 * The straggler rule. Reference: the instances that succeeded, when at least 3 have a wall time (a failure is
 * often fast and would drag the median down), else every instance with one. With m its median wall time and MAD
 * its median absolute deviation, an instance (of any state) is a straggler when
 *
 *     wall > m + max(m, 3 × 1.4826 × MAD, 1 s)
 *
 * that is: more than twice the median, more than 3 robust standard deviations above it (which keeps a naturally
 * spread task quiet), and at least a second above it (which keeps tiny tasks quiet). Needs 3 reference instances.
 */
export function stragglerThreshold(referenceSorted: ArrayLike<number>): number | undefined {
  if (referenceSorted.length < STRAGGLER_MIN_INSTANCES) return undefined
  const m = median(referenceSorted) ?? 0
  const mad = median(sortedOf(Array.from(referenceSorted, v => Math.abs(v - m)))) ?? 0
  return m + Math.max(m, 3 * MAD_TO_SIGMA * mad, 1)
}

function hasWallTime(i: InstanceResult): i is InstanceResult & { wallTimeSec: number } {
  return i.wallTimeSec !== undefined && Number.isFinite(i.wallTimeSec) && i.wallTimeSec >= 0
}

export function wallTimeStats(
  instances: readonly InstanceResult[],
  slowestShown = DEFAULT_SLOWEST
): WallTimeStats | undefined {
  const timed = instances.filter(hasWallTime)
  if (timed.length === 0) return undefined
  const succeeded = timed.filter(i => i.state === 'Success')
  const reference = succeeded.length >= STRAGGLER_MIN_INSTANCES ? 'succeeded' : 'all'
  const sorted = sortedOf((reference === 'succeeded' ? succeeded : timed).map(i => i.wallTimeSec))
  const m = median(sorted) ?? 0
  const threshold = stragglerThreshold(sorted)
  const slowestFirst = [...timed].sort((a, b) => b.wallTimeSec - a.wallTimeSec || a.id - b.id)
  return {
    count: timed.length,
    medianSec: m,
    madSec: median(sortedOf(Array.from(sorted, v => Math.abs(v - m)))) ?? 0,
    stragglerAboveSec: threshold,
    reference,
    stragglers: threshold === undefined ? [] : slowestFirst.filter(i => i.wallTimeSec > threshold),
    slowest: slowestFirst.slice(0, slowestShown)
  }
}

// ---------------------------------------------------------------------------------------------------- histogram

export interface Histogram {
  /** Bin i holds [edges[i], edges[i+1]); the last bin also holds its upper edge. */
  readonly edges: readonly number[]
  readonly counts: readonly number[]
  /** Of `counts`, the instances that did not succeed. */
  readonly failedCounts: readonly number[]
  /** The last bin is open-ended (holds everything from its lower edge up). */
  readonly overflow: boolean
  /** The unit the labels are written in. */
  readonly unit: 's' | 'min' | 'h'
  readonly widthSec: number
}

/** Bin widths in seconds that read well on a time axis. */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]

/** The smallest round width at least `raw`: 1-2-5 below a second, time-friendly steps above, whole days beyond. */
export function niceWidth(raw: number): number {
  if (!(raw > 0)) return 1
  if (raw < 1) {
    const decade = 10 ** Math.floor(Math.log10(raw))
    return [1, 2, 2.5, 5, 10].map(f => f * decade).find(w => w >= raw * (1 - 1e-9)) ?? 1
  }
  return TIME_STEPS.find(w => w >= raw) ?? Math.ceil(raw / 86400) * 86400
}

/** Sturges' rule: log2(n) + 1 bins, at least 1. */
export function targetBins(n: number): number {
  return Math.max(1, Math.ceil(Math.log2(Math.max(1, n))) + 1)
}

/**
 * Bins wall times with round edges. The width comes from Sturges' bin count over the range of the usual values
 * (the non-stragglers: up to `usualMaxSec`), so that one slow instance does not squash the rest into a bar. The
 * bins cover the usual values; whatever lies beyond (the stragglers), or beyond `maxBins`, goes in one more,
 * open-ended bin (`300+`), rather than in a row of empty ones.
 */
export function binWallTimes(
  values: readonly { wallTimeSec: number; failed: boolean }[],
  usualMaxSec: number,
  maxBins = DEFAULT_MAX_BINS
): Histogram {
  const sorted = sortedOf(values.map(v => v.wallTimeSec))
  const min = sorted[0] ?? 0
  const max = sorted[sorted.length - 1] ?? 0
  const target = Math.min(targetBins(values.length), maxBins)
  const spread = Math.min(usualMaxSec, max) - min
  const width = niceWidth(spread > 0 ? spread / target : Math.max(min * 0.1, 0.1))
  const low = Math.floor(min / width + 1e-9) * width
  const binsTo = (value: number): number => Math.floor((value - low) / width + 1e-9) + 1
  const needed = binsTo(max)
  const usual = Math.min(binsTo(Math.min(usualMaxSec, max)), Math.max(1, maxBins - 1))
  const bins = needed <= usual ? needed : usual + 1
  const overflow = needed > bins
  const counts = new Array<number>(bins).fill(0)
  const failedCounts = new Array<number>(bins).fill(0)
  for (const { wallTimeSec, failed } of values) {
    const index = Math.min(bins - 1, Math.max(0, Math.floor((wallTimeSec - low) / width + 1e-9)))
    counts[index]++
    if (failed) failedCounts[index]++
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => low + i * width)
  const unit = width >= 3600 && width % 3600 === 0 ? 'h' : width >= 60 && width % 60 === 0 ? 'min' : 's'
  return { edges, counts, failedCounts, overflow, unit, widthSec: width }
}

const UNIT_SECONDS = { s: 1, min: 60, h: 3600 } as const

function edgeLabel(seconds: number, unit: Histogram['unit']): string {
  const value = seconds / UNIT_SECONDS[unit]
  return String(Number(value.toPrecision(6)))
}

/**
 * The x-axis labels: each bar's lower edge (`15`), and `300+` for an open-ended last bar. Ranges (`15-30`) would
 * read better but overlap once there are more than a dozen bars: Mermaid neither rotates nor thins them.
 */
export function binLabels(histogram: Histogram): string[] {
  const { edges, unit, overflow } = histogram
  return histogram.counts.map(
    (_, i) => `${edgeLabel(edges[i], unit)}${overflow && i === histogram.counts.length - 1 ? '+' : ''}`
  )
}

/** A round top for the count axis, at least 10 so that its ticks are whole numbers. */
function countAxisTop(maxCount: number): number {
  if (maxCount <= 10) return 10
  const step = niceWidthCount(maxCount / 5)
  return Math.ceil(maxCount / step) * step
}

function niceWidthCount(raw: number): number {
  const decade = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 5, 10].map(f => f * decade).find(w => w >= raw) ?? raw
}

/** The chart's height in Mermaid's units (its width is Mermaid's 700), and what Mermaid takes from it. */
const CHART_HEIGHT = 300
/** Below the plot: the x axis's labels, ticks and title (Mermaid's defaults). Above and below: half a label. */
const X_AXIS_HEIGHT = 60
const LABEL_HALF_HEIGHT = 8
/** How far below the baseline an empty bar is pushed, so that it is not drawn. */
const EMPTY_BAR_MARGIN = 3

/**
 * The bottom of the count axis. Mermaid draws bars from the bottom of the plot, which it leaves half a tick label
 * below the axis's lowest value: with an axis from 0, an empty bin shows as a stub of about 8 px, like a count.
 * Starting the axis a little above 0 puts 0 just below the plot, where an empty bar has a negative height and is not
 * drawn, and every other bar keeps its height within a pixel or two. Rounded, so the source stays readable.
 */
export function countAxisBottom(top: number): number {
  const plot = CHART_HEIGHT - X_AXIS_HEIGHT - 2 * LABEL_HALF_HEIGHT
  const below = LABEL_HALF_HEIGHT + EMPTY_BAR_MARGIN
  return Number(((below * top) / (plot + below)).toPrecision(3))
}

/** Colours: instances in bars of GitHub's green, those that did not succeed in its red, drawn over them. */
const PALETTE = '#2da44e, #cf222e'

/** The plot's height in Mermaid's units: the chart less the x axis and half a label above and below. */
const PLOT_HEIGHT = CHART_HEIGHT - X_AXIS_HEIGHT - 2 * LABEL_HALF_HEIGHT
/** The shortest bar a reader sees, in Mermaid's units (pixels at GitHub's width). */
export const MIN_BAR_PX = 4

/** How tall Mermaid draws a bar of `value` on an axis from `bottom` to `top`: from half a label below `bottom`. */
function barHeight(value: number, bottom: number, top: number): number {
  return ((value - bottom) / (top - bottom)) * PLOT_HEIGHT + LABEL_HALF_HEIGHT
}

/** Whether every non-zero value is drawn at least MIN_BAR_PX tall. */
export function allVisible(values: readonly number[], bottom: number, top: number): boolean {
  return values.every(v => v === 0 || barHeight(v, bottom, top) >= MIN_BAR_PX)
}

/**
 * What the bars are drawn as. `linear`: the counts, on an axis from (just above) 0. `log`: 1 + log10(count), so that
 * 1, 10, 100 and 1,000 instances stand at 1, 2, 3 and 4 and a bin of one instance is as visible as any: chosen
 * when a linear axis would draw some non-empty bin, or some failure, under MIN_BAR_PX tall (one failure among
 * 3,000 instances is under a pixel).
 */
export interface HistogramScale {
  readonly kind: 'linear' | 'log'
  readonly bottom: number
  readonly top: number
  readonly counts: readonly number[]
  readonly failedCounts: readonly number[]
}

const logHeight = (count: number): number => (count > 0 ? Number((1 + Math.log10(count)).toFixed(4)) : 0)

export function histogramScale(histogram: Histogram): HistogramScale {
  const { counts, failedCounts } = histogram
  const top = countAxisTop(Math.max(...counts))
  const bottom = countAxisBottom(top)
  if (allVisible([...counts, ...failedCounts], bottom, top))
    return { kind: 'linear', bottom, top, counts, failedCounts }
  const logTop = Math.max(2, Math.ceil(logHeight(Math.max(...counts))))
  return {
    kind: 'log',
    bottom: countAxisBottom(logTop),
    top: logTop,
    counts: counts.map(logHeight),
    failedCounts: failedCounts.map(logHeight)
  }
}

/** A bin width: `0.01 s`, `15 s`, `10 min`, `2 h`. */
function widthWords(seconds: number): string {
  if (seconds < 60) return `${Number(seconds.toPrecision(3))} s`
  return seconds % 3600 === 0 ? `${seconds / 3600} h` : duration(seconds)
}

/** The `xychart-beta` block of a histogram: on a log scale, the count axis has no numbers (they would be logs). */
export function histogramMermaid(histogram: Histogram, scale = histogramScale(histogram)): string {
  const labels = binLabels(histogram).map(label => `"${label}"`)
  const yAxis = scale.kind === 'log' ? ', "yAxis": {"showLabel": false, "showTick": false}' : ''
  const init = `%%{init: {"xyChart": {"height": ${CHART_HEIGHT}${yAxis}}, "themeVariables": {"xyChart": {"plotColorPalette": "${PALETTE}"}}}}%%`
  const lines = [
    '```mermaid',
    init,
    'xychart-beta',
    `  x-axis "wall time (${histogram.unit}), bars of ${widthWords(histogram.widthSec)}" [${labels.join(', ')}]`,
    `  y-axis "${scale.kind === 'log' ? 'instances (log scale)' : 'instances'}" ${scale.bottom} --> ${scale.top}`,
    `  bar [${scale.counts.join(', ')}]`
  ]
  if (histogram.failedCounts.some(c => c > 0)) lines.push(`  bar [${scale.failedCounts.join(', ')}]`)
  lines.push('```')
  return lines.join('\n')
}

/** Figures and the histogram of wall times, with the stragglers and the slowest named beside it. */
export function renderWallTimes(instances: readonly InstanceResult[], options: PictureOptions = {}): string {
  const stats = wallTimeStats(instances, options.slowestShown ?? DEFAULT_SLOWEST)
  if (!stats) return ''
  const slowest = stats.slowest[0]
  const lines = [
    `**Wall time** of ${instancesWord(stats.count)}: median ${duration(stats.medianSec)}, longest ${duration(slowest.wallTimeSec ?? 0)} (instance ${slowest.id}).`
  ]
  if (stats.count >= HISTOGRAM_MIN_INSTANCES) {
    const usualMax = stats.stragglerAboveSec ?? Infinity
    const values = instances
      .filter(hasWallTime)
      .map(i => ({ wallTimeSec: i.wallTimeSec, failed: i.state !== 'Success' }))
    const histogram = binWallTimes(values, usualMax, options.maxBins ?? DEFAULT_MAX_BINS)
    const scale = histogramScale(histogram)
    const failed = histogram.failedCounts.reduce((a, b) => a + b, 0)
    const legend = failed > 0 ? `; in red, the ${instancesWord(failed)} that did not succeed` : ''
    const last = histogram.overflow ? ', the last one open-ended' : ''
    const log =
      scale.kind === 'log'
        ? ` Heights on a log scale, so that one instance shows: the tallest bar holds ${Math.max(...histogram.counts).toLocaleString('en-US')}.`
        : ''
    lines.push(
      '',
      histogramMermaid(histogram, scale),
      '',
      `_Instances per bar of ${widthWords(histogram.widthSec)} of wall time, from the value under it${last}${legend}.${log}_`
    )
  }
  lines.push('', ...stragglerLines(stats))
  return lines.join('\n')
}

function stragglerLines(stats: WallTimeStats): string[] {
  const lines: string[] = []
  if (stats.stragglerAboveSec !== undefined) {
    const ids = stats.stragglers.map(i => i.id)
    lines.push(
      ids.length > 0
        ? `- **Stragglers** (wall time over ${duration(stats.stragglerAboveSec)}): ${instancesWord(ids.length)}, ${idList(ids)}.`
        : '- No straggler.'
    )
  }
  if (stats.count > 1) {
    const named = stats.slowest.map(
      i => `${i.id} (${duration(i.wallTimeSec ?? 0)}${i.state === 'Success' ? '' : `, ${i.state}`})`
    )
    lines.push(`- Slowest: ${named.join(', ')}.`)
  }
  return lines
}

/** How a straggler is told, in one sentence of the footnote; undefined when none is judged. */
function stragglerRule(instances: readonly InstanceResult[]): string | undefined {
  const stats = wallTimeStats(instances, 0)
  if (stats?.stragglerAboveSec === undefined) return undefined
  const of = stats.reference === 'succeeded' ? ' of the instances that succeeded' : ''
  return `A straggler takes more than twice the median wall time${of} and well beyond its spread.`
}

// ---------------------------------------------------------------------------------------------------- task phases

export type TaskPhase = 'queued' | 'running' | 'uploading' | 'cancelling' | 'ended' | 'other'

const PHASE_OF_STATE: Readonly<Record<string, TaskPhase>> = {
  Submitted: 'queued',
  PartiallyDispatched: 'queued',
  FullyDispatched: 'queued',
  PartiallyExecuting: 'running',
  FullyExecuting: 'running',
  UploadingResults: 'uploading',
  DownloadingResults: 'uploading',
  PendingCancel: 'cancelling',
  Success: 'ended',
  Failure: 'ended',
  Cancelled: 'ended',
  PendingDelete: 'ended'
}

const PHASE_WORDS: Readonly<Record<TaskPhase, string>> = {
  queued: 'queued',
  running: 'running',
  uploading: 'uploading results',
  cancelling: 'cancelling',
  ended: 'ended',
  other: 'in other states'
}

/** The order a task goes through; a phase skipped between two seen ones happened unseen. */
const MAIN_TRACK: readonly TaskPhase[] = ['queued', 'running', 'uploading', 'ended']

export interface PhaseSpan {
  /** One phase, or several that the reads could not tell apart (a phase between two seen ones was never seen). */
  readonly phases: readonly TaskPhase[]
  readonly startMs: number
  readonly endMs: number
}

export interface TaskPhases {
  /** `server`: the task's own dates and stateTransitionTime; `polling`: when the reads saw each state. */
  readonly clock: 'server' | 'polling'
  readonly spans: readonly PhaseSpan[]
  /** False when the task had not ended at the last read (the last span runs to it). */
  readonly ended: boolean
}

function phaseOf(state: string): TaskPhase {
  return Object.hasOwn(PHASE_OF_STATE, state) ? PHASE_OF_STATE[state] : 'other'
}

/** When each phase began, by one clock, in the order seen; undefined when that clock does not tell. */
function phaseStarts(
  timeline: TimelineView,
  clock: TaskPhases['clock']
): { phase: TaskPhase; startMs: number }[] | undefined {
  const starts = new Map<TaskPhase, number>()
  const timeOf = (s: StateSighting): number | undefined =>
    clock === 'polling' ? s.firstSeenMs : s.serverSinceMs
  for (const sighting of timeline.states) {
    const phase = phaseOf(sighting.state)
    let time = timeOf(sighting)
    if (clock === 'server' && phase === 'queued') time = timeline.creationMs ?? time
    if (clock === 'server' && phase === 'ended') time = timeline.endMs ?? time
    if (time === undefined) return undefined
    starts.set(phase, Math.min(time, starts.get(phase) ?? time))
  }
  // The task was queued from its creation, whether or not a read saw it queued.
  if (clock === 'server' && timeline.creationMs !== undefined && !starts.has('queued'))
    starts.set('queued', timeline.creationMs)
  const list = [...starts]
    .map(([phase, startMs]) => ({ phase, startMs }))
    .sort((a, b) => (a.phase === 'queued' ? -1 : b.phase === 'queued' ? 1 : 0))
  const ordered = list.every((item, i) => i === 0 || item.startMs >= list[i - 1].startMs)
  return ordered && list.length > 0 ? list : undefined
}

/** The phases skipped between `from` and `to` on the main track (happened, but no read saw them). */
function unseenBetween(from: TaskPhase, to: TaskPhase): TaskPhase[] {
  const a = MAIN_TRACK.indexOf(from)
  const b = MAIN_TRACK.indexOf(to)
  return a < 0 || b < 0 || b <= a + 1 ? [] : MAIN_TRACK.slice(a + 1, b)
}

/**
 * Where the task's time went, by one clock. `server` needs every state seen to have a server time and the task
 * to have ended; `polling` works from the reads alone (its first span starts at the first read, so it is a lower
 * bound). Undefined when the clock cannot tell.
 */
export function taskPhases(timeline: TimelineView, clock: TaskPhases['clock']): TaskPhases | undefined {
  const starts = phaseStarts(timeline, clock)
  if (!starts) return undefined
  const endIndex = starts.findIndex(s => s.phase === 'ended')
  const ended = endIndex >= 0
  if (!ended && clock === 'server') return undefined
  const lastMs = ended ? starts[endIndex].startMs : timeline.polls.lastMs
  if (lastMs === undefined) return undefined
  const open = starts.filter(s => s.phase !== 'ended')
  const spans = open.map((start, i) => {
    const next = open[i + 1] ?? (ended ? starts[endIndex] : undefined)
    return {
      phases: [start.phase, ...(next ? unseenBetween(start.phase, next.phase) : [])],
      startMs: start.startMs,
      endMs: next?.startMs ?? lastMs
    }
  })
  return { clock, spans, ended }
}

/** `queued`, `queued and running`, `queued, running and uploading results`. */
function phaseWords(phases: readonly TaskPhase[]): string {
  const words = phases.map(p => PHASE_WORDS[p])
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`
}

function pollingWords(timeline: TimelineView): string {
  const { typicalIntervalMs: typical, longestIntervalMs: longest } = timeline.polls
  if (typical === undefined || longest === undefined) return 'as seen by one read'
  const most = longest > typical * 1.5 ? `, at most ${duration(longest / 1000)} apart` : ''
  return `as seen by polling every ~${duration(typical / 1000)}${most}`
}

/** One line: queued 12 s · running 3 min 4 s · uploading results 2 s, by the task's dates or by polling. */
export function renderTaskPhases(timeline: TimelineView): string {
  const phases = taskPhases(timeline, 'server') ?? taskPhases(timeline, 'polling')
  const spans = phases?.spans.filter(s => s.endMs >= s.startMs) ?? []
  if (!phases || spans.length === 0) return ''
  const figures = spans.map((span, i) => {
    const words = phaseWords(span.phases)
    const atLeast = phases.clock === 'polling' && i === 0 ? 'at least ' : ''
    return `${words} ${atLeast}${duration((span.endMs - span.startMs) / 1000)}`
  })
  const total = (spans[spans.length - 1].endMs - spans[0].startMs) / 1000
  const source = phases.clock === 'server' ? "by the task's own dates" : pollingWords(timeline)
  const state = phases.ended ? '' : ' (not ended at the last read)'
  let line = `**Where the time went** (${source}): ${figures.join(' · ')}; ${duration(total)} in all${state}.`
  const own = [
    timeline.taskWallTimeSec === undefined ? '' : `wall time ${duration(timeline.taskWallTimeSec)}`,
    timeline.taskExecutionTimeSec === undefined
      ? ''
      : `execution time ${duration(timeline.taskExecutionTimeSec)}`
  ].filter(Boolean)
  if (own.length > 0) line += ` Qarnot counts ${own.join(' and ')}.`
  return line
}

/** Whether the phases line joins phases that passed between two reads (the footnote then says so). */
function phasesJoined(timeline: TimelineView): boolean {
  const phases = taskPhases(timeline, 'server') ?? taskPhases(timeline, 'polling')
  return phases?.spans.some(s => s.endMs >= s.startMs && s.phases.length > 1) ?? false
}

// ---------------------------------------------------------------------------------------------------- timeline

export interface GanttBar {
  readonly id: number
  readonly startMs: number
  readonly endMs: number
  readonly failed: boolean
  /** How the bar was placed: `wall` = ends when first seen ended, spans its wall time; `seen` = first to last read. */
  readonly from: 'wall' | 'seen'
}

/**
 * Each instance's bar, from what the reads saw, never guessed: the end is the first read that showed it ended
 * (when an earlier read had not), the start that minus its wall time; without a wall time, or without a seen end,
 * the first read that listed it running (when an earlier read had not) to its seen end or last read running.
 * Instances with neither are left out, and so is a wall time that would start the bar before the task was created.
 */
export function instanceBars(
  instances: readonly InstanceResult[],
  timeline: TimelineView
): { bars: GanttBar[]; leftOut: number[] } {
  const bars: GanttBar[] = []
  const leftOut: number[] = []
  // A wall time that would start an instance before its task existed (a minute of clock skew allowed) is not used.
  const earliest = Math.max(0, (timeline.creationMs ?? 0) - 60_000)
  for (const instance of instances) {
    const seen = timeline.instance(instance.id)
    const failed = instance.state !== 'Success'
    const end = seen?.completedAfterMs === undefined ? undefined : seen.completedSeenMs
    const start = seen?.runningAfterMs === undefined ? undefined : seen.runningSeenMs
    const wall = hasWallTime(instance) ? instance.wallTimeSec * 1000 : undefined
    if (end !== undefined && wall !== undefined && end - wall >= earliest) {
      bars.push({ id: instance.id, startMs: end - wall, endMs: end, failed, from: 'wall' })
    } else if (start !== undefined && (end ?? seen?.lastRunningMs) !== undefined) {
      const until = Math.max(start, end ?? seen?.lastRunningMs ?? start)
      bars.push({ id: instance.id, startMs: start, endMs: until, failed, from: 'seen' })
    } else {
      leftOut.push(instance.id)
    }
  }
  return { bars, leftOut }
}

/** Tick spacings for the timeline's axis, in ms, as Mermaid's `tickInterval` names them. */
const TICKS: readonly [number, string][] = [
  [1, 'second'],
  [2, 'second'],
  [5, 'second'],
  [10, 'second'],
  [15, 'second'],
  [30, 'second'],
  [1, 'minute'],
  [2, 'minute'],
  [5, 'minute'],
  [10, 'minute'],
  [15, 'minute'],
  [30, 'minute'],
  [1, 'hour'],
  [2, 'hour'],
  [3, 'hour'],
  [6, 'hour'],
  [12, 'hour'],
  [1, 'day']
]
const UNIT_MS: Readonly<Record<string, number>> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000
}
/** At most this many ticks on the axis. */
const MAX_TICKS = 10

/**
 * The axis of the timeline: time since the task's creation, ticked at a round interval that gives at most
 * MAX_TICKS labels and never two alike (Mermaid's own ticks come every 100 ms on a short task, all `10:00:01`).
 */
export function timelineAxis(spanMs: number): { tickInterval: string; axisFormat: string } {
  const [count, unit] = TICKS.find(([n, u]) => spanMs / (n * UNIT_MS[u]) <= MAX_TICKS) ?? [
    Math.ceil(spanMs / 86_400_000 / MAX_TICKS),
    'day'
  ]
  const axisFormat = spanMs < 3_600_000 ? '%M:%S' : spanMs < 86_400_000 ? '%H:%M' : 'day %-d %H:%M'
  return { tickInterval: `${count}${unit}`, axisFormat }
}

/** The day the timeline starts on: times since the creation are written as times of that day. */
const TIMELINE_DAY = Date.UTC(2000, 0, 1)
/** Mermaid reads dates with no zone in the reader's zone, and writes the axis in it too: an elapsed time stays one. */
const TIMELINE_DATE_FORMAT = 'YYYY-MM-DD HH:mm:ss.SSS'

/** `2000-01-01 00:01:05.250` for 65.25 s after the origin. */
function elapsedDate(ms: number): string {
  return new Date(TIMELINE_DAY + Math.max(0, Math.round(ms))).toISOString().slice(0, 23).replace('T', ' ')
}

/**
 * The `gantt` block: the task's phases as polling saw them, then one bar per instance (red: did not succeed), in
 * time since `originMs` (the task's creation).
 */
export function ganttMermaid(
  bars: readonly GanttBar[],
  phases: TaskPhases | undefined,
  originMs = Math.min(...bars.map(b => b.startMs))
): string {
  const spans = phases?.spans ?? []
  const times = [...bars.flatMap(b => [b.startMs, b.endMs]), ...spans.flatMap(s => [s.startMs, s.endMs])]
  const axis = timelineAxis(Math.max(...times) - originMs)
  const lines = [
    '```mermaid',
    'gantt',
    `  dateFormat ${TIMELINE_DATE_FORMAT}`,
    `  axisFormat ${axis.axisFormat}`,
    `  tickInterval ${axis.tickInterval}`,
    '  todayMarker off'
  ]
  const at = (value: number): string => elapsedDate(value - originMs)
  if (spans.length > 0) {
    lines.push('  section Task')
    spans.forEach((span, i) => {
      const words = phaseWords(span.phases)
      lines.push(`  ${words} :done, t${i}, ${at(span.startMs)}, ${at(Math.max(span.endMs, span.startMs))}`)
    })
  }
  lines.push('  section Instances')
  for (const bar of bars) {
    const tag = bar.failed ? 'crit, ' : ''
    lines.push(`  instance ${bar.id} :${tag}i${bar.id}, ${at(bar.startMs)}, ${at(bar.endMs)}`)
  }
  lines.push('```')
  return lines.join('\n')
}

/** The timeline, in <details> when long, with what was left out. */
export function renderTimeline(
  instances: readonly InstanceResult[],
  timeline: TimelineView,
  options: PictureOptions = {}
): string {
  const max = options.ganttMaxInstances ?? DEFAULT_GANTT_MAX
  if (instances.length === 0) return ''
  if (instances.length > max)
    return `_The timeline of instances is drawn for tasks of up to ${max} instances; this one has ${instances.length.toLocaleString('en-US')}._`
  const { bars, leftOut } = instanceBars(instances, timeline)
  if (bars.length === 0)
    return '_No timeline: no read saw an instance start or end (a task that had ended before it was followed shows none)._'
  const phases = taskPhases(timeline, 'polling')
  const starts = [...bars.map(b => b.startMs), ...(phases?.spans ?? []).map(s => s.startMs)]
  // The creation is by the server's clock, the reads by the runner's: never start after what is drawn.
  const origin = Math.min(timeline.creationMs ?? Infinity, ...starts)
  const notes: string[] = []
  if (leftOut.length > 0)
    notes.push(`Left out, no time seen for them: ${instancesWord(leftOut.length)}, ${idList(leftOut)}.`)
  if (instances.some(i => (i.attempts ?? 1) > 1))
    notes.push(
      'A restarted instance is drawn with the wall time Qarnot reports, which may cover its last run only.'
    )
  const block = ganttMermaid(bars, phases, origin)
  const open = bars.length <= GANTT_OPEN_MAX ? ' open' : ''
  const after = notes.length > 0 ? `\n\n${notes.join(' ')}` : ''
  return `<details${open}><summary>When the instances ran (${instancesWord(bars.length)}, time since the task was created)</summary>\n\n${block}${after}\n\n</details>`
}

/** How the timeline is drawn, in one sentence of the footnote. */
function timelineMethod(timeline: TimelineView, bars: readonly GanttBar[]): string {
  const seen = bars.some(b => b.from === 'seen')
    ? '; one with no wall time or no seen end runs from the first read that saw it running to the last'
    : ''
  return `The timeline is drawn from reads ${pollingWords(timeline).replace(/^as seen by /, 'by ')}: a bar ends at the first read that saw its instance ended and spans its wall time${seen}.`
}

// ---------------------------------------------------------------------------------------------------- memory

/** `Peak memory: median 210 MB, largest 1.9 GB (instance 17), of 40 instances that reported it.` */
export function renderMemory(instances: readonly InstanceResult[]): string {
  const reported = instances.filter(
    // No process peaks at 0 MB: a 0 is a figure Qarnot did not measure, and is not shown.
    i => i.peakMemoryMB !== undefined && Number.isFinite(i.peakMemoryMB) && i.peakMemoryMB > 0
  )
  if (reported.length === 0) return ''
  let largest = reported[0]
  for (const i of reported) if ((i.peakMemoryMB ?? 0) > (largest.peakMemoryMB ?? 0)) largest = i
  const middle = median(sortedOf(reported.map(i => i.peakMemoryMB ?? 0))) ?? 0
  const of =
    reported.length === instances.length ? '' : `, of ${instancesWord(reported.length)} that reported it`
  return `**Peak memory**: median ${megabytes(middle)}, largest ${megabytes(largest.peakMemoryMB ?? 0)} (instance ${largest.id})${of}. \`hardware: min-ram=...\` can be sized from these.`
}

// ---------------------------------------------------------------------------------------------------- together

/**
 * Every picture that has something to show, as Markdown for the job summary (`""` when none has): where the task's
 * time went, the wall-time histogram with stragglers, the timeline, peak memory. `timeline` is undefined when the
 * task was not followed.
 */
export function renderPictures(
  instances: readonly InstanceResult[],
  timeline: TimelineView | undefined,
  options: PictureOptions = {}
): string {
  const figures = [
    timeline ? renderTaskPhases(timeline) : '',
    renderWallTimes(instances, options),
    renderMemory(instances)
  ]
  // The timeline alone (or its note that nothing was seen) is not worth a section.
  if (figures.every(part => part === '')) return ''
  const drawn = timeline && timeline.polls.count > 0 ? renderTimeline(instances, timeline, options) : ''
  const parts = [figures[0], figures[1], drawn, figures[2]].filter(part => part !== '')
  const footnote = methodFootnote(instances, timeline, drawn.includes('```mermaid'))
  if (footnote) parts.push(`<sub>${footnote}</sub>`)
  let markdown = `### Time and memory\n\n${parts.join('\n\n')}\n`
  // Built to stay small; should a part ever outgrow that, the timeline (the largest) goes first.
  if (Buffer.byteLength(markdown) > PICTURES_MAX_BYTES && timeline)
    markdown = renderPictures(instances, undefined, options)
  return markdown
}

/** The method sentences of the section, as one footnote: how stragglers are told, how the times were seen. */
function methodFootnote(
  instances: readonly InstanceResult[],
  timeline: TimelineView | undefined,
  timelineDrawn: boolean
): string {
  const sentences = [stragglerRule(instances)]
  if (timeline && timelineDrawn)
    sentences.push(timelineMethod(timeline, instanceBars(instances, timeline).bars))
  if (timeline && phasesJoined(timeline))
    sentences.push('Phases joined by "and" passed between two reads and are not told apart.')
  return sentences.filter(Boolean).join(' ')
}
