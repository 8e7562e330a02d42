/**
 * The Qarnot API emulator: a real HTTP server on 127.0.0.1 speaking the endpoints of docs/qarnot-api.md §2 (with
 * and without the `/v1` prefix), with the raw-token Authorization header, Qarnot's field names and error bodies,
 * pools (§10), the credits and carbon services (§9), an S3 storage with resources in and results out (§8),
 * request counters by endpoint, injectable faults and quirk modes (docs/emulator.md). Never bundled into
 * dist/index.js.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bindIgnoringCase, POOL_CREATE_SHAPE, TASK_CREATE_SHAPE } from './binding.js'
import { EmulatedPool, type PoolCreateBody } from './emulated-pool.js'
import { emulatorClock, type EmulatorClock } from './clock.js'
import { EmulatedTask, type EmulatedTaskBody, type Timings } from './emulated-task.js'
import { FaultPlan, type FaultAnswer, type FaultRule } from './faults.js'
import { PlatformFailureSchedule, type PlatformFailureQuirk } from './platform-failures.js'
import { carbonFactsOf, creditsOf } from './figures.js'
import { ClusterStorage } from './storage/cluster-storage.js'
import type { EmulatedStorage, StorageQuota } from './storage/emulated-storage.js'
import type { ResultsFilterSubject } from './storage/instance.js'
import { resultsBucketOf, storageSpecOf, usesStorage, type TaskStorageSpec } from './storage/task-files.js'
import { invalidCreateFields, invalidPoolFields } from './validation.js'
import type { TaskOutput } from './wire.js'
import { parsePeriodicSnapshot, SnapshotRequestError } from './snapshot-request.js'

export interface EmulatorOptions {
  readonly token?: string
  readonly port?: number
  readonly timings?: Partial<Timings>
  readonly maxRunningInstances?: number
  /** The account's task quota (`maxTask`); completed tasks count until deleted. */
  readonly maxTasks?: number
  /** Capacity of each server-side output buffer, in bytes; older output rotates away. */
  readonly outputBufferBytes?: number
  readonly faults?: FaultRule[]
  /** Odd-but-possible behaviours of the real API, each off by default (docs/emulator.md gives their sources). */
  readonly quirks?: EmulatorQuirks
  /**
   * The cluster's S3 storage (§8; docs/emulator.md, "Storage"). `true` (the default): started on 127.0.0.1 on
   * first need and stopped with the emulator, `latencyMs` added to every client request; `false`: a cluster
   * without storage (`GET /settings` answers `{"storage": null}`).
   */
  readonly storage?: boolean | { readonly latencyMs?: number }
  /**
   * The account's storage quotas, enforced by the storage and shown by `GET /info` (`maxBucket`,
   * `quotaBytesBucket`): a bucket beyond `maxBuckets` is 400 TooManyBuckets, an object beyond `quotaBytes` 403
   * QuotaExceeded. Default: 100 buckets and 10 GiB, shown but not enforced.
   */
  readonly storageQuota?: StorageQuota
  /**
   * The longest `advancedRanges` a create takes (default 2,048 characters; the real limit is not published): a
   * longer one is 400 `Invalid task file. Invalid fields: range-length`.
   */
  readonly maxRangeLength?: number
  /**
   * Tasks' clock runs this many times faster than real time (default 1): their dates, durations and delays, not
   * their commands (emulator/clock.ts). For benchmarks of long tasks; `clock` is the clock a client must share.
   */
  readonly timeScale?: number
  /** The account's credits, what running costs, and when a create is refused for lack of them (§9). */
  readonly credits?: EmulatorCredits
}

/** The account's credits (docs/emulator.md, "Credits and carbon"); every figure in credits. */
export interface EmulatorCredits {
  /** What one core-second of execution costs (default CREDITS_PER_CORE_SECOND: 1.8 credits per core-hour). */
  readonly perCoreSecond?: number
  /** What the account holds before any task ran (default DEFAULT_ACCOUNT_CREDITS). */
  readonly balance?: number
  /** A create is refused `402 Not enough credits` while the credits left are below this (default 0). */
  readonly refuseBelow?: number
}

/** What the account holds when a test says nothing. */
export const DEFAULT_ACCOUNT_CREDITS = 1000

/** The account's email (`GET /info`), which is also its storage access key (§8). */
export const EMULATOR_EMAIL = 'emulator@localhost'

/** How the credits or carbon service answers: figures, a refusal, or 404 until `lagMs` after the task ended. */
export type FiguresAnswer = 'ok' | 403 | 404 | { readonly lagMs: number }

export interface EmulatorQuirks {
  /** Output bodies as JSON string literals instead of plain text (docs/qarnot-api.md §2). */
  readonly jsonStringOutput?: boolean
  /** null instead of empty collections, and a null status before dispatch (§4, §11). */
  readonly nullCollections?: boolean
  /** A finished task lists no completed instance (`[]` or `null`); its status ranges still tell (§4). */
  readonly finishedWithoutInstances?: 'empty' | 'null'
  /** The status of a `shortname-uniqueness` refusal (default 400; §3). */
  readonly shortnameClashStatus?: 400 | 403
  /** A task cannot be found by its shortname for this long after its creation (by uuid at once). */
  readonly lookupLagMs?: number
  /** A task created with `autoDeleteOnCompletion: true` is deleted `afterMs` after it ends (§3). */
  readonly autoDelete?: { readonly afterMs: number }
  /** `DownloadingResults` instead of `UploadingResults` between the last instance and the end (§5). */
  readonly legacyUploadingState?: boolean
  /** A delete (asked, or automatic) keeps the task in `PendingDelete` for `ms` before it is gone (§5). */
  readonly pendingDelete?: { readonly ms: number }
  /** Durations and dates as .NET writes them at full precision, seconds as decimals (§4). */
  readonly dotNetTimes?: boolean
  /** Another client takes the task-level fresh output (stdout and stderr) every `intervalMs` while it runs (§2). */
  readonly secondReader?: { readonly intervalMs: number }
  /** These instances are killed once, `afterMs` after they start, and run again from the start (§4). */
  readonly preemption?: { readonly instanceIds: readonly number[]; readonly afterMs: number }
  /** Carbon facts by the Python SDK's snake_case names (default) or the OpenAPI document's camelCase ones (§9). */
  readonly carbonCase?: 'snake' | 'camel'
  /** How `GET /credits/v1/tasks/{uuid}/credits` answers (default 'ok'; §9). */
  readonly creditsAnswer?: FiguresAnswer
  /** How `GET /carbon/v1/tasks/{uuid}/carbon-facts` answers (default 'ok'; §9). */
  readonly carbonAnswer?: FiguresAnswer
  /**
   * What resultsWhitelist/resultsBlacklist are matched against when an instance's results go up (no source says,
   * §8): `relative` (default) `out/a.txt`, `absolute` `/job/out/a.txt`, `name` `a.txt`.
   */
  readonly resultsFilterSubject?: ResultsFilterSubject
  /**
   * The task list (`GET /tasks`, §4): `trimmed` entries as the OpenAPI example (completedInstances null, every
   * range and instance count null); at most `cap` entries (whether the list is capped is unknown).
   */
  readonly taskList?: { readonly trimmed?: boolean; readonly cap?: number }
  /**
   * Failures of the platform, not the command (platform-failures.ts): instances of the next `tasks` tasks created
   * end in Failure with a platform error code, their node preempted or lost, or their image not pulled.
   */
  readonly platformFailures?: readonly PlatformFailureQuirk[]
}

