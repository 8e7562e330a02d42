/**
 * One emulated Qarnot task: its states in Qarnot's order (docs/qarnot-api.md §5), its instances run as local
 * processes in the environment Qarnot documents (§6), its outputs, and its TaskOutput as the API shows it (§4).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { PeakMemory } from './peak-memory.js'
import { randomUUID } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { EmulatorClock } from './clock.js'
import { splitWords, substituteVariables } from './command-line.js'
import { OutputBuffer, PrefixedLineWriter } from './output-buffer.js'
import { PLATFORM_ERRORS, type PlatformFailurePlan } from './platform-failures.js'
import { idsOfCount, idsOfRange, rangeOfIds } from './ranges.js'
import type { ResourceSnapshot, ResultsFilterSubject } from './storage/instance.js'
import type { PlatformStore } from './storage/platform-store.js'
import { storageSpecOf, TaskFiles, usesStorage, type TaskStorageSpec } from './storage/task-files.js'
import type { CompletedInstance, KeyValue, QError, TaskCreationInput, TaskOutput } from './wire.js'
import { snapshotSpec, type PeriodicSnapshotRequest } from './snapshot-request.js'

export interface Timings {
  /** Submitted -> dispatched. */
  readonly dispatchMs: number
  /** Dispatched -> executing (the environment being set up). */
  readonly environmentMs: number
  /** Last instance done -> final state (UploadingResults in between). */
  readonly uploadMs: number
  /** PendingCancel -> Cancelled. */
  readonly cancelMs: number
}

export interface TaskEnvironment {
  readonly timings: Timings
  readonly outputBufferBytes: number
  readonly workDir: string
  /** Shares the account-wide instance quota (or its pool's slots): how many more instances may start now. */
  readonly freeInstanceSlots: () => number
  readonly onInstanceSlotFreed: () => void
  /** The pool the task runs in: its profile and constants come from there. */
  readonly pool?: {
    readonly uuid: string
    readonly profile: string
    readonly constants: readonly KeyValue[]
  }
  /** The state between the last instance and the end: `UploadingResults`, or the older `DownloadingResults`. */
  readonly uploadingState?: string
  /** Durations and dates as .NET writes them at full precision (docs/emulator.md, quirk `dotNetTimes`). */
  readonly dotNetTimes?: boolean
  /** Another reader takes the task-level fresh output every so many ms while the task runs. */
  readonly secondReaderMs?: number
  /** These instances are killed once, `afterMs` after they start, and run again (preemption). */
  readonly preemption?: { readonly instanceIds: readonly number[]; readonly afterMs: number }
  /** Instances this task's platform fails (quirk `platformFailures`): their node goes, or their image is not pulled. */
  readonly platformFailures?: PlatformFailurePlan
  /** What the results filters are matched against (docs/emulator.md, quirk `resultsFilterSubject`). */
  readonly resultsFilterSubject?: ResultsFilterSubject
  /** Called once when the task reaches a final state. */
  readonly onFinished?: () => void
  /**
   * The store the platform uses for resources and results (docs/emulator.md, "Storage"); absent on a cluster
   * without storage. Called only by a task that names buckets.
   */
  readonly storage?: () => Promise<PlatformStore>
  /** The clock of the task's dates, durations and delays (option `timeScale`); real time when absent. */
  readonly clock?: EmulatorClock
}

/** A create body as the emulator keeps it: the action's fields, and what other clients may send besides. */
export interface EmulatedTaskBody extends TaskCreationInput {
  /** Deprecated per-instance retry count; the C# SDK sends it with retrySettings (docs/qarnot-api.md §3). */
  maxRetriesPerInstance?: number | null
  [other: string]: unknown
}

type InstanceStatus = 'queued' | 'running' | 'success' | 'failure' | 'cancelled'

interface EmulatedInstance {
  readonly id: number
  status: InstanceStatus
  attempts: number
  /** Start and end of the current (or last) attempt, in ms with a fraction (preciseNow). */
  startedAt?: number
  endedAt?: number
  /** Execution time of the attempts already ended, in ms. */
  spentMs: number
  /** Killed by a preemption, waiting for its process to close; and whether it was preempted already. */
  preempting?: boolean
  preempted?: boolean
  /** The platform's error once it failed the instance (quirk `platformFailures`); set while its process closes. */
  platformFailing?: QError
  platformFailure?: QError
  exitCode?: number | null
  signal?: string | null
  spawnError?: string
  process?: ChildProcess
  /** The peak memory of the current (or last) attempt's processes, read from /proc (peak-memory.ts). */
  memory?: PeakMemory
  /** Settles when the process of the current attempt has closed (tasks with files only). */
  closed?: Promise<void>
  /** What its $TASK_PATH held when its command started: the resources, which are not results. */
  snapshot?: ResourceSnapshot
  /** A periodic snapshot's upload under way: the final upload waits for it, so that it is never overwritten. */
  snapshotting?: Promise<unknown>
  readonly stdout: OutputBuffer
  readonly stderr: OutputBuffer
}

