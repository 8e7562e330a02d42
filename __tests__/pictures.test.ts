/**
 * The pictures of the job summary (src/report/pictures.ts) and the timeline they are drawn from
 * (src/task/timeline.ts). The Mermaid blocks are checked with a parser of this file that knows only the lines the
 * pictures may write: anything else (task text above all) fails it.
 */
import { describe, expect, it } from '@jest/globals'
import type { TaskOutputWire } from '../src/qarnot/types.js'
import { formatIds } from '../src/ranges.js'
import {
  binLabels,
  binWallTimes,
  countAxisBottom,
  instanceBars,
  niceWidth,
  PICTURES_MAX_BYTES,
  renderMemory,
  renderPictures,
  renderTaskPhases,
  renderTimeline,
  stragglerThreshold,
  taskPhases,
  wallTimeStats
} from '../src/report/pictures.js'
import { MAX_POLLS, TaskTimeline, type TimelineView } from '../src/task/timeline.js'
import type { InstanceResult, InstanceState } from '../src/task/verdict.js'

// ---------------------------------------------------------------------------------------------------- a Mermaid parser

interface XyChart {
  kind: 'xychart'
  init: unknown
  xTitle: string
  labels: string[]
  yTitle: string
  yMin: number
  yMax: number
  bars: number[][]
}

/**
 * How tall Mermaid draws a bar of `value` (its units, pixels at GitHub's width): the chart is 300 high, less 60 for
 * the x axis, with half a label (8) above and below the plot; bars start half a label below the axis's lowest value.
 */
function mermaidBarPx(value: number, chart: XyChart): number {
  return ((value - chart.yMin) / (chart.yMax - chart.yMin)) * (300 - 60 - 16) + 8
}

/** The instance counts the bars stand for: on a log scale, a bar of height h holds 10^(h - 1). */
function counted(chart: XyChart): number[][] {
  const log = chart.yTitle.includes('log scale')
  return chart.bars.map(series => series.map(v => (log && v > 0 ? Math.round(10 ** (v - 1)) : v)))
}
interface Gantt {
  kind: 'gantt'
  axisFormat: string
  tickInterval: string
  sections: {
    name: string
    tasks: { label: string; tags: string[]; id: string; start: number; end: number }[]
  }[]
}

function mermaidBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```mermaid\n([\s\S]*?)\n```$/gm)].map(m => m[1])
}

const NUMBER = String.raw`-?\d+(?:\.\d+)?`
const QUOTED = String.raw`"([^"\n]*)"`

function parseXyChart(lines: string[]): XyChart {
  const [initLine, head, xLine, yLine, ...barLines] = lines
  const init = /^%%\{init: (\{.*\})\}%%$/.exec(initLine)
  if (!init || head !== 'xychart-beta') throw new Error(`not an xychart: ${lines.join('\n')}`)
  const x = new RegExp(String.raw`^  x-axis ${QUOTED} \[(.*)\]$`).exec(xLine)
  const y = new RegExp(String.raw`^  y-axis ${QUOTED} (${NUMBER}) --> (${NUMBER})$`).exec(yLine)
  if (!x || !y) throw new Error(`bad axes: ${xLine} / ${yLine}`)
  const labels = x[2].split(', ').map(item => {
    const label = new RegExp(`^${QUOTED}$`).exec(item)
    if (!label) throw new Error(`bad label ${item}`)
    return label[1]
  })
  const bars = barLines.map(line => {
    const bar = /^ {2}bar \[([\d., ]*)\]$/.exec(line)
    if (!bar) throw new Error(`bad bar line: ${line}`)
    return bar[1].split(', ').map(Number)
  })
  return {
    kind: 'xychart',
    init: JSON.parse(init[1]),
    xTitle: x[1],
    yTitle: y[1],
    labels,
    yMin: Number(y[2]),
    yMax: Number(y[3]),
    bars
  }
}

/** A date of the timeline: `2000-01-01 00:01:05.250` is 65,250 ms since the task's creation. */
const DATE = String.raw`2000-01-\d\d \d\d:\d\d:\d\d\.\d{3}`
function sinceCreation(date: string): number {
  return Date.parse(`${date.replace(' ', 'T')}Z`) - Date.UTC(2000, 0, 1)
}

