/**
 * When things happened, as far as the action can see it (docs/qarnot-api.md §4). Qarnot's completed instances carry
 * durations (`wallTimeSec`) but no start or end time, so the only clock on instances is the action's own polling:
 * a recorder fed with every task document read, and the time each read arrived, notes per instance the first read
 * that listed it running (`status.runningInstancesInfo.perRunningInstanceInfo`, with its phase), the first that
 * listed it in phase `execution`, the last that listed it running, and the first that showed it ended
 * (`completedInstances`, or the status ranges); and per task state the first read that showed it, with the server's
 * own `stateTransitionTime` for it. The task's `creationDate` and `endDate` are kept as the server gave them.
 *
 * Honest by construction: an observed time is only a bound. "First seen running at read t" means it started
 * after the read before (kept as `...AfterMs`) and by t; an instance already running or ended at the first read
 * has no `...AfterMs`. The poll times are kept (up to MAX_POLLS) so a reader can say how coarse they are.
 *
 * Bounded memory: a few numbers per instance in typed columns, for at most MAX_INSTANCES instances (further ones
 * are not recorded and `capped` says so); at most MAX_STATES state names. Pure: no clock, no I/O.
 */
import {
  intervalsContain,
  normalise,
  parseRangeField,
  subtractIntervals,
  type IdInterval
} from '../ranges.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import { parseDate, parseNonNegative, parseNumber, parseTimeSpan } from '../qarnot/time.js'

export const MAX_INSTANCES = 100_000
export const MAX_POLLS = 20_000
export const MAX_STATES = 32

/** The phases Qarnot reports for a running instance (OpenAPI); anything else reads as `other`. */
export const RUNNING_PHASES = [
  'dispatch',
  'download',
  'environment',
  'execution',
  'shutdown',
  'upload'
] as const
export type RunningPhase = (typeof RUNNING_PHASES)[number] | 'other'

/** What the reads showed of one instance; times are epoch ms of the reads, undefined when never seen. */
export interface InstanceSighting {
  readonly id: number
  /** The first read that listed it running, and the read before that one (it started in between). */
  readonly runningSeenMs: number | undefined
  readonly runningAfterMs: number | undefined
  /** Its phase at that first sighting. */
  readonly firstPhase: RunningPhase | undefined
  /** The first read that listed it in phase `execution`. */
  readonly executingSeenMs: number | undefined
  /** The last read that listed it running. */
  readonly lastRunningMs: number | undefined
  /** The first read that showed it ended, and the read before that one (it ended in between). */
  readonly completedSeenMs: number | undefined
  readonly completedAfterMs: number | undefined
}

export interface StateSighting {
  /** As the server wrote it: untrusted text, never put in Mermaid or HTML unescaped. */
  readonly state: string
  /** The first read that showed this state, and the read before it (undefined: the very first read). */
  readonly firstSeenMs: number
  readonly afterMs: number | undefined
  /** The server's `stateTransitionTime` at that read: when the task entered the state, by the server's clock. */
  readonly serverSinceMs: number | undefined
}

export interface PollSummary {
  readonly count: number
  readonly firstMs: number | undefined
  readonly lastMs: number | undefined
  /** The median gap between two reads, and the longest (undefined with fewer than two reads). */
  readonly typicalIntervalMs: number | undefined
  readonly longestIntervalMs: number | undefined
}

/** What the pictures read: the recorder implements it, tests may fake it. */
export interface TimelineView {
  readonly polls: PollSummary
  /** In the order first seen. */
  readonly states: readonly StateSighting[]
  /** The task's own dates (server clock); `endMs` undefined until it ends (.NET's 0001-01-01). */
  readonly creationMs: number | undefined
  readonly endMs: number | undefined
  /** The task's own `wallTime` and `executionTime` (.NET spans) as last read, in seconds. */
  readonly taskWallTimeSec: number | undefined
  readonly taskExecutionTimeSec: number | undefined
  /** True when more than MAX_INSTANCES instances were seen: the others have no sighting. */
  readonly capped: boolean
  instance(id: number): InstanceSighting | undefined
}

const PHASE_CODES: readonly RunningPhase[] = [...RUNNING_PHASES, 'other']

function phaseCode(phase: unknown): number {
  const index = PHASE_CODES.indexOf(
    typeof phase === 'string' ? (phase.toLowerCase() as RunningPhase) : 'other'
  )
  return (index < 0 ? PHASE_CODES.length - 1 : index) + 1
}

const EXECUTION_CODE = phaseCode('execution')

/** Column names of the per-instance store; each is a Float64Array with NaN for "never seen". */
const COLUMNS = [
  'runningSeenMs',
  'runningAfterMs',
  'executingSeenMs',
  'lastRunningMs',
  'completedSeenMs',
  'completedAfterMs'
] as const
type Column = (typeof COLUMNS)[number]

