/** The predicted poll schedule: pure functions of the reads so far and the clock, no timers. */
import { describe, expect, it } from '@jest/globals'
import type { TaskOutputWire } from '../src/qarnot/types.js'
import { predictEnd, remainingOf } from '../src/task/end-prediction.js'
import { MAX_DURATIONS, observeTask, type PollHistory } from '../src/task/poll-history.js'
import { nextPollDelayMs, PREDICTED_POLL } from '../src/task/poll-schedule.js'
import { outputReadDue, QUIET_OUTPUT_READ_MS } from '../src/task/output-cadence.js'

const P = PREDICTED_POLL

interface Shape {
  total: number
  /** Wall/exec times (s) of the ended instances. */
  ended: number[]
  /** Execution times (s) of the running instances. */
  running: number[]
  state?: string
}

function doc({ total, ended, running, state = 'FullyExecuting' }: Shape): TaskOutputWire {
  return {
    uuid: 'u',
    state,
    totalInstanceCount: total,
    runningInstanceCount: running.length,
    completedInstances: ended.map((s, i) => ({
      instanceId: i,
      state: 'Success',
      wallTimeSec: s,
      execTimeSec: s
    })),
    status: {
      runningInstancesInfo: {
        perRunningInstanceInfo: running.map((s, i) => ({ instanceId: 1000 + i, executionTimeSec: s }))
      }
    }
  }
}

const at = (shape: Shape, now: number, previous?: PollHistory) => observeTask(previous, doc(shape), now)

/** Sixty instances of 55-65 s ended: a typical duration of 60 s. */
const SIXTY = Array.from({ length: 60 }, (_, i) => 55 + (i % 11))

describe('the predicted end', () => {
  it('expects a running instance to take the median of the durations longer than it has run', () => {
    expect(remainingOf([10_000, 20_000, 30_000], 15_000).ms).toBe(10_000)
    expect(remainingOf([10_000, 20_000, 30_000], 0).ms).toBe(20_000)
  })

  it('says how far an instance that outlived every duration seen is overdue', () => {
    expect(remainingOf([10_000, 20_000], 15_000).overdueMs).toBe(0)
    expect(remainingOf([10_000, 20_000], 30_000).overdueMs).toBe(10_000)
    expect(remainingOf([10_000, 20_000], 60_000).overdueMs).toBe(40_000)
  })

  it('has no prediction before any instance ended', () => {
    expect(predictEnd(at({ total: 4, ended: [], running: [30, 30, 30, 30] }, 0))).toBeUndefined()
  })

  it('counts the waves of waiting instances', () => {
    // 4 running, 8 waiting: two more waves of about 60 s after the running ones.
    const p = predictEnd(at({ total: 72, ended: SIXTY, running: [30, 30, 30, 30] }, 0))
    expect(p?.endAt).toBeGreaterThan(140_000)
    expect(p?.endAt).toBeLessThan(160_000)
  })
})