const SECRET_PREFIX = 'QARNOT_SECRET__'

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Unfinished tasks' endDate: .NET's DateTime.MinValue (docs/qarnot-api.md §4). */
export const NO_END_DATE = '0001-01-01T00:00:00Z'

/** Now, in ms since the epoch with a sub-millisecond fraction (as .NET ticks have). */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now()
}

/** A .NET TimeSpan in its constant format, `[d.]hh:mm:ss[.fffffff]`, as the API writes durations (§4). */
export function timeSpan(ms: number): string {
  const whole = Math.max(0, Math.round(ms))
  const total = Math.floor(whole / 1000)
  const days = Math.floor(total / 86400)
  const hh = String(Math.floor((total % 86400) / 3600)).padStart(2, '0')
  const mm = String(Math.floor((total % 3600) / 60)).padStart(2, '0')
  const ss = String(total % 60).padStart(2, '0')
  const fraction = whole % 1000 === 0 ? '' : `.${String(whole % 1000).padStart(3, '0')}0000`
  return `${days > 0 ? `${days}.` : ''}${hh}:${mm}:${ss}${fraction}`
}

const TICKS_PER_MS = 10_000

/**
 * A TimeSpan at tick precision with every part written: `d.hh:mm:ss.fffffff`, the day part even when it is 0 and
 * seven fraction digits even when they are 0 (TimeSpan.Parse and the `date-span` format read both).
 */
export function dotNetTimeSpan(ms: number): string {
  const ticks = Math.max(0, Math.round(ms * TICKS_PER_MS))
  const total = Math.floor(ticks / 10_000_000)
  const fraction = String(ticks % 10_000_000).padStart(7, '0')
  const days = Math.floor(total / 86400)
  const hh = String(Math.floor((total % 86400) / 3600)).padStart(2, '0')
  const mm = String(Math.floor((total % 3600) / 60)).padStart(2, '0')
  const ss = String(total % 60).padStart(2, '0')
  return `${days}.${hh}:${mm}:${ss}.${fraction}`
}

/** An ISO date in UTC with seven fraction digits, as .NET writes a DateTime (docs/qarnot-api.md §4). */
export function dotNetDate(ms: number): string {
  const whole = Math.floor(ms)
  const ticks = Math.round((ms - whole) * TICKS_PER_MS)
  const fraction = `${String(whole % 1000).padStart(3, '0')}${String(Math.min(ticks, 9999)).padStart(4, '0')}`
  return new Date(whole).toISOString().replace(/\.\d{3}Z$/, `.${fraction}Z`)
}

/** Reads `[d.]hh:mm:ss[.fffffff]` into ms; undefined when it is not a time span. */
export function parseTimeSpan(text: string): number | undefined {
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/.exec(text)
  if (!match) return undefined
  const [, days, hours, minutes, seconds, fraction] = match
  const ticks = Number((fraction ?? '').padEnd(7, '0'))
  const wholeSeconds =
    Number(days ?? 0) * 86400 + Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds)
  return wholeSeconds * 1000 + ticks / TICKS_PER_MS
}

/** How a task document writes durations and dates (quirk `dotNetTimes`: docs/emulator.md). */
interface TimeFormat {
  /** A duration as a time span. */
  readonly span: (ms: number) => string
  /** A task-level duration in seconds (status.executionTimeSec, ...). */
  readonly seconds: (ms: number) => number
  /** An instance-level duration in seconds (completedInstances[].wallTimeSec, ...). */
  readonly fineSeconds: (ms: number) => number
  /** An instant (ms since the epoch) as an ISO date in UTC. */
  readonly date: (ms: number) => string
}

const PLAIN_TIMES: TimeFormat = {
  span: timeSpan,
  seconds: ms => Math.round(ms / 1000),
  fineSeconds: ms => Math.round(ms) / 1000,
  date: ms => new Date(Math.floor(ms)).toISOString()
}

/** Tick precision (seven decimals) everywhere, every time span with its day part and fraction. */
const DOT_NET_TIMES: TimeFormat = {
  span: dotNetTimeSpan,
  seconds: ms => Math.round(ms * TICKS_PER_MS) / 10_000_000,
  fineSeconds: ms => Math.round(ms * TICKS_PER_MS) / 10_000_000,
  date: dotNetDate
}

/** The schema's SchedulingClass values, which the task reads back whatever case it was sent in (§3). */
const SCHEDULING_CLASS: Record<string, string> = { flex: 'flex', ondemand: 'onDemand', reserved: 'reserved' }