/** Per-instance numbers in typed columns: under 100 bytes an instance with its map entry (9 MB at the cap). */
class InstanceColumns {
  private readonly slots = new Map<number, number>()
  private columns = {} as Record<Column, Float64Array>
  private phases = new Uint8Array(0)
  capped = false

  constructor(private readonly max: number) {
    this.grow(Math.min(64, max))
  }

  get size(): number {
    return this.slots.size
  }

  /** The slot of `id`, made if there is room; undefined when the store is full. */
  slot(id: number): number | undefined {
    let slot = this.slots.get(id)
    if (slot !== undefined) return slot
    if (this.slots.size >= this.max) {
      this.capped = true
      return undefined
    }
    slot = this.slots.size
    if (slot >= this.phases.length) this.grow(Math.min(this.max, this.phases.length * 2))
    this.slots.set(id, slot)
    return slot
  }

  has(id: number): boolean {
    return this.slots.has(id)
  }

  /** Sets `column` at `slot` unless already set (first sightings) or always (`overwrite`). */
  set(slot: number, column: Column, value: number | undefined, overwrite = false): void {
    const values = this.columns[column]
    if (overwrite || Number.isNaN(values[slot])) values[slot] = value ?? NaN
  }

  setPhase(slot: number, code: number): void {
    if (this.phases[slot] === 0) this.phases[slot] = code
  }

  isSet(slot: number, column: Column): boolean {
    return !Number.isNaN(this.columns[column][slot])
  }

  read(id: number): InstanceSighting | undefined {
    const slot = this.slots.get(id)
    if (slot === undefined) return undefined
    const value = (column: Column): number | undefined => {
      const number = this.columns[column][slot]
      return Number.isNaN(number) ? undefined : number
    }
    const phase = this.phases[slot]
    return {
      id,
      runningSeenMs: value('runningSeenMs'),
      runningAfterMs: value('runningAfterMs'),
      firstPhase: phase === 0 ? undefined : PHASE_CODES[phase - 1],
      executingSeenMs: value('executingSeenMs'),
      lastRunningMs: value('lastRunningMs'),
      completedSeenMs: value('completedSeenMs'),
      completedAfterMs: value('completedAfterMs')
    }
  }

  /** Every recorded slot with its id. */
  entries(): IterableIterator<[number, number]> {
    return this.slots.entries()
  }

  private grow(length: number): void {
    const columns = {} as Record<Column, Float64Array>
    for (const column of COLUMNS) {
      columns[column] = new Float64Array(length).fill(NaN)
      if (this.columns[column]) columns[column].set(this.columns[column])
    }
    const phases = new Uint8Array(length)
    phases.set(this.phases)
    this.columns = columns
    this.phases = phases
  }
}

/** The ids a task document shows as ended: its status ranges, as intervals (unreadable ranges are skipped). */
function endedIntervals(task: TaskOutputWire): IdInterval[] {
  const status = task.status ?? {}
  const intervals: IdInterval[] = []
  for (const field of [
    status.executedRange,
    status.succeededRange,
    status.failedRange,
    status.cancelledRange
  ]) {
    try {
      intervals.push(...parseRangeField(typeof field === 'string' ? field : undefined))
    } catch {
      // A malformed range is no evidence; the verdict reports such ranges, the timeline just skips them.
    }
  }
  return normalise(intervals)
}

function instanceId(value: unknown): number | undefined {
  const id = parseNumber(value)
  return id !== undefined && Number.isSafeInteger(id) && id >= 0 ? id : undefined
}

/** A .NET span as seconds, when it is a duration (negative spans are not). */
function span(value: unknown): number | undefined {
  const seconds = parseTimeSpan(value)
  return seconds !== undefined && seconds >= 0 ? seconds : undefined
}