function parseGantt(lines: string[]): Gantt {
  const [head, dateFormat, axis, ticks, today, ...rest] = lines
  const axisFormat = /^ {2}axisFormat ([%HMSd: -]+|day %-d %H:%M)$/.exec(axis)
  const tickInterval = /^ {2}tickInterval ([1-9]\d*(?:second|minute|hour|day))$/.exec(ticks)
  if (
    head !== 'gantt' ||
    dateFormat !== '  dateFormat YYYY-MM-DD HH:mm:ss.SSS' ||
    !axisFormat ||
    !tickInterval ||
    today !== '  todayMarker off'
  )
    throw new Error(`bad gantt head: ${lines.slice(0, 5).join('\n')}`)
  const sections: Gantt['sections'] = []
  for (const line of rest) {
    const section = /^ {2}section (Task|Instances)$/.exec(line)
    if (section) {
      sections.push({ name: section[1], tasks: [] })
      continue
    }
    const task = new RegExp(
      String.raw`^ {2}([a-z]+(?: [a-z]+)*|instance \d+) :((?:done, |crit, )?)([ti]\d+), (${DATE}), (${DATE})$`
    ).exec(line)
    if (!task || sections.length === 0) throw new Error(`bad gantt line: ${line}`)
    const [, label, tags, id, start, end] = task
    sections[sections.length - 1].tasks.push({
      label,
      tags: tags === '' ? [] : [tags.replace(', ', '')],
      id,
      start: sinceCreation(start),
      end: sinceCreation(end)
    })
  }
  return { kind: 'gantt', axisFormat: axisFormat[1], tickInterval: tickInterval[1], sections }
}

function parseMermaid(block: string): XyChart | Gantt {
  const lines = block.split('\n')
  return lines[0] === 'gantt' ? parseGantt(lines) : parseXyChart(lines)
}

function charts(markdown: string): (XyChart | Gantt)[] {
  return mermaidBlocks(markdown).map(parseMermaid)
}

// ---------------------------------------------------------------------------------------------------- fixtures

function instance(
  id: number,
  wallTimeSec: number | undefined,
  state: InstanceState = 'Success',
  more: Partial<InstanceResult> = {}
): InstanceResult {
  return {
    id,
    state,
    error: state === 'Success' ? undefined : 'exit 1',
    wallTimeSec,
    execTimeSec: wallTimeSec,
    peakMemoryMB: 100 + (id % 7) * 10,
    attempts: 1,
    ...more
  }
}

/** A deterministic spread around `medianSec` (no randomness: the tests must not flake). */
function spread(id: number, medianSec: number): number {
  return medianSec * (0.8 + 0.4 * (((id * 7919) % 101) / 100))
}

const T0 = Date.UTC(2026, 10, 30, 10, 0, 0)

interface Plan {
  id: number
  startMs: number
  endMs: number
  failed: boolean
}

/**
 * A task followed by polling every `pollMs`: the task documents a read would get, fed to a TaskTimeline, and the
 * instances as the verdict would give them. Instances run on `slots` at once.
 */
function followed(count: number, options: { slots?: number; pollMs?: number; failing?: number[] } = {}) {
  const { slots = count, pollMs = 1000, failing = [] } = options
  const free = new Array<number>(slots).fill(T0 + 3000)
  const plans: Plan[] = Array.from({ length: count }, (_, id) => {
    free.sort((a, b) => a - b)
    const startMs = free[0] + 100
    const endMs = startMs + spread(id, 20) * 1000 * (id === 3 ? 4 : 1)
    free[0] = endMs
    return { id, startMs, endMs, failed: failing.includes(id) }
  })
  const lastEnd = Math.max(...plans.map(p => p.endMs))
  const endMs = lastEnd + 2000
  const timeline = new TaskTimeline()
  for (let at = T0 + 500; ; at += pollMs) {
    timeline.observe(documentAt(plans, at, lastEnd, endMs), at)
    if (at >= endMs) break
  }
  const instances = plans.map(p =>
    instance(p.id, (p.endMs - p.startMs) / 1000, p.failed ? 'Failure' : 'Success')
  )
  return { timeline, instances, plans }
}

function documentAt(plans: Plan[], at: number, lastEnd: number, endMs: number): TaskOutputWire {
  const ended = plans.filter(p => p.endMs <= at)
  const running = plans.filter(p => p.startMs <= at && p.endMs > at)
  const [state, since] =
    at >= endMs
      ? [ended.some(p => p.failed) ? 'Failure' : 'Success', endMs]
      : at >= lastEnd
        ? ['UploadingResults', lastEnd]
        : at >= T0 + 3100
          ? ['FullyExecuting', T0 + 3100]
          : ['Submitted', T0]
  return {
    uuid: 'u',
    state,
    creationDate: new Date(T0).toISOString(),
    stateTransitionTime: new Date(since).toISOString(),
    endDate: at >= endMs ? new Date(endMs).toISOString() : '0001-01-01T00:00:00Z',
    completedInstances: ended.map(p => ({ instanceId: p.id, state: p.failed ? 'Failure' : 'Success' })),
    status: {
      executedRange: formatIds(ended.map(p => p.id)),
      runningInstancesInfo: {
        perRunningInstanceInfo: running.map(p => ({
          instanceId: p.id,
          phase: at - p.startMs < 1000 ? 'environment' : 'execution'
        }))
      }
    }
  }
}

