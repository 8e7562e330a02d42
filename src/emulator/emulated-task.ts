/**
 * One emulated Qarnot task: its states in Qarnot's order (docs/qarnot-api.md §5), its instances run as local
 * processes in the environment Qarnot documents (§6), its outputs, and its TaskOutput as the API shows it (§4).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { countToIntervals, expandIds, formatIds, parseRanges } from '../ranges.js'
import type { CompletedInstanceWire, KeyValueWire, TaskCreateBody, TaskOutputWire } from '../qarnot/types.js'
import { splitWords, substituteVariables } from './command-line.js'
import { OutputBuffer, PrefixedLineWriter } from './output-buffer.js'

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
    readonly constants: readonly KeyValueWire[]
  }
}

/** A create body as the emulator keeps it: the action's fields, and what other clients may send besides. */
export interface EmulatedTaskBody extends TaskCreateBody {
  /** Deprecated per-instance retry count; the C# SDK sends it with retrySettings (docs/qarnot-api.md §3). */
  maxRetriesPerInstance?: number | null
  [other: string]: unknown
}

type InstanceStatus = 'queued' | 'running' | 'success' | 'failure' | 'cancelled'

interface EmulatedInstance {
  readonly id: number
  status: InstanceStatus
  attempts: number
  startedAt?: number
  endedAt?: number
  exitCode?: number | null
  signal?: string | null
  spawnError?: string
  process?: ChildProcess
  readonly stdout: OutputBuffer
  readonly stderr: OutputBuffer
}

const SECRET_PREFIX = 'QARNOT_SECRET__'

/** Unfinished tasks' endDate: .NET's DateTime.MinValue (docs/qarnot-api.md §4). */
export const NO_END_DATE = '0001-01-01T00:00:00Z'

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

/** The schema's SchedulingClass values, which the task reads back whatever case it was sent in (§3). */
const SCHEDULING_CLASS: Record<string, string> = { flex: 'flex', ondemand: 'onDemand', reserved: 'reserved' }

export class EmulatedTask {
  readonly uuid = randomUUID()
  readonly ids: number[]
  state = 'Submitted'
  previousState: string | null = null
  readonly creationDate = new Date()
  stateTransitionTime = new Date()
  endDate: Date | null = null
  deleted = false
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

  constructor(
    readonly body: EmulatedTaskBody,
    private readonly env: TaskEnvironment
  ) {
    this.ids = body.advancedRanges
      ? expandIds(parseRanges(body.advancedRanges))
      : expandIds(countToIntervals(body.instanceCount ?? 0))
    this.stdout = new OutputBuffer(env.outputBufferBytes)
    this.stderr = new OutputBuffer(env.outputBufferBytes)
    this.stdoutLines = new PrefixedLineWriter(this.stdout)
    this.stderrLines = new PrefixedLineWriter(this.stderr)
    for (const id of this.ids) {
      this.instances.set(id, {
        id,
        status: 'queued',
        attempts: 0,
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
    this.later(env.timings.dispatchMs, () => this.dispatch())
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

  /** Starts queued instances while the account quota allows; called again whenever a slot frees up. */
  startQueued(): void {
    if (!this.environmentReady || this.isFinal || this.state === 'PendingCancel' || this.deleted) return
    let free = this.env.freeInstanceSlots()
    for (const instance of this.instances.values()) {
      if (free <= 0) break
      if (instance.status !== 'queued') continue
      this.startInstance(instance)
      free--
    }
    this.updateExecutionState()
  }

  abort(): void {
    if (this.isFinal || this.state === 'PendingCancel') return
    this.setState('PendingCancel')
    for (const instance of this.instances.values()) {
      if (instance.status === 'running' || instance.status === 'queued') {
        const wasRunning = instance.status === 'running'
        instance.status = 'cancelled'
        instance.endedAt = Date.now()
        if (wasRunning) this.kill(instance)
      }
    }
    this.env.onInstanceSlotFreed()
    this.later(this.env.timings.cancelMs, () => this.finish('Cancelled'))
  }

  /** Stops everything for good (delete, or emulator shutdown). */
  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    for (const instance of this.instances.values()) if (instance.status === 'running') this.kill(instance)
    rmSync(this.taskPath, { recursive: true, force: true })
  }

  // --- life ---

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      action()
    }, ms)
    this.timers.add(timer)
  }

  private setState(state: string): void {
    if (state === this.state) return
    this.previousState = this.state
    this.state = state
    this.stateTransitionTime = new Date()
  }

  private dispatch(): void {
    if (this.state !== 'Submitted') return
    this.setState(this.env.freeInstanceSlots() >= this.ids.length ? 'FullyDispatched' : 'PartiallyDispatched')
    if (this.ids.length === 0) return this.startUpload()
    this.later(this.env.timings.environmentMs, () => {
      this.environmentReady = true
      this.startQueued()
    })
  }

  private updateExecutionState(): void {
    if (this.isFinal || this.state === 'PendingCancel' || this.state === 'UploadingResults') return
    const statuses = [...this.instances.values()].map(i => i.status)
    if (statuses.includes('queued')) {
      if (statuses.includes('running')) this.setState('PartiallyExecuting')
    } else if (statuses.includes('running')) {
      this.setState('FullyExecuting')
    } else {
      this.startUpload()
    }
  }

  private startUpload(): void {
    this.setState('UploadingResults')
    this.later(this.env.timings.uploadMs, () => {
      const failed = [...this.instances.values()].some(i => i.status !== 'success')
      this.finish(failed ? 'Failure' : 'Success')
    })
  }