/** An answer ready to go: status, content type, extra headers, and the body as pieces. */
interface Reply {
  readonly status: number
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
  readonly pieces: Buffer[]
}

const JSON_TYPE = 'application/json; charset=utf-8'
const TEXT_TYPE = 'text/plain; charset=utf-8'

export const DEFAULT_TIMINGS: Timings = { dispatchMs: 150, environmentMs: 100, uploadMs: 150, cancelMs: 300 }

export const PROFILES: Record<string, { name: string; value: string; description: string }[]> = {
  'docker-batch': [
    { name: 'DOCKER_REPO', value: 'library/ubuntu', description: 'Docker repository' },
    { name: 'DOCKER_TAG', value: 'latest', description: 'Docker image tag' },
    { name: 'DOCKER_CMD', value: '', description: 'Command run in the container' },
    { name: 'DOCKER_SRV', value: '', description: 'Docker registry address' }
  ],
  'docker-network': [
    { name: 'DOCKER_REPO', value: 'library/ubuntu', description: 'Docker repository' },
    { name: 'DOCKER_TAG', value: 'latest', description: 'Docker image tag' },
    { name: 'DOCKER_CMD', value: '', description: 'Command run in the container' }
  ],
  'docker-batch-gpu': [
    { name: 'DOCKER_REPO', value: 'library/ubuntu', description: 'Docker repository' },
    { name: 'DOCKER_TAG', value: 'latest', description: 'Docker image tag' },
    { name: 'DOCKER_CMD', value: '', description: 'Command run in the container' }
  ]
}

const MAX_POOLS = 10

/** Parses a create body; a body that is not JSON is refused as the API refuses an invalid task file. */
function parseBody(rawBody: string, what: 'task' | 'pool'): unknown {
  try {
    return JSON.parse(rawBody)
  } catch {
    throw new HttpError(
      400,
      what === 'task'
        ? 'Invalid task file. The body is not valid JSON'
        : 'Invalid pool configuration. The body is not valid JSON'
    )
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message)
  }
}

interface Route {
  readonly endpoint: string
  readonly params: string[]
}

/** Maps a method and path to an endpoint key (`GET /tasks/{uuid}`) and its parameters. */
export function matchRoute(method: string, pathname: string): Route | undefined {
  const segments = pathname
    .replace(/^\/v1(?=\/|$)/, '')
    .split('/')
    .filter(Boolean)
    .map(decodeURIComponent)
  const [head, id, sub, instance] = segments
  const key = (pattern: string) => `${method} ${pattern}`
  if (head === 'settings' && segments.length === 1) return { endpoint: key('/settings'), params: [] }
  if (head === 'info' && segments.length === 1) return { endpoint: key('/info'), params: [] }
  if (head === 'profiles') {
    if (segments.length === 1) return { endpoint: key('/profiles'), params: [] }
    if (segments.length === 2) return { endpoint: key('/profiles/{name}'), params: [id] }
  }
  if (head === 'pools') {
    if (segments.length === 1) return { endpoint: key('/pools'), params: [] }
    if (segments.length === 2) return { endpoint: key('/pools/{uuid}'), params: [id] }
    if (segments.length === 3 && sub === 'close')
      return { endpoint: key('/pools/{uuid}/close'), params: [id] }
  }
  const service = head?.toLowerCase()
  if (service === 'credits' || service === 'carbon') {
    // `/credits/v1/tasks/{uuid}/credits`, `/carbon/v1/Tasks/{taskId}/carbon-facts` (§9): names read ignoring
    // case, as the OpenAPI document writes `Tasks`; the service's own `v1` may be left out.
    const rest = segments.slice(1)
    if (rest[0]?.toLowerCase() === 'v1') rest.shift()
    const leaf = service === 'credits' ? 'credits' : 'carbon-facts'
    const [what, taskId, last] = rest
    // `/credits/v1/accounts/credits`: the account's credits (Python SDK `__init__.py`, C# SDK `CreditsClient.cs`).
    if (
      service === 'credits' &&
      rest.length === 2 &&
      what.toLowerCase() === 'accounts' &&
      taskId.toLowerCase() === 'credits'
    )
      return { endpoint: key('/credits/v1/accounts/credits'), params: [] }
    if (rest.length === 3 && what.toLowerCase() === 'tasks' && last.toLowerCase() === leaf)
      return { endpoint: key(`/${service}/v1/tasks/{uuid}/${leaf}`), params: [taskId] }
    return undefined
  }
  if (head === 'tasks') {
    if (segments.length === 1) return { endpoint: key('/tasks'), params: [] }
    if (segments.length === 2 && method === 'POST' && id === 'paginate')
      return { endpoint: key('/tasks/paginate'), params: [] }
    if (segments.length === 2 && method === 'GET' && id === 'summaries')
      return { endpoint: key('/tasks/summaries'), params: [] }
    if (segments.length === 2) return { endpoint: key('/tasks/{uuid}'), params: [id] }
    if (segments.length === 3 && (sub === 'stdout' || sub === 'stderr' || sub === 'abort')) {
      return { endpoint: key(`/tasks/{uuid}/${sub}`), params: [id] }
    }
    if (segments.length === 4 && sub === 'snapshot' && instance === 'periodic')
      return { endpoint: key('/tasks/{uuid}/snapshot/periodic'), params: [id] }
    if (segments.length === 4 && (sub === 'stdout' || sub === 'stderr')) {
      return { endpoint: key(`/tasks/{uuid}/${sub}/{instanceId}`), params: [id, instance] }
    }
  }
  return undefined
}