/** A timeline that saw nothing: the task had ended before it was followed. */
const EMPTY_TIMELINE: TimelineView = new TaskTimeline()

// ---------------------------------------------------------------------------------------------------- the timeline

describe('the timeline recorder', () => {
  it('records when each instance was first seen running, executing and ended, with the read before as a bound', () => {
    const { timeline, plans } = followed(4, { pollMs: 1000 })
    for (const plan of plans) {
      const seen = timeline.instance(plan.id)!
      expect(seen.runningSeenMs).toBeGreaterThanOrEqual(plan.startMs)
      expect(seen.runningAfterMs).toBeLessThan(plan.startMs)
      expect(seen.runningSeenMs! - seen.runningAfterMs!).toBe(1000)
      expect(seen.firstPhase).toBe('environment')
      expect(seen.executingSeenMs).toBeGreaterThanOrEqual(plan.startMs + 1000)
      expect(seen.completedSeenMs).toBeGreaterThanOrEqual(plan.endMs)
      expect(seen.completedAfterMs).toBeLessThan(plan.endMs)
      expect(seen.lastRunningMs).toBeLessThan(plan.endMs)
    }
  })

  it("records each state once, with the server's transition time and the task's own dates", () => {
    const { timeline } = followed(4)
    expect(timeline.states.map(s => s.state)).toEqual([
      'Submitted',
      'FullyExecuting',
      'UploadingResults',
      'Success'
    ])
    expect(timeline.states[0]).toMatchObject({ firstSeenMs: T0 + 500, afterMs: undefined, serverSinceMs: T0 })
    expect(timeline.states[1].serverSinceMs).toBe(T0 + 3100)
    expect(timeline.creationMs).toBe(T0)
    expect(timeline.endMs).toBe(timeline.states[3].serverSinceMs)
    expect(timeline.polls).toMatchObject({
      typicalIntervalMs: 1000,
      longestIntervalMs: 1000,
      firstMs: T0 + 500
    })
  })

  it("reads .NET's 0001-01-01 end date as none, and the task's own wall and execution times", () => {
    const timeline = new TaskTimeline()
    timeline.observe({ uuid: 'u', state: 'FullyExecuting', endDate: '0001-01-01T00:00:00Z' }, T0)
    expect(timeline.endMs).toBeUndefined()
    timeline.observe(
      {
        uuid: 'u',
        state: 'Success',
        wallTime: '00:01:02.5',
        executionTime: '1.00:00:00',
        status: { wallTimeSec: 9 }
      },
      T0 + 1000
    )
    expect(timeline.taskWallTimeSec).toBe(62.5)
    expect(timeline.taskExecutionTimeSec).toBe(86_400)
    // Figures that come as strings (the wire type says numbers; the reader does not rely on it).
    const asStrings = { uuid: 'u', state: 'Success', status: { wallTimeSec: '70', executionTimeSec: 'x' } }
    timeline.observe(asStrings as unknown as TaskOutputWire, T0 + 2000)
    expect(timeline.taskWallTimeSec).toBe(70)
    expect(timeline.taskExecutionTimeSec).toBe(86_400)
  })

  it('has no bound for what was already running or ended at the first read', () => {
    const timeline = new TaskTimeline()
    timeline.observe(
      {
        uuid: 'u',
        state: 'FullyExecuting',
        completedInstances: [{ instanceId: 0 }],
        status: { runningInstancesInfo: { perRunningInstanceInfo: [{ instanceId: 1, phase: 'weird' }] } }
      },
      T0
    )
    expect(timeline.instance(0)).toMatchObject({ completedSeenMs: T0, completedAfterMs: undefined })
    expect(timeline.instance(1)).toMatchObject({
      runningSeenMs: T0,
      runningAfterMs: undefined,
      firstPhase: 'other'
    })
    expect(timeline.instance(2)).toBeUndefined()
  })

  it('holds its instances to its cap, and a huge or hostile range costs no more than the cap', () => {
    const timeline = new TaskTimeline(10)
    const started = performance.now()
    timeline.observe({ uuid: 'u', state: 'FullyExecuting', status: { executedRange: '0-2147483646' } }, T0)
    timeline.observe({ uuid: 'u', state: 'Success', status: { failedRange: '5-2147483646,0-3' } }, T0 + 1)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(timeline.capped).toBe(true)
    expect(timeline.instance(9)?.completedSeenMs).toBe(T0)
    expect(timeline.instance(10)).toBeUndefined()
  })

  it('marks ids shown ended by a range only once, and only the new ones cost work', () => {
    const timeline = new TaskTimeline()
    timeline.observe({ uuid: 'u', state: 'FullyExecuting', status: { executedRange: '0-2' } }, T0)
    timeline.observe({ uuid: 'u', state: 'FullyExecuting', status: { executedRange: '0-4' } }, T0 + 1000)
    expect(timeline.instance(2)?.completedSeenMs).toBe(T0)
    expect(timeline.instance(4)).toMatchObject({ completedSeenMs: T0 + 1000, completedAfterMs: T0 })
  })

  it('ignores garbage: bad ids, phases, ranges, dates, states and read times', () => {
    const timeline = new TaskTimeline()
    const garbage = {
      uuid: 'u',
      state: 42,
      creationDate: 'yesterday',
      endDate: 12,
      completedInstances: [null, 7, { instanceId: -1 }, { instanceId: 1.5 }, { instanceId: '3' }],
      status: {
        executedRange: '5-1',
        failedRange: 'x',
        runningInstancesInfo: { perRunningInstanceInfo: [null, { instanceId: 'a' }, { phase: 'execution' }] }
      }
    } as unknown as TaskOutputWire
    timeline.observe(garbage, T0)
    timeline.observe(garbage, NaN)
    timeline.observe({ uuid: 'u', state: 'Success', status: null, completedInstances: null }, T0 - 5000)
    expect(timeline.instance(3)?.completedSeenMs).toBe(T0)
    expect(timeline.instance(-1)).toBeUndefined()
    expect(timeline.states.map(s => s.state)).toEqual(['Success'])
    expect(timeline.states[0].firstSeenMs).toBe(T0) // the clock went back: held
    expect(timeline.creationMs).toBeUndefined()
    expect(timeline.polls.count).toBe(2)
  })

  it('keeps at most MAX_POLLS poll times, and counts the rest', () => {
    const timeline = new TaskTimeline()
    for (let i = 0; i < MAX_POLLS + 10; i++)
      timeline.observe({ uuid: 'u', state: 'FullyExecuting' }, T0 + i * 15_000)
    expect(timeline.polls).toMatchObject({ count: MAX_POLLS + 10, typicalIntervalMs: 15_000 })
    expect(timeline.polls.lastMs).toBe(T0 + (MAX_POLLS + 9) * 15_000)
  })
})