describe('nextPollDelayMs', () => {
  it('is sparse far from the predicted end', () => {
    const history = at({ total: 400, ended: SIXTY, running: [5, 5, 5, 5] }, 0)
    expect(nextPollDelayMs(history, 0)).toBe(P.ceilingMs)
  })

  it('is dense near the predicted end', () => {
    // The last instance has run 59 s of the ~60 s the others took.
    const history = at({ total: 61, ended: SIXTY, running: [59] }, 100_000)
    expect(nextPollDelayMs(history, 100_000)).toBeLessThanOrEqual(P.windowEdgeMs)
    expect(nextPollDelayMs(history, 101_000)).toBeLessThanOrEqual(P.windowEdgeMs)
  })

  it('closes in on the predicted end: the wait shrinks as the end nears', () => {
    const history = at({ total: 61, ended: SIXTY, running: [0] }, 0)
    const end = predictEnd(history)?.endAt ?? NaN
    const waits = [0.1, 0.5, 0.8, 0.9, 0.95].map(f => nextPollDelayMs(history, f * end))
    for (let i = 1; i < waits.length; i++) expect(waits[i]).toBeLessThanOrEqual(waits[i - 1])
    expect(waits[0]).toBeGreaterThan(5 * waits[waits.length - 1])
  })

  it('backs off smoothly, within the floor and the ceiling, when the end does not come', () => {
    // The last instance outlives every other by more and more.
    let previous = 0
    for (let overrun = 0; overrun <= 3600; overrun += 5) {
      const history = at({ total: 61, ended: SIXTY, running: [65 + overrun] }, overrun * 1000)
      const wait = nextPollDelayMs(history, overrun * 1000)
      expect(wait).toBeGreaterThanOrEqual(P.denseMs)
      expect(wait).toBeLessThanOrEqual(P.ceilingMs)
      expect(wait).toBeGreaterThanOrEqual(previous - 1) // never denser again as the overrun grows
      expect(wait - previous).toBeLessThanOrEqual(2_000) // no jump
      previous = wait
    }
    expect(previous).toBe(P.ceilingMs)
  })

  it('stays within the ceiling when the prediction is late (the end may come any time)', () => {
    const history = at({ total: 10_000, ended: SIXTY, running: [1] }, 0)
    expect(predictEnd(history)?.endAt).toBeGreaterThan(3600_000)
    expect(nextPollDelayMs(history, 0)).toBe(P.ceilingMs)
  })

  it('never waits less than poll-interval, near the end as elsewhere, even above the ceiling', () => {
    const near = at({ total: 61, ended: SIXTY, running: [59] }, 0)
    const far = at({ total: 400, ended: SIXTY, running: [5] }, 0)
    expect(nextPollDelayMs(near, 0, 5_000)).toBe(5_000)
    expect(nextPollDelayMs(far, 0, 5_000)).toBe(P.ceilingMs)
    expect(nextPollDelayMs(near, 0, 120_000)).toBe(120_000)
    expect(nextPollDelayMs(undefined, 0, 2_000)).toBe(2_000)
  })

  it('without a prediction, eases with how long the instances have run, up to its own ceiling', () => {
    expect(nextPollDelayMs(undefined, 0)).toBe(P.denseMs)
    const early = at({ total: 1, ended: [], running: [2] }, 0)
    const later = at({ total: 1, ended: [], running: [60] }, 0)
    const long = at({ total: 1, ended: [], running: [7200] }, 0)
    expect(nextPollDelayMs(early, 0)).toBe(P.denseMs)
    expect(nextPollDelayMs(later, 0)).toBe(Math.round(P.ease * 60_000))
    expect(nextPollDelayMs(long, 0)).toBe(P.unpredictedCeilingMs)
    // Nothing running yet: from when following began.
    const queued = at({ total: 3, ended: [], running: [] }, 0)
    expect(nextPollDelayMs(queued, 50_000)).toBe(Math.round(P.ease * 50_000))
  })

  it('is dense once nothing is left to run, and eases if the wrap-up lasts', () => {
    const uploading = { total: 60, ended: SIXTY, running: [], state: 'UploadingResults' }
    const first = at(uploading, 0)
    expect(nextPollDelayMs(first, 0)).toBeLessThanOrEqual(P.denseMs + 1)
    const tenMinutes = at(uploading, 600_000, first)
    const wait = nextPollDelayMs(tenMinutes, 600_000)
    expect(wait).toBeGreaterThan(P.windowEdgeMs)
    expect(wait).toBeLessThanOrEqual(P.ceilingMs)
    // An abort winds down too.
    expect(nextPollDelayMs(at({ total: 1, ended: [], running: [9000], state: 'PendingCancel' }, 0), 0)).toBe(
      P.denseMs
    )
  })
})

describe('observeTask', () => {
  it('takes running times from the read, else from when the instance was first seen running', () => {
    const task = (executionTimeSec: unknown): TaskOutputWire => ({
      uuid: 'u',
      state: 'FullyExecuting',
      totalInstanceCount: 1,
      runningInstanceCount: 1,
      status: {
        runningInstancesInfo: { perRunningInstanceInfo: [{ instanceId: 7, executionTimeSec } as never] }
      }
    })
    expect(observeTask(undefined, task(12), 0).runningMs).toEqual([12_000])
    const first = observeTask(undefined, task(null), 1_000)
    expect(observeTask(first, task(Number.NaN), 31_000).runningMs).toEqual([30_000])
    expect(observeTask(first, task(-5), 31_000).runningMs).toEqual([30_000])
  })

  it('counts running instances it cannot list as just started, and survives a bare document', () => {
    const bare = observeTask(undefined, { uuid: 'u', state: 'FullyExecuting', runningInstanceCount: 3 }, 0)
    expect(bare.runningMs).toEqual([0, 0, 0])
    expect(nextPollDelayMs(bare, 0)).toBeGreaterThanOrEqual(P.denseMs)
    const empty = observeTask(undefined, { uuid: 'u', state: 'Submitted', status: null }, 0)
    expect(nextPollDelayMs(empty, 0)).toBe(P.denseMs)
  })

  it('prefers the successes as durations (a crash ends fast), and keeps a bounded, sorted sample', () => {
    const task: TaskOutputWire = {
      uuid: 'u',
      state: 'FullyExecuting',
      totalInstanceCount: 3,
      completedInstances: [
        { instanceId: 0, state: 'Failure', wallTimeSec: 1 },
        { instanceId: 1, state: 'Success', wallTimeSec: 50 }
      ]
    }
    expect(observeTask(undefined, task, 0).durationsMs).toEqual([50_000])
    const many: TaskOutputWire = {
      uuid: 'u',
      state: 'FullyExecuting',
      totalInstanceCount: 50_000,
      completedInstances: Array.from({ length: 20_000 }, (_, i) => ({
        instanceId: i,
        state: 'Success',
        wallTimeSec: (i * 7919) % 20_000
      }))
    }
    const sampled = observeTask(undefined, many, 0).durationsMs
    expect(sampled).toHaveLength(MAX_DURATIONS)
    expect(sampled[0]).toBe(0)
    expect(sampled[sampled.length - 1]).toBe(19_999_000)
    for (let i = 1; i < sampled.length; i++) expect(sampled[i]).toBeGreaterThanOrEqual(sampled[i - 1])
  })
})