export class QarnotEmulator {
  readonly token: string
  /** The account's email (`GET /info` `email`): the storage access key; the token is the secret key. */
  readonly email = EMULATOR_EMAIL
  readonly faults = new FaultPlan()
  /** Requests received, by endpoint key (`POST /tasks`); unknown paths count under `other`. */
  readonly requests = new Map<string, number>()
  /** When each request arrived (ms since the epoch) and at which endpoint, for benchmarks. */
  readonly requestLog: { at: number; endpoint: string }[] = []
  /** The last request received: what a test checks of headers and bodies. */
  lastRequest: { method: string; path: string; headers: IncomingMessage['headers']; body: string } | undefined
  private readonly tasks = new Map<string, EmulatedTask>()
  private readonly pools = new Map<string, EmulatedPool>()
  /** The pool each in-pool task runs in, by task uuid. */
  private readonly poolOfTask = new Map<string, EmulatedPool>()
  private readonly timings: Timings
  /** The tasks' clock (option `timeScale`). */
  readonly clock: EmulatorClock
  /** The emulator's folder (instances' TASK_PATH, TMP_PATH, resource caches); removed by stop(). */
  readonly workDir: string
  private server: Server | undefined
  private baseUrl = ''
  private downUntil = 0
  /** Answers still open on purpose (stall, drip): each function ends one, for stop(). */
  private readonly openAnswers = new Set<() => void>()
  /** The emulator's own timers (pending and automatic deletes). */
  private readonly timers = new Set<NodeJS.Timeout>()
  /** The cluster's storage, undefined when it has none. */
  private readonly clusterStorage: ClusterStorage | undefined
  /** Deleted tasks whose transfers are still letting go. */
  private readonly leaving = new Set<Promise<void>>()
  private stopping = false
  /** Which tasks the platformFailures quirk strikes next. */
  private readonly platformFailures: PlatformFailureSchedule
  /** Credits spent by tasks deleted since: the account keeps having paid for them. */
  private spentByGone = 0