// ---------------------------------------------------------------------------------------------------- the numbers

describe('stragglers', () => {
  it('are more than twice the median, far beyond its spread, and at least a second above it', () => {
    expect(stragglerThreshold([10, 10, 10, 40])).toBe(20)
    expect(stragglerThreshold([1, 1, 1, 1.5])).toBe(2)
    expect(stragglerThreshold([0.1, 0.1, 0.3])).toBeCloseTo(1.1)
    // A widely spread task: 3 robust deviations (3 x 1.4826 x MAD) is the larger margin.
    expect(stragglerThreshold([10, 20, 30, 40, 50])).toBeCloseTo(30 + 3 * 1.4826 * 10)
    expect(stragglerThreshold([10, 10])).toBeUndefined()
  })

  it('take the median of the instances that succeeded, so that quick failures do not drag it down', () => {
    const instances = [
      ...Array.from({ length: 10 }, (_, id) => instance(id, 30 + id)),
      ...Array.from({ length: 10 }, (_, i) => instance(10 + i, 0.5, 'Failure')),
      instance(20, 100),
      instance(21, 95, 'Failure')
    ]
    const stats = wallTimeStats(instances)!
    expect(stats.reference).toBe('succeeded')
    expect(stats.medianSec).toBe(35)
    expect(stats.stragglers.map(i => i.id)).toEqual([20, 21])
    expect(stats.slowest.map(i => i.id)).toEqual([20, 21, 9, 8, 7])
  })

  it('are none for a tight task, and not judged below three instances', () => {
    expect(
      wallTimeStats(Array.from({ length: 50 }, (_, id) => instance(id, spread(id, 60))))!.stragglers
    ).toEqual([])
    expect(wallTimeStats([instance(0, 1), instance(1, 100)])!.stragglerAboveSec).toBeUndefined()
    expect(wallTimeStats([instance(0, undefined)])).toBeUndefined()
  })
})