export class EmulatedTask {
  readonly uuid = randomUUID()
  readonly ids: number[]
  state = 'Submitted'
  previousState: string | null = null
  /** Creation and end, in ms with a fraction; creationDate and endDate are the same instants as dates. */
  private readonly createdAt: number
  private endedAt: number | undefined
  readonly creationDate: Date
  stateTransitionTime: Date
  endDate: Date | null = null
  deleted = false
  /** Bytes of task-level output the second reader (quirk `secondReader`) took before anyone else could. */
  secondReaderTook = 0
  readonly stdout: OutputBuffer
  readonly stderr: OutputBuffer
  private readonly stdoutLines: PrefixedLineWriter
  private readonly stderrLines: PrefixedLineWriter
  private readonly instances = new Map<number, EmulatedInstance>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly taskPath: string
  /** Retries allowed per instance and for the whole task; undefined: no limit of that kind (§3). */
  private readonly perInstanceRetries: number | undefined
  private readonly totalRetries: number | undefined
  private retriesUsed = 0
  private environmentReady = false
  private disposed = false
  /** The storage fields as sent, and the files work when the task names buckets on a cluster with storage. */
  private readonly storageSpec: TaskStorageSpec
  private readonly files: TaskFiles | undefined
  /** Task-level platform errors (`errors`, QErrorPublic): a failed download of resources or upload of results. */
  private readonly errors: QError[] = []
  private resultsCount = 0
  /** Periodic snapshots: the interval in seconds (0: off), what the requests asked, and which loop is current. */
  private snapshotIntervalSec = 0
  private snapshotRequest: PeriodicSnapshotRequest = { intervalSec: 0 }
  private snapshotLoop = 0
  /** Snapshots taken, and files they uploaded (emulator readings). */
  snapshotsTaken = 0
  snapshotFiles = 0

  constructor(
    readonly body: EmulatedTaskBody,
    private readonly env: TaskEnvironment
  ) {
    this.createdAt = this.now()
    this.creationDate = new Date(Math.floor(this.createdAt))
    this.stateTransitionTime = new Date(Math.floor(this.createdAt))
    this.ids = body.advancedRanges ? idsOfRange(body.advancedRanges) : idsOfCount(body.instanceCount ?? 0)
    this.stdout = new OutputBuffer(env.outputBufferBytes)
    this.stderr = new OutputBuffer(env.outputBufferBytes)
    this.stdoutLines = new PrefixedLineWriter(this.stdout)
    this.stderrLines = new PrefixedLineWriter(this.stderr)
    for (const id of this.ids) {
      this.instances.set(id, {
        id,
        status: 'queued',
        attempts: 0,
        spentMs: 0,
        stdout: new OutputBuffer(env.outputBufferBytes),
        stderr: new OutputBuffer(env.outputBufferBytes)
      })
    }
    // 0 or null is "not set"; with neither limit set nothing is retried; with both, both apply. The deprecated
    // maxRetriesPerInstance and retrySettings.maxPerInstanceRetries may both come: the stricter wins.
    const perInstance = [body.maxRetriesPerInstance, body.retrySettings?.maxPerInstanceRetries].filter(
      (n): n is number => typeof n === 'number' && n > 0
    )
    const total = body.retrySettings?.maxTotalRetries
    this.perInstanceRetries = perInstance.length > 0 ? Math.min(...perInstance) : undefined
    this.totalRetries = typeof total === 'number' && total > 0 ? total : undefined
    this.taskPath = join(env.workDir, this.uuid)
    this.storageSpec = storageSpecOf(body)
    this.files =
      env.storage && usesStorage(this.storageSpec)
        ? new TaskFiles(this.storageSpec, env.storage, this.taskPath, env.resultsFilterSubject)
        : undefined
    this.later(env.timings.dispatchMs, () => this.dispatch())
    const readerMs = env.secondReaderMs
    if (readerMs !== undefined && readerMs > 0) {
      const read = (): void => {
        if (this.isFinal || this.state === 'PendingDelete') return
        for (const buffer of [this.stdout, this.stderr])
          for (const piece of buffer.readFresh()) this.secondReaderTook += piece.length
        this.later(readerMs, read)
      }
      this.later(readerMs, read)
    }
  }

  get shortname(): string {
    return this.body.shortname ?? this.uuid
  }

  get isFinal(): boolean {
    return this.state === 'Success' || this.state === 'Failure' || this.state === 'Cancelled'
  }

  get runningCount(): number {
    let running = 0
    for (const instance of this.instances.values()) if (instance.status === 'running') running++
    return running
  }

  /** Instances queued or running. */
  get unfinishedCount(): number {
    let unfinished = 0
    for (const instance of this.instances.values())
      if (instance.status === 'running' || instance.status === 'queued') unfinished++
    return unfinished
  }

  instance(id: number): EmulatedInstance | undefined {
    return this.instances.get(id)
  }

  /** Execution time of every attempt of every instance so far, in seconds (one core per emulated instance). */
  executionSeconds(now = this.now()): number {
    let ms = 0
    for (const instance of this.instances.values()) ms += this.executionMs(instance, now)
    return ms / 1000
  }

  /** When the task reached its final state (ms since the epoch), if it has. */
  get finishedAt(): number | undefined {
    return this.endedAt
  }

  /** Starts queued instances while the account quota allows; called again whenever a slot frees up. */
  startQueued(): void {
    if (!this.environmentReady || this.isFinal || this.state === 'PendingCancel' || this.deleted) return
    if (this.disposed) return
    if (this.state === 'PendingDelete') return
    let free = this.env.freeInstanceSlots()
    for (const instance of this.instances.values()) {
      if (free <= 0) break
      if (instance.status !== 'queued') continue
      this.startInstance(instance)
      free--
    }
    this.updateExecutionState()
  }