function median(sorted: Float64Array): number | undefined {
  if (sorted.length === 0) return undefined
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/**
 * The recorder: call observe(task, readAtMs) with every task document read while polling, in order, with the time
 * its answer arrived (the clock the rest of the report uses). Cheap per read: work in proportion to the running and
 * completed instances the document lists, and to the ids newly shown ended by its ranges.
 */
export class TaskTimeline implements TimelineView {
  private readonly store: InstanceColumns
  private readonly maxInstances: number
  private readonly pollTimes: number[] = []
  private pollCount = 0
  private lastPollMs: number | undefined
  private readonly stateList: StateSighting[] = []
  private endedSoFar: IdInterval[] = []
  creationMs: number | undefined
  endMs: number | undefined
  taskWallTimeSec: number | undefined
  taskExecutionTimeSec: number | undefined

  constructor(maxInstances = MAX_INSTANCES) {
    this.maxInstances = maxInstances
    this.store = new InstanceColumns(maxInstances)
  }

  get capped(): boolean {
    return this.store.capped
  }

  get states(): readonly StateSighting[] {
    return this.stateList
  }

  instance(id: number): InstanceSighting | undefined {
    return this.store.read(id)
  }

  /** Records one read of the task, answered at `readAtMs` (reads must come in order; a clock going back is held). */
  observe(task: TaskOutputWire, readAtMs: number): void {
    if (!Number.isFinite(readAtMs)) return
    const at = Math.max(readAtMs, this.lastPollMs ?? readAtMs)
    const before = this.lastPollMs
    this.notePoll(at)
    this.noteTask(task, at, before)
    this.noteRunning(task, at, before)
    this.noteCompletedEntries(task, at, before)
    this.noteEndedRanges(task, at, before)
  }

  get polls(): PollSummary {
    const times = this.pollTimes
    const gaps = new Float64Array(Math.max(0, times.length - 1))
    for (let i = 1; i < times.length; i++) gaps[i - 1] = times[i] - times[i - 1]
    gaps.sort()
    return {
      count: this.pollCount,
      firstMs: times[0],
      lastMs: this.lastPollMs,
      typicalIntervalMs: median(gaps),
      longestIntervalMs: gaps.length > 0 ? gaps[gaps.length - 1] : undefined
    }
  }

  private notePoll(at: number): void {
    this.pollCount++
    this.lastPollMs = at
    if (this.pollTimes.length < MAX_POLLS) this.pollTimes.push(at)
  }

  private noteTask(task: TaskOutputWire, at: number, before: number | undefined): void {
    this.creationMs ??= parseDate(task.creationDate)
    this.endMs = parseDate(task.endDate) ?? this.endMs
    const status = task.status ?? {}
    this.taskWallTimeSec = span(task.wallTime) ?? parseNonNegative(status.wallTimeSec) ?? this.taskWallTimeSec
    this.taskExecutionTimeSec =
      span(task.executionTime) ?? parseNonNegative(status.executionTimeSec) ?? this.taskExecutionTimeSec
    const state = typeof task.state === 'string' ? task.state.slice(0, 64) : ''
    if (state === '' || this.stateList.length >= MAX_STATES) return
    if (this.stateList.some(s => s.state === state)) return
    const serverSinceMs = parseDate(task.stateTransitionTime)
    this.stateList.push({ state, firstSeenMs: at, afterMs: before, serverSinceMs })
  }

  private noteRunning(task: TaskOutputWire, at: number, before: number | undefined): void {
    const running = task.status?.runningInstancesInfo?.perRunningInstanceInfo
    if (!Array.isArray(running)) return
    for (const info of running as unknown[]) {
      if (typeof info !== 'object' || info === null) continue
      const { instanceId: rawId, phase } = info as { instanceId?: unknown; phase?: unknown }
      const id = instanceId(rawId)
      const slot = id === undefined ? undefined : this.store.slot(id)
      if (slot === undefined) continue
      const code = phaseCode(phase)
      if (!this.store.isSet(slot, 'runningSeenMs')) {
        this.store.set(slot, 'runningSeenMs', at)
        this.store.set(slot, 'runningAfterMs', before)
        this.store.setPhase(slot, code)
      }
      if (code === EXECUTION_CODE) this.store.set(slot, 'executingSeenMs', at)
      this.store.set(slot, 'lastRunningMs', at, true)
    }
  }

  private markEnded(slot: number, at: number, before: number | undefined): void {
    if (this.store.isSet(slot, 'completedSeenMs')) return
    this.store.set(slot, 'completedSeenMs', at)
    this.store.set(slot, 'completedAfterMs', before)
  }

  private noteCompletedEntries(task: TaskOutputWire, at: number, before: number | undefined): void {
    const completed = task.completedInstances
    if (!Array.isArray(completed)) return
    for (const entry of completed as unknown[]) {
      if (typeof entry !== 'object' || entry === null) continue
      const id = instanceId((entry as { instanceId?: unknown }).instanceId)
      const slot = id === undefined ? undefined : this.store.slot(id)
      if (slot !== undefined) this.markEnded(slot, at, before)
    }
  }

  /**
   * Ids the ranges show ended for the first time. Walks the new ids while that stays within the store's size;
   * past that (a huge or hostile range once the store is full) it checks the recorded instances instead.
   */
  private noteEndedRanges(task: TaskOutputWire, at: number, before: number | undefined): void {
    const ended = endedIntervals(task)
    const fresh = subtractIntervals(ended, this.endedSoFar)
    if (fresh.length === 0) return
    this.endedSoFar = normalise([...this.endedSoFar, ...fresh])
    let budget = this.maxInstances + 1
    for (const { first, last } of fresh) {
      for (let id = first; id <= last; id++) {
        if (--budget < 0) return this.markRecordedWithin(fresh, at, before)
        const slot = this.store.slot(id)
        if (slot !== undefined) this.markEnded(slot, at, before)
      }
    }
  }

  private markRecordedWithin(intervals: readonly IdInterval[], at: number, before: number | undefined): void {
    for (const [id, slot] of this.store.entries()) {
      if (intervalsContain(intervals, id)) this.markEnded(slot, at, before)
    }
  }
}