  constructor(private readonly options: EmulatorOptions = {}) {
    this.platformFailures = new PlatformFailureSchedule(options.quirks?.platformFailures ?? [])
    this.token = options.token ?? `emulator-${randomBytes(12).toString('hex')}`
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings }
    this.clock = emulatorClock(options.timeScale)
    this.workDir = mkdtempSync(join(tmpdir(), 'qarnot-emulator-'))
    if (options.faults) this.faults.add(...options.faults)
    const storage = options.storage ?? true
    this.clusterStorage =
      storage === false
        ? undefined
        : new ClusterStorage({
            email: this.email,
            token: this.token,
            latencyMs: typeof storage === 'object' ? storage.latencyMs : undefined,
            quota: options.storageQuota
          })
  }

  /** Whether the cluster has storage (option `storage`). */
  get hasStorage(): boolean {
    return this.clusterStorage !== undefined
  }

  /**
   * The cluster's storage, started now if nothing started it yet (a `GET /settings`, a create naming buckets):
   * its URL, `credentials` (the account's) and `platformCredentials` (the platform's: neither counted nor
   * faulted as a client's), `internalStore()` (the platform's own client), `requestCount()`, `faults`, `latencyMs`, `log`. Rejects on a cluster without
   * storage.
   */
  storage(): Promise<EmulatedStorage> {
    if (!this.clusterStorage)
      return Promise.reject(new Error('this emulator has no storage (storage: false)'))
    return this.clusterStorage.start()
  }

  /** The storage if it has started, without starting it. */
  get startedStorage(): EmulatedStorage | undefined {
    return this.clusterStorage?.running
  }

  get url(): string {
    return this.baseUrl
  }

  async start(): Promise<this> {
    const server = createServer((request, response) => {
      this.handle(request, response).catch(error => {
        if (!response.headersSent)
          this.send(response, 500, { message: `Emulator error: ${(error as Error).message}` })
      })
    })
    server.keepAliveTimeout = 5000
    // During an outage every connection is dropped as it arrives, as a server that went away.
    server.on('connection', socket => {
      if (Date.now() < this.downUntil) socket.destroy()
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.options.port ?? 0, '127.0.0.1', () => resolve())
    })
    this.server = server
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    return this
  }

  async stop(): Promise<void> {
    this.stopping = true
    for (const end of [...this.openAnswers]) end()
    this.openAnswers.clear()
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    const tasks = [...this.tasks.values()]
    for (const task of tasks) task.dispose()
    this.tasks.clear()
    for (const pool of this.pools.values()) pool.dispose()
    this.pools.clear()
    const server = this.server
    this.server = undefined
    if (server) {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
    // Transfers were aborted by dispose(): wait until they let go, then stop the storage and remove every folder.
    await Promise.all([...tasks.map(task => task.idle()), ...this.leaving])
    await this.clusterStorage?.stop()
    rmSync(this.workDir, { recursive: true, force: true })
  }

  /** The server goes away for `ms`: open connections are cut and new ones dropped; tasks run on meanwhile. */
  outage(ms: number): void {
    this.downUntil = Date.now() + ms
    this.server?.closeAllConnections()
  }

  /** Every task the emulator knows, deleted ones excluded. */
  allTasks(): EmulatedTask[] {
    return [...this.tasks.values()]
  }

  requestCount(endpoint?: string): number {
    if (endpoint !== undefined) return this.requests.get(endpoint) ?? 0
    let total = 0
    for (const count of this.requests.values()) total += count
    return total
  }

  resetCounters(): void {
    this.requests.clear()
    this.requestLog.length = 0
  }

  findTask(uuidOrShortname: string): EmulatedTask | undefined {
    const byUuid = this.tasks.get(uuidOrShortname)
    if (byUuid) return byUuid
    for (const task of this.tasks.values()) if (task.body.shortname === uuidOrShortname) return task
    return undefined
  }

  findPool(uuidOrShortname: string): EmulatedPool | undefined {
    const byUuid = this.pools.get(uuidOrShortname)
    if (byUuid) return byUuid
    for (const pool of this.pools.values()) if (pool.body.shortname === uuidOrShortname) return pool
    return undefined
  }

  /**
   * Creates a pool as `POST /pools` would (a test's shortcut): `instanceCount` slots of `profile`, open once it
   * reaches FullyExecuting. Throws the API's refusal message for an invalid body.
   */
  createPool(body: Partial<PoolCreateBody> = {}): EmulatedPool {
    return this.newPool({ name: 'emulator pool', profile: 'docker-batch', instanceCount: 2, ...body })
  }

  // --- HTTP ---

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      action()
    }, ms)
    this.timers.add(timer)
  }

  private send(response: ServerResponse, status: number, body: unknown, text = false): void {
    this.write(response, this.reply(status, body, text))
  }

  /** An answer as it will go: text pieces as they are (no copy), anything else as JSON. */
  private reply(status: number, body: unknown, text = false): Reply {
    if (text && Array.isArray(body))
      return { status, contentType: TEXT_TYPE, headers: {}, pieces: body as Buffer[] }
    const payload = text ? String(body) : JSON.stringify(body)
    return { status, contentType: text ? TEXT_TYPE : JSON_TYPE, headers: {}, pieces: [Buffer.from(payload)] }
  }

  private head(response: ServerResponse, reply: Reply, length: number): void {
    response.writeHead(reply.status, {
      ...reply.headers,
      'Content-Type': reply.contentType,
      'Content-Length': length
    })
  }

  /** Writes an answer piece by piece, honouring the socket's backpressure. */
  private write(response: ServerResponse, reply: Reply): void {
    const { pieces } = reply
    this.head(
      response,
      reply,
      pieces.reduce((sum, piece) => sum + piece.length, 0)
    )
    let index = 0
    const pump = (): void => {
      while (index < pieces.length) {
        if (!response.write(pieces[index++])) return void response.once('drain', pump)
      }
      response.end()
    }
    pump()
  }

  /** Keeps an answer open until the client goes or the emulator stops (fault `stall`). */
  private hold(response: ServerResponse): void {
    const end = (): void => {
      this.openAnswers.delete(end)
      response.destroy()
    }
    this.openAnswers.add(end)
    response.once('close', () => this.openAnswers.delete(end))
  }

  /** Sends the answer's headers, then its body `bytes` at a time every `intervalMs` (fault `drip`). */
  private drip(response: ServerResponse, reply: Reply, intervalMs: number, bytes: number): void {
    const body = Buffer.concat(reply.pieces)
    const step = Math.max(1, Math.floor(bytes))
    let offset = 0
    let timer: NodeJS.Timeout | undefined
    const done = (): void => {
      clearTimeout(timer)
      this.openAnswers.delete(end)
    }
    const end = (): void => {
      done()
      response.destroy()
    }
    const next = (): void => {
      if (response.destroyed) return done()
      const piece = body.subarray(offset, offset + step)
      offset += piece.length
      if (offset >= body.length) {
        done()
        response.end(piece)
        return
      }
      response.write(piece)
      timer = setTimeout(next, intervalMs)
    }
    this.openAnswers.add(end)
    response.once('close', done)
    this.head(response, reply, body.length)
    next()
  }

  /** Sends the headers (with the whole Content-Length) and the first `bytes` of body, then cuts (fault `cut`). */
  private cut(response: ServerResponse, reply: Reply, bytes: number): void {
    const body = Buffer.concat(reply.pieces)
    const part = body.subarray(0, Math.max(0, Math.floor(bytes)))
    this.head(response, reply, body.length)
    response.flushHeaders()
    const socket = response.socket
    if (!socket) return void response.destroy()
    socket.write(part, () => socket.destroy())
  }

  /** The answer a `transform` fault returns in place of the real one. */
  private transformed(reply: Reply, transform: (answer: FaultAnswer) => FaultAnswer): Reply {
    const answer = transform({
      status: reply.status,
      body: Buffer.concat(reply.pieces).toString('utf8'),
      contentType: reply.contentType,
      headers: reply.headers
    })
    return {
      status: answer.status,
      contentType: answer.contentType,
      headers: answer.headers ?? {},
      pieces: [Buffer.from(answer.body, 'utf8')]
    }
  }

  private async readBody(request: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString('utf8')
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? 'GET'
    const url = new URL(request.url ?? '/', 'http://emulator')
    if (url.pathname === '/__emulator/requests' && method === 'GET') {
      return this.send(response, 200, Object.fromEntries(this.requests))
    }
    if (Date.now() < this.downUntil) {
      request.socket.destroy()
      return
    }
    const route = matchRoute(method, url.pathname)
    const endpoint = route?.endpoint ?? 'other'
    this.requests.set(endpoint, (this.requests.get(endpoint) ?? 0) + 1)
    this.requestLog.push({ at: Date.now(), endpoint })
    const body = await this.readBody(request)
    this.lastRequest = { method, path: url.pathname, headers: request.headers, body }

    const fault = this.faults.next(endpoint)
    if (fault?.type === 'reset') {
      request.socket.destroy()
      return
    }
    if (fault?.type === 'status') {
      if (fault.retryAfter !== undefined) response.setHeader('Retry-After', fault.retryAfter)
      return this.send(response, fault.status, { message: fault.message ?? `Injected fault ${fault.status}` })
    }
    if (fault?.type === 'stall' && !fault.handled) return this.hold(response)
    if (fault?.type === 'delay') await new Promise(resolve => setTimeout(resolve, fault.ms))

    let status = 200
    let answer: unknown
    let text = false
    try {
      if (!route) throw new HttpError(404, 'Not found')
      if (endpoint !== 'GET /settings' && request.headers.authorization !== this.token) {
        throw new HttpError(401, 'Unauthorized: invalid or missing API token')
      }
      const result = await this.dispatch(route, url, body)
      answer = result.body
      text = result.text ?? false
    } catch (error) {
      status = error instanceof HttpError ? error.status : 500
      answer = { message: (error as Error).message }
    }
    if (fault?.type === 'lose-answer') {
      request.socket.destroy()
      return
    }
    if (request.socket.destroyed) return
    if (fault?.type === 'stall') return this.hold(response)
    let reply = this.reply(status, answer, text)
    if (fault?.type === 'transform') reply = this.transformed(reply, fault.transform)
    if (fault?.type === 'cut') return this.cut(response, reply, fault.bytes)
    if (fault?.type === 'drip') return this.drip(response, reply, fault.intervalMs, fault.bytes ?? 1)
    this.write(response, reply)
  }

  private get quirks(): EmulatorQuirks {
    return this.options.quirks ?? {}
  }

  /** A task as a request names it: by uuid at once, by shortname once the lookup lag (if any) has passed. */
  private task(id: string): EmulatedTask {
    const lagMs = this.quirks.lookupLagMs ?? 0
    let task = this.tasks.get(id)
    if (!task) {
      for (const candidate of this.tasks.values()) {
        if (candidate.body.shortname !== id) continue
        if (this.clock.now() - candidate.creationDate.getTime() >= lagMs) task = candidate
        break
      }
    }
    if (!task) throw new HttpError(404, 'Task not found')
    return task
  }

  /**
   * The task of a credits or carbon request, by uuid only (the services document `{taskId}` as a uuid), or the
   * refusal the quirk asks for: 403, 404, or 404 until `lagMs` after the task ended (§9).
   */
  private figuresTask(id: string, answer: FiguresAnswer = 'ok'): EmulatedTask {
    const task = this.tasks.get(id)
    if (!task || answer === 404) throw new HttpError(404, 'Task not found.')
    if (answer === 403) throw new HttpError(403, 'Forbidden: the user has no access to the data')
    if (typeof answer === 'object') {
      const end = task.finishedAt
      if (end === undefined || this.clock.now() < end + answer.lagMs)
        throw new HttpError(404, 'Task not found.')
    }
    return task
  }

  /** Deletes a task: at once, or through PendingDelete for a while with the quirk `pendingDelete`. */
  private deleteTask(task: EmulatedTask): void {
    if (task.deleted) return
    const ms = this.quirks.pendingDelete?.ms ?? 0
    if (ms <= 0) return this.removeTask(task)
    if (task.state === 'PendingDelete') return
    task.beginDelete()
    this.later(ms, () => this.removeTask(task))
  }

  private removeTask(task: EmulatedTask): void {
    if (task.deleted) return
    task.abort()
    task.dispose()
    const idle = task.idle()
    this.leaving.add(idle)
    void idle.finally(() => this.leaving.delete(idle))
    task.deleted = true
    this.spentByGone += this.creditsOfTask(task)
    this.tasks.delete(task.uuid)
    this.poolOfTask.delete(task.uuid)
    this.rebalance()
  }

  private pool(id: string): EmulatedPool {
    const pool = this.findPool(id)
    // "Pool not found." is the documented 404 of the pool endpoints (§10).
    if (!pool) throw new HttpError(404, 'Pool not found')
    return pool
  }

  private async dispatch(
    route: Route,
    url: URL,
    rawBody: string
  ): Promise<{ body: unknown; text?: boolean }> {
    const [first, second] = route.params
    switch (route.endpoint) {
      case 'GET /settings':
        // The storage URL, or null on a cluster without storage (§8, as the Python SDK reads it).
        return { body: { storage: this.clusterStorage ? (await this.clusterStorage.start()).url : null } }
      case 'GET /info':
        return { body: this.info() }
      case 'GET /profiles':
        return { body: Object.keys(PROFILES) }
      case 'GET /profiles/{name}': {
        const constants = PROFILES[first]
        if (!constants) throw new HttpError(404, 'Profile not found')
        return { body: { name: first, constants } }
      }
      case 'POST /tasks':
        return { body: await this.create(rawBody) }
      case 'POST /pools':
        return { body: { uuid: this.newPool(parseBody(rawBody, 'pool')).uuid } }
      case 'GET /pools': {
        const tags = url.searchParams.getAll('tag')
        const pools = [...this.pools.values()].filter(p =>
          tags.every(tag => (p.body.tags ?? []).includes(tag))
        )
        return { body: pools.map(p => p.toWire()) }
      }
      case 'GET /pools/{uuid}':
        return { body: this.pool(first).toWire() }
      case 'POST /pools/{uuid}/close': {
        const pool = this.pool(first)
        // Assumed answer for a pool already closed: the endpoint documents only 403 "Action forbidden" (§10).
        if (!pool.isOpen) throw new HttpError(403, "Can't close the pool")
        this.closePool(pool)
        return { body: {} }
      }
      case 'DELETE /pools/{uuid}': {
        const pool = this.pool(first)
        this.closePool(pool)
        pool.dispose()
        this.pools.delete(pool.uuid)
        return { body: {} }
      }
      case 'GET /tasks': {
        const tags = url.searchParams.getAll('tag')
        const tasks = this.allTasks().filter(t => tags.every(tag => (t.body.tags ?? []).includes(tag)))
        const cap = this.quirks.taskList?.cap
        return { body: tasks.slice(0, cap ?? tasks.length).map(t => this.listEntry(t)) }
      }
      case 'GET /tasks/summaries': {
        // `tag=a,b` (the C# SDK) or `tag=a&tag=b`: tasks carrying every tag.
        const tags = url.searchParams
          .getAll('tag')
          .flatMap(tag => tag.split(','))
          .filter(Boolean)
        const tasks = this.allTasks().filter(t => tags.every(tag => (t.body.tags ?? []).includes(tag)))
        return { body: tasks.map(t => summaryOf(this.wire(t))) }
      }
      case 'POST /tasks/paginate':
        return { body: this.page(rawBody) }
      case 'GET /tasks/{uuid}':
        return { body: this.wire(this.task(first)) }
      case 'DELETE /tasks/{uuid}':
        this.deleteTask(this.task(first))
        return { body: {} }
      case 'POST /tasks/{uuid}/abort': {
        const task = this.task(first)
        if (task.isFinal || task.state === 'PendingDelete') throw new HttpError(403, "Can't abort the task")
        task.abort()
        return { body: {} }
      }
      case 'POST /tasks/{uuid}/snapshot/periodic': {
        const task = this.task(first)
        // The SDKs document a refusal for a task that no longer runs (403).
        if (task.isFinal || task.state === 'PendingCancel' || task.state === 'PendingDelete')
          throw new HttpError(403, "Can't snapshot a task that is not running")
        try {
          task.periodicSnapshot(parsePeriodicSnapshot(rawBody))
        } catch (error) {
          if (error instanceof SnapshotRequestError) throw new HttpError(400, error.message)
          throw error
        }
        return { body: {} }
      }
      case 'GET /tasks/{uuid}/stdout':
      case 'GET /tasks/{uuid}/stderr':
      case 'POST /tasks/{uuid}/stdout':
      case 'POST /tasks/{uuid}/stderr': {
        const task = this.task(first)
        const buffer = route.endpoint.endsWith('stdout') ? task.stdout : task.stderr
        const data = route.endpoint.startsWith('POST') ? buffer.readFresh() : buffer.readAll()
        return this.output(data)
      }
      case 'GET /credits/v1/tasks/{uuid}/credits':
        return { body: { credits: this.creditsOfTask(this.figuresTask(first, this.quirks.creditsAnswer)) } }
      case 'GET /credits/v1/accounts/credits':
        return { body: { credits: this.accountCredits() } }
      case 'GET /carbon/v1/tasks/{uuid}/carbon-facts': {
        const task = this.figuresTask(first, this.quirks.carbonAnswer)
        // Query names are bound ignoring case, as the API's ASP.NET binding does (§3).
        const datacenter = [...url.searchParams].find(
          ([name]) => name.toLowerCase() === 'comparisondatacenter'
        )
        return {
          body: carbonFactsOf(task.executionSeconds(), datacenter?.[1] || null, this.quirks.carbonCase)
        }
      }
      default: {
        if (/^(GET|POST) \/tasks\/\{uuid\}\/std(out|err)\/\{instanceId\}$/.test(route.endpoint)) {
          const task = this.task(first)
          if (!/^\d+$/.test(second)) throw new HttpError(404, 'Instance not found')
          const instance = task.instance(Number(second))
          if (!instance) throw new HttpError(404, 'Instance not found')
          const buffer = route.endpoint.includes('stdout') ? instance.stdout : instance.stderr
          const data = route.endpoint.startsWith('POST') ? buffer.readFresh() : buffer.readAll()
          return this.output(data)
        }
        throw new HttpError(405, `Method ${route.endpoint.split(' ')[0]} not allowed here`)
      }
    }
  }

  private output(pieces: Buffer[]): { body: unknown; text?: boolean } {
    if (this.options.quirks?.jsonStringOutput) return { body: Buffer.concat(pieces).toString('utf8') }
    return { body: pieces, text: true }
  }

  /** A `GET /tasks` entry: the task, or with the quirk `taskList.trimmed` what the OpenAPI example shows. */
  private listEntry(task: EmulatedTask): TaskOutput {
    const wire = this.wire(task)
    if (!this.quirks.taskList?.trimmed) return wire
    const status = wire.status && {
      ...wire.status,
      instanceCount: null,
      ...Object.fromEntries(RANGE_FIELDS.map(field => [field, null]))
    }
    return {
      ...wire,
      completedInstances: null,
      instanceCount: null,
      totalInstanceCount: null,
      advancedRanges: null,
      status
    }
  }

  /**
   * `POST /tasks/paginate` (PageDetailRequest in, TaskOutputTokenPagedResponse out), minimal: tasks in creation
   * order, `maximumResults` a page (every task when absent), `token` where the next page starts. `filter`,
   * `orderBy` and `orderType` are not applied.
   */
  private page(rawBody: string): Record<string, unknown> {
    let request: { token?: unknown; maximumResults?: unknown } = {}
    try {
      request = (rawBody.trim() ? JSON.parse(rawBody) : {}) as typeof request
    } catch {
      throw new HttpError(400, 'Invalid page request. The body is not valid JSON')
    }
    const tasks = this.allTasks()
    const start = typeof request.token === 'string' && /^\d+$/.test(request.token) ? Number(request.token) : 0
    const size = request.maximumResults
    const count = typeof size === 'number' && Number.isInteger(size) && size > 0 ? size : tasks.length
    const data = tasks.slice(start, start + count).map(t => this.wire(t))
    const end = start + data.length
    return {
      data,
      count: data.length,
      total: tasks.length,
      isTruncated: end < tasks.length,
      nextToken: end < tasks.length ? String(end) : null
    }
  }

  private wire(task: EmulatedTask): TaskOutput {
    let wire = task.toWire()
    if (this.quirks.nullCollections) {
      const empty = (value: unknown) => (Array.isArray(value) && value.length === 0 ? null : value)
      wire = {
        ...wire,
        errors: empty(wire.errors) as null,
        completedInstances: empty(wire.completedInstances) as null,
        constants: empty(wire.constants) as null,
        tags: empty(wire.tags) as null,
        status: wire.state === 'Submitted' ? null : wire.status
      }
    }
    // Once the task has ended (and while it is deleted after), as the Node SDK's and OpenAPI's examples show (§4).
    const without = this.quirks.finishedWithoutInstances
    if (without && task.finishedAt !== undefined)
      wire = { ...wire, completedInstances: without === 'empty' ? [] : null }
    return wire
  }

  private async create(rawBody: string): Promise<{ uuid: string }> {
    // Property names are bound ignoring case, as the API's ASP.NET binding does (the C# SDK sends PascalCase).
    const body = bindIgnoringCase(TASK_CREATE_SHAPE, parseBody(rawBody, 'task'))
    const invalid = invalidCreateFields(body, Object.keys(PROFILES), this.options.maxRangeLength)
    const create = body as EmulatedTaskBody
    if (invalid.length === 0 && create.shortname && this.findTask(create.shortname))
      invalid.push('shortname-uniqueness')
    if (invalid.length > 0) throw this.invalidTask(invalid)
    // The documented refusal (§3); what the real API compares the balance with is not published.
    if (this.accountCredits() < (this.options.credits?.refuseBelow ?? 0))
      throw new HttpError(402, 'Not enough credits')
    let pool = this.placement(create)
    const spec = storageSpecOf(create)
    if (usesStorage(spec)) {
      await this.checkStorage(spec)
      // A create still checking storage when stop() came makes no task: nothing would ever dispose of it.
      if (this.stopping) throw new HttpError(503, 'The emulator is stopping')
      // Checked again: another create may have taken the shortname, the last task or the pool meanwhile.
      if (create.shortname && this.findTask(create.shortname))
        throw this.invalidTask(['shortname-uniqueness'])
      pool = this.placement(create)
    }
    const task = new EmulatedTask(create, {
      timings: this.timings,
      outputBufferBytes: this.options.outputBufferBytes ?? 32 * 1024 * 1024,
      workDir: this.workDir,
      freeInstanceSlots: pool
        ? () => pool.freeSlots()
        : () => this.maxRunning - this.runningInstances(task => !this.poolOfTask.has(task.uuid)),
      onInstanceSlotFreed: () => setImmediate(() => this.rebalance()),
      pool: pool && { uuid: pool.uuid, profile: pool.profile, constants: pool.constants },
      uploadingState: this.quirks.legacyUploadingState ? 'DownloadingResults' : undefined,
      dotNetTimes: this.quirks.dotNetTimes,
      secondReaderMs: this.quirks.secondReader?.intervalMs,
      preemption: this.quirks.preemption,
      platformFailures: this.platformFailures.nextTask(),
      resultsFilterSubject: this.quirks.resultsFilterSubject,
      storage: this.clusterStorage && (() => (this.clusterStorage as ClusterStorage).platformStore()),
      clock: this.clock,
      onFinished: () => {
        const autoDelete = this.quirks.autoDelete
        if (autoDelete && create.autoDeleteOnCompletion === true)
          this.later(autoDelete.afterMs, () => this.deleteTask(task))
      }
    })
    this.tasks.set(task.uuid, task)
    if (pool) this.poolOfTask.set(task.uuid, pool)
    return { uuid: task.uuid }
  }

  /** What a task has spent so far: its core-seconds at the account's rate (it grows while the task runs). */
  creditsOfTask(task: EmulatedTask): number {
    return creditsOf(task.executionSeconds(), this.options.credits?.perCoreSecond).credits
  }

  /** The account's credits left: its balance less what every task (deleted ones too) has spent so far. */
  accountCredits(): number {
    const spent = this.allTasks().reduce((sum, task) => sum + this.creditsOfTask(task), this.spentByGone)
    const left = (this.options.credits?.balance ?? DEFAULT_ACCOUNT_CREDITS) - spent
    return Math.round(left * 1e6) / 1e6
  }

  private invalidTask(invalid: readonly string[]): HttpError {
    // The status of a shortname clash is unconfirmed (§3): 400 by default, 403 with the quirk.
    const clash = invalid[0] === 'shortname-uniqueness'
    return new HttpError(
      clash ? (this.quirks.shortnameClashStatus ?? 400) : 400,
      `Invalid task file. Invalid fields: ${invalid.join(', ')}`
    )
  }

  /** The pool a create names, if any, once it may take the task, and the task quota; throws the refusal. */
  private placement(create: EmulatedTaskBody): EmulatedPool | undefined {
    const pool = create.poolUuid ? this.pools.get(create.poolUuid) : undefined
    if (create.poolUuid) {
      // The Python SDK notes a missing pool is answered 400; the message is assumed (§10).
      if (!pool) throw new HttpError(400, `No such pool: ${create.poolUuid}`)
      // "Should be the uuid of an open pool" (TaskCreationInput.poolUuid); the answer's shape is assumed (§10).
      if (!pool.isOpen) throw new HttpError(400, 'Invalid task file. Invalid fields: poolUuid')
      // "Cannot set new hardware constraints for a task in a pool" (TaskCreationInput.hardwareConstraints).
      if ((create.hardwareConstraints ?? []).length > 0)
        throw new HttpError(400, 'Invalid task file. Invalid fields: hardwareConstraints')
    }
    if (this.tasks.size >= (this.options.maxTasks ?? 1000))
      throw new HttpError(403, 'Maximum number of tasks reached')
    return pool
  }

  /**
   * What a create naming buckets needs of storage (§3, §8): every resource bucket exists (else `404 No such
   * bucket: <name>`, the documented answer), and the results bucket is made when missing. Without storage no
   * bucket exists; a results bucket is then refused as an invalid field (assumed: no source says).
   */
  private async checkStorage(spec: TaskStorageSpec): Promise<void> {
    const storage = this.clusterStorage
    const missing = storage
      ? await storage.missingBuckets(spec)
      : [...spec.resourceBuckets, ...spec.advancedResourceBuckets.map(b => b.bucketName ?? '')]
    if (missing.length > 0) throw new HttpError(404, `No such bucket: ${missing[0]}`)
    const results = resultsBucketOf(spec)
    if (results === undefined) return
    const field = spec.resultBucket ? 'resultBucket' : 'resultsBucket'
    if (!storage || !(await storage.makeBucket(results))) throw this.invalidTask([field])
  }

  private newPool(raw: unknown): EmulatedPool {
    const body = bindIgnoringCase(POOL_CREATE_SHAPE, raw)
    const invalid = invalidPoolFields(body, Object.keys(PROFILES))
    const create = body as PoolCreateBody
    if (invalid.length === 0 && create.shortname && this.findPool(create.shortname))
      invalid.push('shortname-uniqueness')
    // The endpoint documents 400 "Invalid pool configuration."; the message's shape is assumed (§10).
    if (invalid.length > 0)
      throw new HttpError(400, `Invalid pool configuration. Invalid fields: ${invalid.join(', ')}`)
    if ([...this.pools.values()].filter(p => p.isOpen).length >= MAX_POOLS)
      throw new HttpError(403, 'Maximum number of pools reached')
    const pool: EmulatedPool = new EmulatedPool(
      create,
      this.timings,
      () => this.poolUsage(pool),
      () => this.rebalance()
    )
    this.pools.set(pool.uuid, pool)
    return pool
  }

  /** Closes a pool; its unfinished tasks are aborted, as their nodes go away (an emulator choice, §10). */
  private closePool(pool: EmulatedPool): void {
    for (const task of this.tasks.values()) if (this.poolOfTask.get(task.uuid) === pool) task.abort()
    pool.close()
  }

  private poolUsage(pool: EmulatedPool): { running: number; queuedOrRunning: number } {
    let running = 0
    let queuedOrRunning = 0
    for (const task of this.tasks.values()) {
      if (this.poolOfTask.get(task.uuid) !== pool) continue
      running += task.runningCount
      if (!task.isFinal) queuedOrRunning += task.unfinishedCount
    }
    return { running, queuedOrRunning }
  }

  private get maxRunning(): number {
    return this.options.maxRunningInstances ?? 32
  }

  private runningInstances(which: (task: EmulatedTask) => boolean = () => true): number {
    let running = 0
    for (const task of this.tasks.values()) if (which(task)) running += task.runningCount
    return running
  }

  /** Gives freed instance slots to queued instances of every task, oldest task first. */
  private rebalance(): void {
    for (const task of this.tasks.values()) task.startQueued()
  }

  /**
   * The storage quotas of `GET /info` (UserOutput's `maxBucket`, `quotaBytesBucket`, `usedQuotaBytesBucket`,
   * `quotaBytes`, `usedQuotaBytes`; docs/qarnot-api.md "Storage quotas"): what is used is measured on the
   * storage when it has started (nothing is stored before).
   */
  private storageQuotas(): Record<string, number> {
    const quota = this.options.storageQuota ?? {}
    const running = this.clusterStorage?.running
    const used = running ? running.usedBytes() : 0
    const bytes = quota.quotaBytes ?? DEFAULT_QUOTA_BYTES
    return {
      maxBucket: quota.maxBuckets ?? DEFAULT_BUCKETS,
      quotaBytes: bytes,
      quotaBytesBucket: bytes,
      usedQuotaBytes: used,
      usedQuotaBytesBucket: used
    }
  }

  private info(): Record<string, unknown> {
    const tasks = this.allTasks()
    const running = tasks.filter(t => !t.isFinal)
    const instances = this.runningInstances()
    const quota = {
      maxInstances: this.maxRunning,
      maxCores: this.maxRunning,
      runningInstancesCount: instances,
      runningCoreCount: instances
    }
    return {
      email: this.email,
      ...this.storageQuotas(),
      maxTask: this.options.maxTasks ?? 1000,
      taskCount: tasks.length,
      maxJob: 100,
      jobCount: 0,
      maxPool: MAX_POOLS,
      poolCount: this.pools.size,
      maxRunningTask: this.options.maxTasks ?? 1000,
      runningTaskCount: running.length,
      maxRunningPool: MAX_POOLS,
      runningPoolCount: [...this.pools.values()].filter(p => p.isOpen).length,
      runningInstanceCount: instances,
      runningCoreCount: instances,
      maxInstances: this.maxRunning,
      maxCores: this.maxRunning,
      maxFlexInstances: this.maxRunning,
      maxFlexCores: this.maxRunning,
      maxOnDemandInstances: 0,
      maxOnDemandCores: 0,
      computingQuotas: {
        user: {
          flex: quota,
          onDemand: { maxInstances: 0, maxCores: 0, runningInstancesCount: 0, runningCoreCount: 0 },
          reserved: []
        },
        organization: null
      }
    }
  }
}