  /**
   * `POST /tasks/{uuid}/snapshot/periodic`: every `intervalSec` seconds, what each running instance created or
   * changed so far goes to the snapshot bucket (the folder stays); 0 stops. Fields given override earlier ones.
   */
  periodicSnapshot(request: PeriodicSnapshotRequest): void {
    const given = Object.fromEntries(Object.entries(request).filter(([, value]) => value !== undefined))
    this.snapshotRequest = { ...this.snapshotRequest, ...given }
    this.snapshotIntervalSec = request.intervalSec
    const loop = ++this.snapshotLoop
    if (request.intervalSec === 0) return
    const tick = (): void => {
      if (loop !== this.snapshotLoop || this.isFinal || this.state === 'PendingCancel' || this.disposed)
        return
      this.takeSnapshot()
      this.later(request.intervalSec * 1000, tick)
    }
    this.later(request.intervalSec * 1000, tick)
  }

  private takeSnapshot(): void {
    const files = this.files
    if (!files) return
    const spec = snapshotSpec(this.snapshotRequest, this.body, this.storageSpec)
    if (!spec.resultBucket) return
    this.snapshotsTaken++
    for (const instance of this.instances.values()) {
      const stamps = instance.snapshot
      if (instance.status !== 'running' || stamps === undefined || instance.snapshotting) continue
      const variables = this.environment(instance)
      const upload = files.uploadSnapshot(variables.TASK_PATH, stamps, variables, spec).then(
        count => void (this.snapshotFiles += count),
        () => undefined // a file that went while it was read: the next snapshot, or the final upload, has it
      )
      instance.snapshotting = files.track(upload.finally(() => (instance.snapshotting = undefined)))
    }
  }

  abort(): void {
    if (this.isFinal || this.state === 'PendingCancel' || this.state === 'PendingDelete') return
    const running = [...this.instances.values()].filter(i => i.status === 'running')
    this.setState('PendingCancel')
    this.cancelUnfinished()
    // uploadResultsOnCancellation: what the killed instances wrote goes to the results bucket too (§8).
    if (this.storageSpec.uploadResultsOnCancellation)
      for (const instance of running) this.uploadWhenClosed(instance)
    this.env.onInstanceSlotFreed()
    this.later(this.env.timings.cancelMs, () => this.afterTransfers(() => this.finish('Cancelled')))
  }

  /**
   * A delete that takes a while (quirk `pendingDelete`, or an automatic delete): the task is PendingDelete, its
   * unfinished instances are cancelled and its timers stopped, until the caller removes it for good.
   */
  beginDelete(): void {
    if (this.state === 'PendingDelete') return
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    this.cancelUnfinished()
    this.setState('PendingDelete')
    this.env.onInstanceSlotFreed()
  }

  private cancelUnfinished(): void {
    const now = this.now()
    for (const instance of this.instances.values()) {
      if (instance.status === 'running' || instance.status === 'queued') {
        const wasRunning = instance.status === 'running'
        instance.status = 'cancelled'
        if (wasRunning) {
          instance.endedAt = now
          instance.spentMs += now - (instance.startedAt ?? now)
          this.kill(instance)
        } else if (instance.attempts === 0) {
          instance.endedAt = now
        }
      }
    }
  }

  /** Stops everything for good (delete, or emulator shutdown); transfers under way are aborted (see idle()). */
  dispose(): void {
    this.disposed = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    for (const instance of this.instances.values()) {
      if (instance.status === 'running') this.kill(instance)
      instance.memory?.stop()
    }
    this.files?.dispose()
    rmSync(this.taskPath, { recursive: true, force: true })
  }

  /**
   * Resolves when no transfer of the task is under way any more; after dispose(), once its folder is gone for
   * good (an aborted transfer may have made a folder again before it noticed).
   */
  async idle(): Promise<void> {
    if (!this.files) return
    await this.files.idle()
    if (this.disposed) rmSync(this.taskPath, { recursive: true, force: true })
  }

  // --- life ---

