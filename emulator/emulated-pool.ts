/**
 * One emulated Qarnot pool (docs/qarnot-api.md §10): a set of instance slots opened with a profile and constants,
 * in which tasks run without a profile of their own. Its states follow Qarnot's pool states: Submitted, then
 * FullyDispatched, then FullyExecuting (open: its tasks run), and on close Closing then Closed.
 */
import { randomUUID } from 'node:crypto'
import { NO_END_DATE, timeSpan, type Timings } from './emulated-task.js'
import type { HardwareConstraint, KeyValue } from './wire.js'

/** A pool create body as bound (binding.ts): `PoolCreationInput`'s fields the emulator uses. */
export interface PoolCreateBody {
  name: string
  profile: string
  shortname?: string | null
  instanceCount?: number | null
  constants?: KeyValue[] | null
  tags?: string[] | null
  labels?: Record<string, string> | null
  hardwareConstraints?: HardwareConstraint[] | null
  schedulingType?: string | null
  [other: string]: unknown
}

/** States in which a pool takes new tasks: every state before its close (PoolOutput.state). */
const OPEN_STATES = new Set([
  'Submitted',
  'PartiallyDispatched',
  'FullyDispatched',
  'PartiallyExecuting',
  'FullyExecuting'
])
const SCHEDULING_CLASS: Record<string, string> = { flex: 'flex', ondemand: 'onDemand', reserved: 'reserved' }

export class EmulatedPool {
  readonly uuid = randomUUID()
  state = 'Submitted'
  previousState: string | null = null
  readonly creationDate = new Date()
  stateTransitionTime = new Date()
  previousStateTransitionTime: Date | null = null
  endDate: Date | null = null
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor(
    readonly body: PoolCreateBody,
    private readonly timings: Timings,
    /** Running instances of the pool's tasks, and how many are queued or running. */
    private readonly usage: () => { running: number; queuedOrRunning: number },
    /** Called when the pool opens its slots, so queued tasks start. */
    onOpen: () => void
  ) {
    this.later(timings.dispatchMs, () => {
      this.setState('FullyDispatched')
      this.later(timings.environmentMs, () => {
        this.setState('FullyExecuting')
        onOpen()
      })
    })
  }

  get shortname(): string {
    return this.body.shortname ?? this.uuid
  }

  get slots(): number {
    return this.body.instanceCount ?? 1
  }

  get profile(): string {
    return this.body.profile
  }

  get constants(): readonly KeyValue[] {
    return this.body.constants ?? []
  }

  /** Takes new tasks (Qarnot: "the uuid of an open pool"). */
  get isOpen(): boolean {
    return OPEN_STATES.has(this.state)
  }

  /** Instance slots free for the pool's tasks right now: none until its nodes run. */
  freeSlots(): number {
    if (this.state !== 'FullyExecuting') return 0
    return Math.max(0, this.slots - this.usage().running)
  }

  /** Closes the pool: Closing, then Closed once its nodes are gone. Its tasks are aborted by the caller. */
  close(): void {
    if (!this.isOpen) return
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    this.setState('Closing')
    this.later(this.timings.cancelMs, () => {
      this.setState('Closed')
      this.endDate = new Date()
    })
  }

  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      action()
    }, ms)
    this.timers.add(timer)
  }

  private setState(state: string): void {
    this.previousState = this.state
    this.previousStateTransitionTime = this.stateTransitionTime
    this.state = state
    this.stateTransitionTime = new Date()
  }

  /** The pool as `GET /pools/{uuid}` shows it (PoolOutput). */
  toWire(): Record<string, unknown> {
    const { running, queuedOrRunning } = this.usage()
    const executing = this.state === 'FullyExecuting' || this.state === 'Closing'
    const wallMs = (this.endDate?.getTime() ?? Date.now()) - this.creationDate.getTime()
    return {
      uuid: this.uuid,
      name: this.body.name,
      shortname: this.shortname,
      profile: this.body.profile,
      state: this.state,
      previousState: this.previousState,
      instanceCount: this.slots,
      totalSlotCapacity: this.slots,
      targetRunningInstanceCount: this.isOpen ? this.slots : 0,
      runningInstanceCount: executing ? this.slots : 0,
      runningCoreCount: executing ? this.slots : 0,
      queuedOrRunningTaskInstancesCount: queuedOrRunning,
      poolUsage: this.slots === 0 ? 0 : Math.round((1000 * running) / this.slots) / 1000,
      creationDate: this.creationDate.toISOString(),
      stateTransitionTime: this.stateTransitionTime.toISOString(),
      previousStateTransitionTime: (this.previousStateTransitionTime ?? new Date(NO_END_DATE)).toISOString(),
      endDate: this.endDate?.toISOString() ?? NO_END_DATE,
      executionTime: timeSpan(executing || this.endDate ? wallMs : 0),
      wallTime: timeSpan(wallMs),
      errors: [],
      constants: this.constants.map(c =>
        c.key.startsWith('QARNOT_SECRET__') ? { key: c.key, value: '[SECRET]' } : { ...c }
      ),
      tags: [...(this.body.tags ?? [])],
      labels: { ...(this.body.labels ?? {}) },
      hardwareConstraints: [...(this.body.hardwareConstraints ?? [])],
      resourceBuckets: [],
      advancedResourceBuckets: [],
      schedulingType: SCHEDULING_CLASS[String(this.body.schedulingType ?? 'flex').toLowerCase()] ?? 'flex',
      autoDeleteOnCompletion: false,
      completionTimeToLive: '00:00:00',
      taskDefaultWaitForPoolResourcesSynchronization: null
    }
  }
}