describe('the histogram', () => {
  it('has round widths', () => {
    expect([0.03, 0.13, 0.9, 1, 1.2, 7, 11, 40, 61, 200, 1000, 5000, 20_000, 100_000].map(niceWidth)).toEqual(
      [0.05, 0.2, 1, 1, 2, 10, 15, 60, 120, 300, 1800, 7200, 21600, 172800]
    )
  })

  it('puts every value in its bin, with edges on multiples of the width', () => {
    const values = Array.from({ length: 3000 }, (_, id) => ({
      wallTimeSec: spread(id, 90),
      failed: id % 100 === 0
    }))
    const histogram = binWallTimes(values, Infinity)
    const { edges, counts, widthSec } = histogram
    expect(counts.reduce((a, b) => a + b)).toBe(3000)
    expect(histogram.failedCounts.reduce((a, b) => a + b)).toBe(30)
    expect(counts.length).toBeGreaterThanOrEqual(8)
    expect(counts.length).toBeLessThanOrEqual(20)
    for (const edge of edges) expect(edge / widthSec).toBeCloseTo(Math.round(edge / widthSec), 9)
    for (const { wallTimeSec } of values) {
      const i = counts.findIndex((_, b) => wallTimeSec >= edges[b] && wallTimeSec < edges[b + 1] + 1e-9)
      expect(i).toBeGreaterThanOrEqual(0)
    }
    expect(histogram.overflow).toBe(false)
  })

  it('sizes bins on the usual values and gathers far stragglers in an open-ended last bin', () => {
    const values = [
      ...Array.from({ length: 40 }, (_, id) => ({ wallTimeSec: spread(id, 60), failed: false })),
      { wallTimeSec: 3600, failed: true }
    ]
    const histogram = binWallTimes(values, 120)
    expect(histogram.overflow).toBe(true)
    expect(histogram.counts[histogram.counts.length - 1]).toBe(1)
    expect(histogram.failedCounts[histogram.failedCounts.length - 1]).toBe(1)
    expect(binLabels(histogram).at(-1)).toMatch(/^\d+\+$/)
    // Sturges: 7 bins for 41 values over the usual 48-120 s: 10.3 s, rounded up to 15 s.
    expect(histogram.widthSec).toBe(15)
  })

  it('copes with one value, equal values, zeros and sub-second times', () => {
    for (const times of [[5], [5, 5, 5], [0, 0, 0], [0.01, 0.02, 0.5], [86_400 * 3, 86_400 * 3.5]]) {
      const histogram = binWallTimes(
        times.map(wallTimeSec => ({ wallTimeSec, failed: false })),
        Infinity
      )
      expect(histogram.counts.reduce((a, b) => a + b)).toBe(times.length)
      expect(histogram.edges.every(Number.isFinite)).toBe(true)
      expect(binLabels(histogram).every(label => /^[\d.]+\+?$/.test(label))).toBe(true)
    }
  })

  it('starts the count axis just above 0, so that Mermaid draws no stub for an empty bin', () => {
    expect(countAxisBottom(10)).toBeCloseTo(0.47, 2)
    expect(countAxisBottom(1000)).toBeGreaterThan(0)
    expect(countAxisBottom(1000)).toBeLessThan(50)
  })
})

// ---------------------------------------------------------------------------------------------------- the pictures