  /** Now on the task's clock (ms since the epoch, with a fraction). */
  private now(): number {
    return this.env.clock?.now() ?? preciseNow()
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer)
        action()
      },
      this.env.clock?.realMs(ms) ?? ms
    )
    this.timers.add(timer)
  }

  private setState(state: string): void {
    if (state === this.state) return
    this.previousState = this.state
    this.state = state
    this.stateTransitionTime = new Date(Math.floor(this.now()))
  }

  private dispatch(): void {
    if (this.state !== 'Submitted') return
    this.setState(this.env.freeInstanceSlots() >= this.ids.length ? 'FullyDispatched' : 'PartiallyDispatched')
    if (this.ids.length === 0) return this.startUpload()
    // The resources are downloaded once for the task, while its environment is set up.
    const resources = this.files?.resources()
    this.later(this.env.timings.environmentMs, () => {
      const ready = (): void => {
        this.environmentReady = true
        this.startQueued()
      }
      if (!resources) return ready()
      resources.then(ready, (error: unknown) => {
        if (this.disposed) return
        // Every instance then fails as it starts, with the reason (startInstance).
        this.platformError(
          'resources-download-failure',
          `Resources could not be downloaded: ${reason(error)}`
        )
        ready()
      })
    })
  }

  private get uploadingState(): string {
    return this.env.uploadingState ?? 'UploadingResults'
  }

  private updateExecutionState(): void {
    if (this.isFinal || this.state === 'PendingCancel' || this.state === 'PendingDelete') return
    if (this.state === this.uploadingState) return
    const statuses = [...this.instances.values()].map(i => i.status)
    if (statuses.includes('queued')) {
      if (statuses.includes('running')) this.setState('PartiallyExecuting')
    } else if (statuses.includes('running')) {
      this.setState('FullyExecuting')
    } else {
      this.startUpload()
    }
  }

  /** UploadingResults: the task ends once `uploadMs` has passed and every instance's results are uploaded. */
  private startUpload(): void {
    this.setState(this.uploadingState)
    this.later(this.env.timings.uploadMs, () =>
      this.afterTransfers(() => {
        const failed =
          [...this.instances.values()].some(i => i.status !== 'success') || this.errors.length > 0
        this.finish(failed ? 'Failure' : 'Success')
      })
    )
  }

  /** Runs `end` at once, or for a task with files once its transfers are done (unless it went away meanwhile). */
  private afterTransfers(end: () => void): void {
    if (!this.files) return end()
    void this.files.idle().then(() => {
      if (!this.disposed && this.state !== 'PendingDelete') end()
    })
  }

  /** A task-level error, as the API lists them in `errors` (§4); the code and wording are the emulator's. */
  private platformError(code: string, message: string): void {
    this.errors.push({ code, message, debug: null })
  }

  /**
   * Sends what the instance wrote to the results bucket (once its command ran); its $TASK_PATH then goes, as its
   * machine would. Without a results bucket the folder goes at once.
   */
  private uploadResults(instance: EmulatedInstance): void {
    const files = this.files
    const snapshot = instance.snapshot
    if (!files || snapshot === undefined || this.disposed) return
    instance.snapshot = undefined
    const variables = this.environment(instance)
    if (!files.hasResults) return void files.track(rm(variables.TASK_PATH, { recursive: true, force: true }))
    // After any snapshot under way: the final files are the last written.
    const before = instance.snapshotting ?? Promise.resolve()
    void files.track(
      before
        .then(() => files.upload(variables.TASK_PATH, snapshot, variables))
        .then(
          count => void (this.resultsCount += count),
          (error: unknown) => {
            if (this.disposed) return
            this.platformError(
              'results-upload-failure',
              `Results of instance ${instance.id} could not be uploaded to bucket ${files.resultsBucket}: ${reason(error)}`
            )
          }
        )
    )
  }

  /** Uploads a killed instance's results once its process has closed (uploadResultsOnCancellation). */
  private uploadWhenClosed(instance: EmulatedInstance): void {
    const closed = instance.closed
    if (!this.files || !instance.process || !closed) return
    void this.files.track(closed.then(() => this.uploadResults(instance)))
  }

  private finish(state: 'Success' | 'Failure' | 'Cancelled'): void {
    if (this.isFinal) return
    this.setState(state)
    this.endedAt = this.now()
    this.endDate = new Date(Math.floor(this.endedAt))
    this.env.onFinished?.()
  }

  /**
   * What Qarnot documents in an instance's environment (§6): its id and the instance count, the working directory
   * TASK_PATH (resources in, results out), TMP_PATH and TMP_RAMFS_PATH for temporary files (here plain folders
   * outside TASK_PATH, one per instance), FRAME_ID (the id under its older name, used by the Python SDK's own
   * examples), and every constant, the pool's first when the task runs in one. Nothing else of Qarnot's.
   */
  private environment(instance: EmulatedInstance): Record<string, string> {
    const constants: Record<string, string> = {}
    for (const { key, value } of [...(this.env.pool?.constants ?? []), ...(this.body.constants ?? [])])
      constants[key] = value
    const id = String(instance.id)
    return {
      ...constants,
      INSTANCE_ID: id,
      FRAME_ID: id,
      INSTANCE_COUNT: String(this.ids.length),
      TASK_PATH: join(this.taskPath, id),
      TMP_PATH: join(this.taskPath, '.tmp', id),
      TMP_RAMFS_PATH: join(this.taskPath, '.ramfs', id)
    }
  }

  private startInstance(instance: EmulatedInstance): void {
    instance.status = 'running'
    const struck = this.env.platformFailures?.get(instance.id)
    if (struck?.kind === 'image-pull' && !instance.platformFailure) {
      // The image never came: the command never starts, and the instance never counts as started.
      const error = PLATFORM_ERRORS['image-pull']
      return this.later(0, () => instance.status === 'running' && this.endByPlatform(instance, error))
    }
    instance.attempts++
    instance.startedAt = this.now()
    instance.endedAt = undefined
    if (struck && struck.kind !== 'image-pull' && !instance.platformFailure) {
      const attempt = instance.attempts
      this.later(struck.afterMs, () => this.failNode(instance, attempt, PLATFORM_ERRORS[struck.kind]))
    }
    const preemption = this.env.preemption
    if (preemption && !instance.preempted && preemption.instanceIds.includes(instance.id)) {
      const attempt = instance.attempts
      this.later(preemption.afterMs, () => this.preempt(instance, attempt))
    }
    const variables = this.environment(instance)
    const files = this.files
    if (!files) {
      for (const folder of [variables.TASK_PATH, variables.TMP_PATH, variables.TMP_RAMFS_PATH])
        mkdirSync(folder, { recursive: true })
      return this.spawnInstance(instance, variables)
    }
    // A task with files: a fresh $TASK_PATH holding a copy of the resources, for each attempt.
    for (const folder of [variables.TMP_PATH, variables.TMP_RAMFS_PATH])
      mkdirSync(folder, { recursive: true })
    instance.snapshot = undefined
    const attempt = instance.attempts
    const current = () => !this.disposed && instance.status === 'running' && instance.attempts === attempt
    files.prepareInstance(variables.TASK_PATH).then(
      snapshot => {
        if (!current()) return
        instance.snapshot = snapshot
        this.spawnInstance(instance, variables)
      },
      (error: unknown) => {
        if (!current()) return
        // Not the command's failure: the platform's code says so (placeholder, platform-failures.ts).
        instance.platformFailing = PLATFORM_ERRORS['resources-download']
        this.instanceEnded(instance, null, null, `resources could not be laid out: ${reason(error)}`)
      }
    )
  }

  /** Runs the instance's command in its $TASK_PATH, with the environment of §6. */
  private spawnInstance(instance: EmulatedInstance, variables: Record<string, string>): void {
    const workDir = variables.TASK_PATH
    let argv: string[]
    try {
      const command = variables.DOCKER_CMD ?? ''
      argv = splitWords(substituteVariables(command, variables))
    } catch (error) {
      return this.instanceEnded(instance, null, null, `invalid DOCKER_CMD: ${(error as Error).message}`)
    }
    // No command: the image's default (ubuntu's bash with no input) exits at once.
    if (argv.length === 0) argv = ['true']
    const child = spawn(argv[0], argv.slice(1), {
      cwd: workDir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: workDir, LANG: 'C.UTF-8', ...variables },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true // its own process group, so an abort kills whatever it started too
    })
    instance.process = child
    instance.memory?.stop()
    instance.memory = child.pid === undefined ? undefined : new PeakMemory(child.pid)
    child.once('exit', () => instance.memory?.stop())
    if (this.files) instance.closed = new Promise(resolve => child.once('close', () => resolve()))
    let spawnError: string | undefined
    child.stdout.on('data', (chunk: Buffer) => {
      instance.stdout.append(chunk)
      this.stdoutLines.write(instance.id, chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => {
      instance.stderr.append(chunk)
      this.stderrLines.write(instance.id, chunk)
    })
    child.on('error', error => {
      spawnError = `exec: "${argv[0]}": ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'executable file not found in $PATH' : error.message}`
    })
    child.on('close', (code, signal) => this.instanceEnded(instance, code, signal, spawnError))
  }

  private instanceEnded(
    instance: EmulatedInstance,
    code: number | null,
    signal: NodeJS.Signals | null,
    spawnError: string | undefined
  ): void {
    instance.process = undefined
    this.stdoutLines.flush(instance.id)
    this.stderrLines.flush(instance.id)
    if (instance.status !== 'running') return // cancelled meanwhile
    const now = this.now()
    instance.endedAt = now
    instance.spentMs += now - (instance.startedAt ?? now)
    if (instance.preempting) {
      // Preempted: its machine went away. It runs again from the start, its earlier output kept.
      instance.preempting = false
      instance.preempted = true
      instance.status = 'queued'
      this.env.onInstanceSlotFreed()
      this.startQueued()
      this.updateExecutionState()
      return
    }
    if (spawnError) {
      instance.stderr.append(`${spawnError}\n`)
      this.stderrLines.write(instance.id, Buffer.from(`${spawnError}\n`))
    }
    if (instance.platformFailing) return this.endByPlatform(instance, instance.platformFailing)
    instance.exitCode = code
    instance.signal = signal
    instance.spawnError = spawnError
    const succeeded = code === 0 && !spawnError
    if (!succeeded && this.mayRetry(instance)) {
      this.retriesUsed++
      instance.status = 'queued'
    } else {
      instance.status = succeeded ? 'success' : 'failure'
      // Results go up as each instance ends, success or failure (§8); the task waits for them (startUpload).
      this.uploadResults(instance)
    }
    this.env.onInstanceSlotFreed()
    this.startQueued()
    this.updateExecutionState()
  }

  private mayRetry(instance: EmulatedInstance): boolean {
    if (this.perInstanceRetries === undefined && this.totalRetries === undefined) return false
    if (this.perInstanceRetries !== undefined && instance.attempts > this.perInstanceRetries) return false
    return this.totalRetries === undefined || this.retriesUsed < this.totalRetries
  }

  /** Kills the attempt `attempt` of the instance if it still runs; instanceEnded queues it again. */
  private preempt(instance: EmulatedInstance, attempt: number): void {
    if (instance.status !== 'running' || instance.attempts !== attempt || !instance.process) return
    instance.preempting = true
    this.kill(instance)
  }

  /** The node under the attempt `attempt` goes: its process is killed, and the instance ends in Failure. */
  private failNode(instance: EmulatedInstance, attempt: number, error: QError): void {
    if (instance.status !== 'running' || instance.attempts !== attempt || !instance.process) return
    instance.platformFailing = error
    this.kill(instance)
  }

  /** Ends the instance in Failure with the platform's error: no retry of retrySettings, what it wrote uploaded. */
  private endByPlatform(instance: EmulatedInstance, error: QError): void {
    instance.platformFailing = undefined
    instance.platformFailure = error
    instance.status = 'failure'
    this.uploadResults(instance)
    this.env.onInstanceSlotFreed()
    this.startQueued()
    this.updateExecutionState()
  }

  private executionMs(instance: EmulatedInstance, now: number): number {
    const current = instance.status === 'running' ? now - (instance.startedAt ?? now) : 0
    return instance.spentMs + current
  }

  private kill(instance: EmulatedInstance): void {
    const pid = instance.process?.pid
    if (pid === undefined) return
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      instance.process?.kill('SIGKILL')
    }
  }

  // --- what the API shows ---

  /** How durations and dates are written: as the emulator always did, or as .NET at full precision. */
  private get times(): TimeFormat {
    return this.env.dotNetTimes ? DOT_NET_TIMES : PLAIN_TIMES
  }

  private completed(instance: EmulatedInstance, now: number): CompletedInstance {
    const wallMs = (instance.endedAt ?? now) - (instance.startedAt ?? now)
    const { fineSeconds } = this.times
    const failure = instance.status === 'failure'
    const reason =
      instance.spawnError ??
      (instance.signal ? `killed by ${instance.signal}` : `exit code ${instance.exitCode}`)
    return {
      instanceId: instance.id,
      state: failure ? 'Failure' : 'Success',
      error: instance.platformFailure
        ? { ...instance.platformFailure }
        : failure
          ? { code: 'instance-failure', message: `The instance execution failed (${reason})`, debug: null }
          : null,
      wallTimeSec: fineSeconds(wallMs),
      execTimeSec: fineSeconds(wallMs),
      execTimeSecGHz: fineSeconds(wallMs * 3),
      peakMemoryMB: instance.memory?.megabytes ?? 0,
      cpuModel: 'Emulated CPU',
      coreCount: 1,
      clockRatio: 1,
      averageGHz: 3,
      specificationKey: 'emulator-1c',
      executionAttemptCount: instance.attempts,
      results: null
    }
  }

  toWire(): TaskOutput {
    const all = [...this.instances.values()]
    const ids = (statuses: InstanceStatus[]) =>
      rangeOfIds(all.filter(i => statuses.includes(i.status)).map(i => i.id))
    const started = all.filter(i => i.attempts > 0)
    const running = all.filter(i => i.status === 'running')
    const now = this.now()
    const wallMs = (this.endedAt ?? now) - this.createdAt
    // Every attempt counts, retried and preempted ones included.
    const execMs = all.reduce((sum, i) => sum + this.executionMs(i, now), 0)
    const execSec = execMs / 1000
    const { span, seconds, fineSeconds, date } = this.times
    const environmentMs = this.env.timings.environmentMs
    const ttl = this.body.completionTimeToLive
    const ttlMs = typeof ttl === 'string' ? parseTimeSpan(ttl) : undefined
    const doneCount = all.filter(i => i.status === 'success' || i.status === 'failure').length
    const constants: KeyValue[] = (this.body.constants ?? []).map(c =>
      c.key.startsWith(SECRET_PREFIX) ? { key: c.key, value: '[SECRET]' } : { ...c }
    )
    return {
      uuid: this.uuid,
      name: this.body.name,
      shortname: this.shortname,
      profile: this.env.pool?.profile ?? this.body.profile ?? null,
      poolUuid: this.env.pool?.uuid ?? null,
      jobUuid: null,
      state: this.state,
      previousState: this.previousState,
      instanceCount: this.body.advancedRanges ? 0 : this.ids.length,
      advancedRanges: this.body.advancedRanges ?? null,
      totalInstanceCount: this.ids.length,
      runningInstanceCount: running.length,
      runningCoreCount: running.length,
      progress: this.ids.length === 0 ? 100 : Math.round((1000 * doneCount) / this.ids.length) / 10,
      executionTime: span(execMs),
      wallTime: span(wallMs),
      creationDate: date(this.createdAt),
      endDate: this.endedAt === undefined ? NO_END_DATE : date(this.endedAt),
      stateTransitionTime: date(this.stateTransitionTime.getTime()),
      errors: this.errors.map(error => ({ ...error })),
      completedInstances: all
        .filter(i => i.status === 'success' || i.status === 'failure')
        .map(i => this.completed(i, now)),
      status: {
        succeededRange: ids(['success']),
        executedRange: ids(['success', 'failure']),
        failedRange: ids(['failure', 'cancelled']),
        cancelledRange: ids(['cancelled']),
        failedOnlyRange: ids(['failure']),
        startedOnceRange: rangeOfIds(started.map(i => i.id)),
        timestamp: date(now),
        lastUpdateTimestamp: date(now),
        instanceCount: running.length,
        downloadTime: span(0),
        downloadTimeSec: 0,
        environmentTime: span(environmentMs),
        environmentTimeSec: seconds(environmentMs),
        executionTime: span(execMs),
        executionTimeSec: seconds(execMs),
        uploadTime: span(0),
        uploadTimeSec: 0,
        wallTime: span(wallMs),
        wallTimeSec: seconds(wallMs),
        downloadProgress: this.state === 'Submitted' ? 0 : 100,
        executionProgress: this.ids.length === 0 ? 100 : Math.round((100 * doneCount) / this.ids.length),
        uploadProgress: this.isFinal ? 100 : 0,
        executionTimeByCpuModel:
          started.length > 0 ? [{ model: 'Emulated CPU', time: seconds(execMs), core: 1 }] : [],
        executionTimeGhzByCpuModel:
          started.length > 0 ? [{ model: 'Emulated CPU', timeGhz: execSec * 3, clockRatio: 1, core: 1 }] : [],
        runningInstancesInfo: {
          timestamp: date(now),
          averageFrequencyGHz: running.length > 0 ? 3 : 0,
          maxFrequencyGHz: running.length > 0 ? 3 : 0,
          minFrequencyGHz: running.length > 0 ? 3 : 0,
          averageMaxFrequencyGHz: running.length > 0 ? 3 : 0,
          averageCpuUsage: 0,
          clusterPowerIndicator: 1,
          averageMemoryUsage: 0,
          averageNetworkInKbps: 0,
          averageNetworkOutKbps: 0,
          totalNetworkInKbps: 0,
          totalNetworkOutKbps: 0,
          snapshotResults: [],
          runningCoreCountByCpuModel:
            running.length > 0 ? [{ model: 'Emulated CPU', core: running.length }] : [],
          perRunningInstanceInfo: running.map(i => ({
            instanceId: i.id,
            phase: 'execution',
            progress: 0,
            executionTimeSec: seconds(now - (i.startedAt ?? now)),
            executionTimeGHz: this.env.dotNetTimes ? fineSeconds((now - (i.startedAt ?? now)) * 3) : 0,
            specificationKey: 'emulator-1c',
            cpuModel: 'Emulated CPU',
            coreCount: 1,
            clockRatio: 1,
            maxFrequencyGHz: 3,
            currentFrequencyGHz: 3,
            cpuUsage: 0,
            maxMemoryMB: 0,
            currentMemoryMB: 0,
            memoryUsage: 0,
            networkInKbps: 0,
            networkOutKbps: 0,
            executionAttemptCount: i.attempts
          }))
        }
      },
      constants,
      tags: [...(this.body.tags ?? [])],
      labels: { ...(this.body.labels ?? {}) },
      hardwareConstraints: [...(this.body.hardwareConstraints ?? [])],
      retrySettings: {
        maxTotalRetries: this.body.retrySettings?.maxTotalRetries ?? null,
        maxPerInstanceRetries: this.body.retrySettings?.maxPerInstanceRetries ?? null
      },
      maxRetriesPerInstance: this.body.maxRetriesPerInstance ?? 0,
      schedulingType: SCHEDULING_CLASS[String(this.body.schedulingType ?? 'flex').toLowerCase()] ?? 'flex',
      autoDeleteOnCompletion: this.body.autoDeleteOnCompletion ?? false,
      completionTimeToLive: ttlMs === undefined ? (ttl ?? span(0)) : this.env.dotNetTimes ? span(ttlMs) : ttl,
      // The storage fields as sent (§8).
      resourceBuckets: [...this.storageSpec.resourceBuckets],
      advancedResourceBuckets: structuredClone([...this.storageSpec.advancedResourceBuckets]),
      resultBucket: this.storageSpec.resultBucket ?? null,
      resultsBucket: this.storageSpec.resultsBucket ?? null,
      resultsBucketPrefix: this.storageSpec.resultsBucketPrefix ?? null,
      resultsWhitelist: this.storageSpec.resultsWhitelist ?? null,
      resultsBlacklist: this.storageSpec.resultsBlacklist ?? null,
      dependencies: { dependsOn: [] },
      snapshotInterval: this.snapshotIntervalSec,
      // Result files uploaded so far (an emulator reading: the document does not define the figure).
      resultsCount: this.resultsCount,
      uploadResultsOnCancellation: this.storageSpec.uploadResultsOnCancellation
    }
  }
}