  private finish(state: 'Success' | 'Failure' | 'Cancelled'): void {
    if (this.isFinal) return
    this.setState(state)
    this.endDate = new Date()
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
    instance.attempts++
    instance.startedAt = Date.now()
    instance.endedAt = undefined
    const variables = this.environment(instance)
    const workDir = variables.TASK_PATH
    for (const folder of [workDir, variables.TMP_PATH, variables.TMP_RAMFS_PATH])
      mkdirSync(folder, { recursive: true })
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
    signal: NodeJS.Signals | string | null,
    spawnError: string | undefined
  ): void {
    instance.process = undefined
    this.stdoutLines.flush(instance.id)
    this.stderrLines.flush(instance.id)
    if (instance.status !== 'running') return // cancelled meanwhile
    if (spawnError) {
      instance.stderr.append(`${spawnError}\n`)
      this.stderrLines.write(instance.id, Buffer.from(`${spawnError}\n`))
    }
    instance.exitCode = code
    instance.signal = signal
    instance.spawnError = spawnError
    instance.endedAt = Date.now()
    const succeeded = code === 0 && !spawnError
    if (!succeeded && this.mayRetry(instance)) {
      this.retriesUsed++
      instance.status = 'queued'
    } else {
      instance.status = succeeded ? 'success' : 'failure'
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

  private completed(instance: EmulatedInstance): CompletedInstanceWire {
    const wall = ((instance.endedAt ?? Date.now()) - (instance.startedAt ?? Date.now())) / 1000
    const failure = instance.status === 'failure'
    const reason =
      instance.spawnError ??
      (instance.signal ? `killed by ${instance.signal}` : `exit code ${instance.exitCode}`)
    return {
      instanceId: instance.id,
      state: failure ? 'Failure' : 'Success',
      error: failure
        ? { code: 'instance-failure', message: `The instance execution failed (${reason})`, debug: null }
        : null,
      wallTimeSec: Math.round(wall * 1000) / 1000,
      execTimeSec: Math.round(wall * 1000) / 1000,
      execTimeSecGHz: Math.round(wall * 3000) / 1000,
      peakMemoryMB: 0,
      cpuModel: 'Emulated CPU',
      coreCount: 1,
      clockRatio: 1,
      averageGHz: 3,
      specificationKey: 'emulator-1c',
      executionAttemptCount: instance.attempts,
      results: null
    }
  }

  toWire(): TaskOutputWire {
    const all = [...this.instances.values()]
    const ids = (statuses: InstanceStatus[]) =>
      formatIds(all.filter(i => statuses.includes(i.status)).map(i => i.id))
    const started = all.filter(i => i.attempts > 0)
    const running = all.filter(i => i.status === 'running')
    const now = Date.now()
    const wallMs = (this.endDate?.getTime() ?? now) - this.creationDate.getTime()
    const execSec = started.reduce((sum, i) => sum + ((i.endedAt ?? now) - (i.startedAt ?? now)) / 1000, 0)
    const doneCount = all.filter(i => i.status === 'success' || i.status === 'failure').length
    const constants: KeyValueWire[] = (this.body.constants ?? []).map(c =>
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
      executionTime: timeSpan(execSec * 1000),
      wallTime: timeSpan(wallMs),
      creationDate: this.creationDate.toISOString(),
      endDate: this.endDate?.toISOString() ?? NO_END_DATE,
      stateTransitionTime: this.stateTransitionTime.toISOString(),
      errors: [],
      completedInstances: all
        .filter(i => i.status === 'success' || i.status === 'failure')
        .map(i => this.completed(i)),
      status: {
        succeededRange: ids(['success']),
        executedRange: ids(['success', 'failure']),
        failedRange: ids(['failure', 'cancelled']),
        cancelledRange: ids(['cancelled']),
        failedOnlyRange: ids(['failure']),
        startedOnceRange: formatIds(started.map(i => i.id)),
        timestamp: new Date(now).toISOString(),
        lastUpdateTimestamp: new Date(now).toISOString(),
        instanceCount: running.length,
        downloadTime: '00:00:00',
        downloadTimeSec: 0,
        environmentTime: timeSpan(this.env.timings.environmentMs),
        environmentTimeSec: Math.round(this.env.timings.environmentMs / 1000),
        executionTime: timeSpan(execSec * 1000),
        executionTimeSec: Math.round(execSec),
        uploadTime: '00:00:00',
        uploadTimeSec: 0,
        wallTime: timeSpan(wallMs),
        wallTimeSec: Math.round(wallMs / 1000),
        downloadProgress: this.state === 'Submitted' ? 0 : 100,
        executionProgress: this.ids.length === 0 ? 100 : Math.round((100 * doneCount) / this.ids.length),
        uploadProgress: this.isFinal ? 100 : 0,
        executionTimeByCpuModel:
          started.length > 0 ? [{ model: 'Emulated CPU', time: Math.round(execSec), core: 1 }] : [],
        executionTimeGhzByCpuModel:
          started.length > 0 ? [{ model: 'Emulated CPU', timeGhz: execSec * 3, clockRatio: 1, core: 1 }] : [],
        runningInstancesInfo: {
          timestamp: new Date(now).toISOString(),
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
            executionTimeSec: Math.round((now - (i.startedAt ?? now)) / 1000),
            executionTimeGHz: 0,
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
      completionTimeToLive: this.body.completionTimeToLive ?? '00:00:00',
      resourceBuckets: [],
      advancedResourceBuckets: [],
      resultBucket: null,
      dependencies: { dependsOn: [] },
      snapshotInterval: 0,
      resultsCount: 0,
      uploadResultsOnCancellation: null
    }
  }
}