describe('the pictures', () => {
  it('for 4 instances: phases, figures, the slowest, a timeline open, memory; no histogram', () => {
    const { timeline, instances } = followed(4)
    const markdown = renderPictures(instances, timeline)
    expect(markdown).toContain("**Where the time went** (by the task's own dates): queued 3.1 s · running")
    expect(markdown).toContain('**Wall time** of 4 instances: median')
    expect(markdown).toContain('- Slowest: 3 (')
    expect(markdown).toContain('**Peak memory**: median')
    const found = charts(markdown)
    expect(found.map(c => c.kind)).toEqual(['gantt'])
    expect(markdown).toMatch(
      /<details open><summary>When the instances ran \(4 instances, time since the task was created\)<\/summary>\n\n```mermaid/
    )
    const gantt = found[0] as Gantt
    expect(gantt.sections.map(s => s.name)).toEqual(['Task', 'Instances'])
    expect(gantt.sections[0].tasks.map(t => t.label)).toEqual(['queued', 'running', 'uploading results'])
    expect(gantt.sections[1].tasks.map(t => t.label)).toEqual([0, 1, 2, 3].map(id => `instance ${id}`))
  })

  it('for 40 instances with failures: a histogram with them in red, a straggler named, a folded timeline', () => {
    const { timeline, instances, plans } = followed(40, { slots: 16, failing: [7, 19, 33] })
    const markdown = renderPictures(instances, timeline)
    const [histogram, gantt] = charts(markdown) as [XyChart, Gantt]
    expect(histogram.kind).toBe('xychart')
    expect(histogram.bars).toHaveLength(2)
    expect(histogram.bars[0].reduce((a, b) => a + b)).toBe(40)
    expect(histogram.bars[1].reduce((a, b) => a + b)).toBe(3)
    expect(histogram.labels).toHaveLength(histogram.bars[0].length)
    expect(histogram.yMin).toBeGreaterThan(0)
    expect(histogram.yMax).toBeGreaterThanOrEqual(Math.max(...histogram.bars[0]))
    expect(histogram.init).toMatchObject({
      themeVariables: { xyChart: { plotColorPalette: '#2da44e, #cf222e' } }
    })
    expect(markdown).toMatch(/- \*\*Stragglers\*\* \(wall time over [^)]*\): 1 instance, 3\./)
    expect(markdown).toContain(
      '<details><summary>When the instances ran (40 instances, time since the task was created)</summary>\n\n```mermaid'
    )
    const bars = gantt.sections[1].tasks
    expect(bars.filter(t => t.tags.includes('crit')).map(t => t.label)).toEqual([
      'instance 7',
      'instance 19',
      'instance 33'
    ])
    // Each bar ends at the first read that saw its instance ended: never before the end, at most one poll after.
    for (const bar of bars) {
      // Plotted as time since the task's creation (T0).
      const plan = plans[Number(bar.label.split(' ')[1])]
      expect(bar.end + T0).toBeGreaterThanOrEqual(plan.endMs - 1)
      expect(bar.end + T0 - plan.endMs).toBeLessThanOrEqual(1001)
      expect(bar.end - bar.start).toBeCloseTo(plan.endMs - plan.startMs, -1)
    }
  })

  it('for 3,000 instances: a binned histogram, no timeline, a few KB', () => {
    const { timeline, instances } = followed(3000, { slots: 500, pollMs: 5000, failing: [5, 6, 7] })
    const markdown = renderPictures(instances, timeline)
    const found = charts(markdown)
    expect(found.map(c => c.kind)).toEqual(['xychart'])
    const histogram = found[0] as XyChart
    expect(counted(histogram)[0].reduce((a, b) => a + b)).toBe(3000)
    expect(histogram.bars[0].length).toBeLessThanOrEqual(20)
    expect(markdown).toContain('**Wall time** of 3,000 instances')
    expect(markdown).toContain(
      'The timeline of instances is drawn for tasks of up to 50 instances; this one has 3,000.'
    )
    expect(Buffer.byteLength(markdown)).toBeLessThan(6 * 1024)
  })

  it('draws every non-empty bin and every failure at 3,000 instances with 31 scattered failures', () => {
    const failing = Array.from({ length: 31 }, (_, i) => i * 97 + 11)
    const { timeline, instances } = followed(3000, { slots: 500, pollMs: 5000, failing })
    const markdown = renderPictures(instances, timeline)
    const histogram = charts(markdown)[0] as XyChart
    const [all, failed] = histogram.bars
    expect(failed).toBeDefined()
    // On the axis it was given, every bar with instances in it is drawn tall enough to see, and an empty one not at all.
    for (const series of [all, failed])
      for (const value of series) {
        if (value === 0) expect(mermaidBarPx(value, histogram)).toBeLessThan(0)
        else expect(mermaidBarPx(value, histogram)).toBeGreaterThanOrEqual(4)
      }
    // Every failure is in a red bar, over a bin that has it.
    const [allCounts, failedCounts] = counted(histogram)
    expect(failedCounts.reduce((a, b) => a + b)).toBe(31)
    expect(allCounts.reduce((a, b) => a + b)).toBe(3000)
    failedCounts.forEach((count, bin) => expect(count).toBeLessThanOrEqual(allCounts[bin]))
    // Counts that small on 3,000 instances need a log scale, and the reader is told.
    expect(histogram.yTitle).toBe('instances (log scale)')
    expect(markdown).toMatch(
      /Heights on a log scale, so that one instance shows: the tallest bar holds [\d,]+\./
    )
    expect(markdown).toContain('in red, the 31 instances that did not succeed')
  })

  it('stays under its byte limit at 100,000 instances, thousands of them stragglers', () => {
    const instances = Array.from({ length: 100_000 }, (_, id) =>
      instance(id, id % 20 === 0 ? 500 + (id % 977) : spread(id, 60), id % 3 === 0 ? 'Failure' : 'Success')
    )
    const started = performance.now()
    const markdown = renderPictures(instances, EMPTY_TIMELINE)
    expect(performance.now() - started).toBeLessThan(3000)
    expect(Buffer.byteLength(markdown)).toBeLessThan(PICTURES_MAX_BYTES)
    expect(markdown).toMatch(/\*\*Stragglers\*\* \([^)]*\): 5,000 instances, 0, 20, 40, .*, …\./)
    expect(charts(markdown)).toHaveLength(1)
  })

  it('keeps task text out of the Mermaid source and escapes none of it into the Markdown', () => {
    const hostile = '```\n</details><img src=x onerror=alert(1)> %%{init: {}}%% :crit, x, 1, 2\n'
    const timeline = new TaskTimeline()
    timeline.observe(
      { uuid: 'u', state: hostile, status: { runningInstancesInfo: { perRunningInstanceInfo: [] } } },
      T0
    )
    timeline.observe(
      {
        uuid: 'u',
        state: 'FullyExecuting',
        status: { runningInstancesInfo: { perRunningInstanceInfo: [{ instanceId: 0, phase: hostile }] } }
      },
      T0 + 1000
    )
    timeline.observe(
      { uuid: 'u', state: hostile.toUpperCase(), completedInstances: [{ instanceId: 0 }] },
      T0 + 2000
    )
    const instances = Array.from({ length: 12 }, (_, id) =>
      instance(id, 10 + id, id === 0 ? 'Failure' : 'Success', { error: hostile })
    )
    const markdown = renderPictures(instances, timeline)
    expect(markdown).not.toContain('<img')
    expect(markdown).not.toContain('onerror')
    expect(markdown).not.toContain('init: {}')
    expect(markdown.match(/```/g)).toHaveLength(4)
    expect(() => charts(markdown)).not.toThrow()
    expect(charts(markdown)).toHaveLength(2)
  })

  it('draws only instances whose times were seen, and says which were left out', () => {
    const { timeline, instances } = followed(6)
    const more = [...instances, instance(6, 12), instance(7, undefined, 'NotCompleted')]
    const { bars, leftOut } = instanceBars(more, timeline)
    expect(bars).toHaveLength(6)
    expect(leftOut).toEqual([6, 7])
    expect(renderTimeline(more, timeline)).toContain('Left out, no time seen for them: 2 instances, 6-7.')
    // A task that had ended before it was followed: no read saw anything happen, nothing is drawn.
    const late = new TaskTimeline()
    late.observe(
      { uuid: 'u', state: 'Success', completedInstances: [{ instanceId: 0 }, { instanceId: 1 }] },
      T0
    )
    expect(instanceBars(instances.slice(0, 2), late).bars).toEqual([])
    expect(renderTimeline(instances.slice(0, 2), late)).toMatch(
      /^_No timeline: no read saw an instance start or end/
    )
  })

  it('draws an instance with no wall time from its first read running to its end as seen', () => {
    const timeline = new TaskTimeline()
    const running = {
      runningInstancesInfo: { perRunningInstanceInfo: [{ instanceId: 0, phase: 'execution' }] }
    }
    timeline.observe({ uuid: 'u', state: 'Submitted' }, T0)
    timeline.observe({ uuid: 'u', state: 'FullyExecuting', status: running }, T0 + 1000)
    timeline.observe({ uuid: 'u', state: 'FullyExecuting', status: running }, T0 + 2000)
    timeline.observe({ uuid: 'u', state: 'Cancelled', completedInstances: [{ instanceId: 0 }] }, T0 + 3000)
    const { bars } = instanceBars([instance(0, undefined, 'Cancelled')], timeline)
    expect(bars).toEqual([{ id: 0, startMs: T0 + 1000, endMs: T0 + 3000, failed: true, from: 'seen' }])
  })
})

describe('where the time went', () => {
  it("uses the task's own dates when every state seen has one", () => {
    const { timeline } = followed(4)
    const phases = taskPhases(timeline, 'server')!
    expect(phases.spans.map(s => s.phases.join('+'))).toEqual(['queued', 'running', 'uploading'])
    expect(phases.spans[0]).toMatchObject({ startMs: T0, endMs: T0 + 3100 })
  })

  it('joins the phases that went by between two reads, and says the polling figures are bounds', () => {
    const timeline = new TaskTimeline()
    timeline.observe({ uuid: 'u', state: 'Submitted' }, T0)
    timeline.observe({ uuid: 'u', state: 'UploadingResults' }, T0 + 10_000)
    timeline.observe({ uuid: 'u', state: 'Success' }, T0 + 12_000)
    const line = renderTaskPhases(timeline)
    expect(line).toBe(
      '**Where the time went** (as seen by polling every ~6.0 s, at most 10 s apart): queued and running at least 10 s · uploading results 2.0 s; 12 s in all.'
    )
  })

  it('says when the task had not ended, and says nothing without a read', () => {
    const timeline = new TaskTimeline()
    expect(renderTaskPhases(timeline)).toBe('')
    timeline.observe({ uuid: 'u', state: 'Submitted' }, T0)
    timeline.observe({ uuid: 'u', state: 'FullyExecuting' }, T0 + 4000)
    timeline.observe({ uuid: 'u', state: 'FullyExecuting' }, T0 + 9000)
    expect(renderTaskPhases(timeline)).toContain('running 5.0 s; 9.0 s in all (not ended at the last read).')
  })

  it('never shows a state name the server made up', () => {
    const timeline = new TaskTimeline()
    timeline.observe({ uuid: 'u', state: 'Frobnicating <b>' }, T0)
    timeline.observe({ uuid: 'u', state: 'Success' }, T0 + 1000)
    expect(renderTaskPhases(timeline)).toContain('in other states at least 1.0 s')
    expect(renderTaskPhases(timeline)).not.toContain('Frobnicating')
  })
})

describe('peak memory', () => {
  it('gives the median and the largest with its instance, and how many reported it', () => {
    const instances = [
      instance(0, 1, 'Success', { peakMemoryMB: 100 }),
      instance(1, 1, 'Success', { peakMemoryMB: 3000 }),
      instance(2, 1, 'Success', { peakMemoryMB: 200 }),
      instance(3, 1, 'Success', { peakMemoryMB: undefined })
    ]
    expect(renderMemory(instances)).toMatch(
      /^\*\*Peak memory\*\*: median 200 MB, largest 2\.9 GB \(instance 1\), of 3 instances that reported it\./
    )
    expect(renderMemory([instance(0, 1, 'Success', { peakMemoryMB: undefined })])).toBe('')
    // Nothing peaks at 0 MB: a 0 is a figure not measured, and is left out rather than shown as "median 0 MB".
    expect(renderMemory([0, 1, 2].map(id => instance(id, 1, 'Success', { peakMemoryMB: 0 })))).toBe('')
    expect(
      renderMemory([
        instance(0, 1, 'Success', { peakMemoryMB: 0 }),
        instance(1, 1, 'Success', { peakMemoryMB: 300 })
      ])
    ).toMatch(/median 300 MB, largest 300 MB \(instance 1\), of 1 instance that reported it/)
  })
})

describe('nothing to show', () => {
  it('is an empty string', () => {
    expect(renderPictures([], undefined)).toBe('')
    expect(
      renderPictures([instance(0, undefined, 'NotCompleted', { peakMemoryMB: undefined })], EMPTY_TIMELINE)
    ).toBe('')
  })
})

describe('where the time went, for a task that had ended before it was followed', () => {
  it("counts from the task's creation, with the phases no read saw joined", () => {
    const timeline = new TaskTimeline()
    const end = new Date(T0 + 600_000).toISOString()
    timeline.observe(
      {
        uuid: 'u',
        state: 'Success',
        creationDate: new Date(T0).toISOString(),
        endDate: end,
        stateTransitionTime: end
      },
      T0 + 3_600_000
    )
    expect(renderTaskPhases(timeline)).toBe(
      "**Where the time went** (by the task's own dates): queued, running and uploading results 10 min; 10 min in all."
    )
  })
})

describe('a wall time that cannot be', () => {
  it('does not stretch the timeline back before the task existed', () => {
    const { timeline, instances } = followed(3)
    const broken = [instance(0, 1e9), ...instances.slice(1)]
    const { bars } = instanceBars(broken, timeline)
    expect(bars[0].from).toBe('seen')
    expect(bars[0].startMs).toBeGreaterThan(T0)
    const gantt = charts(renderTimeline(broken, timeline))[0] as Gantt
    expect(gantt.axisFormat).toBe('%M:%S')
  })
})