/** The range fields of a TaskOutput's status. */
const RANGE_FIELDS = [
  'succeededRange',
  'executedRange',
  'failedRange',
  'cancelledRange',
  'failedOnlyRange',
  'startedOnceRange'
]

/** The fields of `TaskSummaryOutput`, taken from the task's TaskOutput. */
const SUMMARY_FIELDS = [
  'uuid',
  'name',
  'shortname',
  'profile',
  'poolUuid',
  'jobUuid',
  'progress',
  'runningInstanceCount',
  'runningCoreCount',
  'clusterInfo',
  'executionTime',
  'wallTime',
  'state',
  'previousState',
  'totalInstanceCount',
  'instanceCount',
  'maxRetriesPerInstance',
  'advancedRanges',
  'stateTransitionTime',
  'previousStateTransitionTime',
  'lastModified',
  'creationDate',
  'endDate',
  'waitForPoolResourcesSynchronization'
]

function summaryOf(wire: TaskOutput): Record<string, unknown> {
  return Object.fromEntries(SUMMARY_FIELDS.map(field => [field, wire[field] ?? null]))
}

const DEFAULT_BUCKETS = 100
const DEFAULT_QUOTA_BYTES = 10 * 1024 ** 3

/** Starts an emulator on a free port of 127.0.0.1. */
export function startEmulator(options: EmulatorOptions = {}): Promise<QarnotEmulator> {
  return new QarnotEmulator(options).start()
}