/** Following a task of waves on a virtual clock, with the schedule alone: when is the end seen, at what cost? */
function simulate(durationsMs: number[], slots: number): { lateMs: number; reads: number; endMs: number } {
  const start: number[] = []
  const end: number[] = []
  const free: number[] = Array.from({ length: slots }, () => 0)
  durationsMs.forEach((d, i) => {
    free.sort((a, b) => a - b)
    start[i] = free[0]
    end[i] = free[0] + d
    free[0] = end[i]
  })
  const endMs = Math.max(...end)
  const read = (t: number): TaskOutputWire => {
    const ended = end.flatMap((e, i) => (e <= t ? [i] : []))
    const running = start.flatMap((s, i) => (s <= t && end[i] > t ? [i] : []))
    return {
      uuid: 'u',
      state: t >= endMs ? 'Success' : 'FullyExecuting',
      totalInstanceCount: durationsMs.length,
      runningInstanceCount: running.length,
      completedInstances: ended.map(i => ({
        instanceId: i,
        state: 'Success',
        wallTimeSec: durationsMs[i] / 1000
      })),
      status: {
        runningInstancesInfo: {
          perRunningInstanceInfo: running.map(i => ({
            instanceId: i,
            executionTimeSec: Math.floor((t - start[i]) / 1000)
          }))
        }
      }
    }
  }
  let t = 0
  let reads = 0
  let history: PollHistory | undefined
  for (;;) {
    reads++
    const task = read(t)
    history = observeTask(history, task, t)
    if (task.state === 'Success') return { lateMs: t - endMs, reads, endMs }
    t += nextPollDelayMs(history, t)
  }
}

const spread = (count: number, typicalMs: number): number[] =>
  Array.from({ length: count }, (_, i) => typicalMs * (0.85 + (0.3 * ((i * 37) % count)) / count))

describe('the schedule over a whole task (virtual clock)', () => {
  it.each([
    ['10 min', 40, 60_000],
    ['2 h', 100, 288_000]
  ])('sees the end of a %s task of waves within seconds, reading rarely', (_label, count, typicalMs) => {
    const { lateMs, reads, endMs } = simulate(spread(count, typicalMs), 4)
    expect(lateMs).toBeLessThanOrEqual(P.windowEdgeMs)
    expect(reads / (endMs / 1000)).toBeLessThan(0.1)
  })

  it('stays bounded when the last instance runs far longer than the others', () => {
    // 39 instances of ~60 s, then one of 30 min: the prediction is wrong by 29 minutes.
    const durations = [...spread(39, 60_000), 30 * 60_000]
    const { lateMs, reads, endMs } = simulate(durations, 4)
    expect(lateMs).toBeLessThanOrEqual(P.ceilingMs)
    expect(reads / (endMs / 1000)).toBeLessThan(0.2)
  })
})

describe('outputReadDue', () => {
  it('reads output first, then every so often while quiet, sooner while it flows, at once after a large read', () => {
    expect(outputReadDue(0, undefined, 0)).toBe(true)
    expect(outputReadDue(1_000, 0, 0)).toBe(false)
    expect(outputReadDue(QUIET_OUTPUT_READ_MS, 0, 0)).toBe(true)
    expect(outputReadDue(6_000, 0, 10)).toBe(true)
    expect(outputReadDue(250, 0, 10 * 1024 * 1024)).toBe(true)
  })
})
