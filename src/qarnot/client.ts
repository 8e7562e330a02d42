/**
 * The Qarnot compute API client: the endpoints the action uses (docs/qarnot-api.md §2), the raw-token
 * Authorization header, a User-Agent, a time limit per request, one request path that turns every answer into a
 * typed error or a checked value, and the retry policy for transient faults. A client may be bound to a signal
 * that ends its requests and waits at once (a stop, a deadline). Nothing GitHub-specific lives here.
 */
import {
  QarnotAnswerError,
  QarnotApiError,
  QarnotCancelledError,
  QarnotNetworkError,
  QarnotRetriesExhaustedError,
  errorMessageFromBody
} from './errors.js'
import {
  DEFAULT_RETRY,
  isTransientStatus,
  mayRetry,
  parseRetryAfter,
  retryDelayMs,
  type RetryPolicy
} from './retry.js'
import { UUID_PATTERN, readTaskDocument } from './task-document.js'
import type { ChunkSink, HttpRequest, HttpResponse, Transport } from './transport.js'
import type { TaskCreateBody, TaskOutputWire } from './types.js'
import { errorMessage } from '../words.js'

export type OutputStream = 'stdout' | 'stderr'

/** The body of a periodic snapshot request (the OpenAPI document's PeriodicSnapshot). */
export interface PeriodicSnapshotBody {
  readonly interval: number
  readonly whitelist?: string | null
  readonly blacklist?: string | null
  readonly bucket?: string | null
  readonly bucketPrefix?: string | null
}

export interface ClientOptions {
  readonly baseUrl: string
  readonly token: string
  readonly userAgent: string
  readonly transport: Transport
  /** Longest time of one buffered request, in all. */
  readonly timeoutMs?: number
  /** Longest time of one streamed output read, in all (default 4 x timeoutMs); silence is bounded by timeoutMs. */
  readonly streamTimeoutMs?: number
  readonly retry?: RetryPolicy
  /** Ends every request and every wait between retries at once. */
  readonly signal?: AbortSignal
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  readonly now?: () => number
  readonly random?: () => number
  /** Told about every retry, so the log shows why the action waits. */
  readonly onRetry?: (description: string) => void
}

interface Call {
  readonly method: 'GET' | 'POST' | 'DELETE'
  readonly path: string
  readonly body?: unknown
  /** Whether a transient failure may be retried; false for calls whose repetition is not harmless. */
  readonly retry?: boolean
  /** Receives a plain-text body as it arrives (output reads). */
  readonly sink?: ChunkSink
  /** The path is from the server's root: a `/v1` ending of the base URL is not prepended. */
  readonly root?: boolean
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
/** An output read may carry hundreds of MB; it still ends in bounded time (what it missed is read again later). */
export const STREAM_TIMEOUT_FACTOR = 4

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal?.aborted) return resolve()
    const done = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** Output bodies are plain text, but one client decodes them as a JSON string: accept both (docs/qarnot-api.md §2). */
export function decodeOutputBody(response: HttpResponse): string {
  const type = response.headers['content-type'] ?? ''
  const body = response.body
  const looksLikeJsonString = body.length >= 2 && body.startsWith('"') && body.endsWith('"')
  if (type.includes('json') || (type === '' && looksLikeJsonString)) {
    try {
      const decoded: unknown = JSON.parse(body)
      if (typeof decoded === 'string') return decoded
    } catch {
      // Not JSON after all: the text is the output.
    }
  }
  return body
}

const taskPath = (uuid: string): string => `/tasks/${encodeURIComponent(uuid)}`

export class QarnotClient {
  private readonly baseUrl: string
  private readonly policy: RetryPolicy
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>
  private readonly now: () => number
  private readonly random: () => number

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.policy = options.retry ?? DEFAULT_RETRY
    this.sleep = options.sleep ?? sleepUnlessAborted
    this.now = options.now ?? Date.now
    this.random = options.random ?? Math.random
  }

  /** The same client with other limits: a shorter timeout and policy when the runner gives only seconds. */
  with(changes: Pick<ClientOptions, 'timeoutMs' | 'streamTimeoutMs' | 'retry' | 'signal'>): QarnotClient {
    return new QarnotClient({ ...this.options, ...changes })
  }

  /** `POST /tasks`; the answer must name the task. Callers make retries idempotent with a unique shortname. */
  async createTask(body: TaskCreateBody): Promise<{ uuid: string }> {
    const call: Call = { method: 'POST', path: '/tasks', body }
    const answer = await this.json(call)
    const uuid = (answer as { uuid?: unknown } | null)?.uuid
    if (typeof uuid !== 'string' || !UUID_PATTERN.test(uuid)) {
      throw new QarnotAnswerError(call.method, call.path, 'it names no task uuid')
    }
    return { uuid }
  }

  /** `GET /tasks/{uuid}`; a shortname works in place of the uuid. The answer is checked to be a task. */
  async getTask(uuidOrShortname: string): Promise<TaskOutputWire> {
    const call: Call = { method: 'GET', path: taskPath(uuidOrShortname) }
    const answer = await this.json(call)
    try {
      return readTaskDocument(answer)
    } catch (error) {
      throw new QarnotAnswerError(call.method, call.path, errorMessage(error))
    }
  }

  /**
   * The task-level output of a stream, every line prefixed `<instanceId>> `, handed to `sink` as it arrives:
   * `fresh` is what is new since the last such read (`POST`), `whole` all the server still holds (`GET`). Never
   * retried: a repeated fresh read would skip a chunk, and part of either may already have reached the sink.
   */
  readTaskOutput(
    uuid: string,
    stream: OutputStream,
    mode: 'fresh' | 'whole',
    sink: ChunkSink
  ): Promise<void> {
    const method = mode === 'fresh' ? 'POST' : 'GET'
    return this.output({ method, path: `${taskPath(uuid)}/${stream}`, retry: false, sink })
  }

  /** `GET /tasks/{uuid}/{stream}/{instanceId}`: one instance's whole output, without prefix, to `sink`. */
  readInstanceOutput(uuid: string, stream: OutputStream, instanceId: number, sink: ChunkSink): Promise<void> {
    return this.output({
      method: 'GET',
      path: `${taskPath(uuid)}/${stream}/${instanceId}`,
      retry: false,
      sink
    })
  }

  /**
   * `GET /tasks?tag=`: the tasks carrying a tag. Entries that are not task documents are skipped, so that one
   * odd entry cannot hide the others.
   */
  async listTasksWithTag(tag: string): Promise<TaskOutputWire[]> {
    const call: Call = { method: 'GET', path: `/tasks?tag=${encodeURIComponent(tag)}` }
    const answer = await this.json(call)
    if (!Array.isArray(answer))
      throw new QarnotAnswerError(call.method, call.path, 'it is not a list of tasks')
    return answer.flatMap(entry => {
      try {
        return [readTaskDocument(entry)]
      } catch {
        return []
      }
    })
  }

  /** `GET /settings`: where the cluster's storage is (`storage`, or null without storage), docs/qarnot-api.md §8. */
  async getStorageUrl(): Promise<unknown> {
    const answer = await this.json({ method: 'GET', path: '/settings' })
    return (answer as { storage?: unknown } | null)?.storage
  }

  /**
   * `GET /info`: the account's email, which is its storage access key (docs/qarnot-api.md §8), and the whole answer
   * (its storage quotas are read from it by the storage side).
   */
  async getAccount(): Promise<{ email: string; info: Record<string, unknown> }> {
    const call: Call = { method: 'GET', path: '/info' }
    const info = (await this.json(call)) as Record<string, unknown> | null
    const email = info?.email
    if (typeof email !== 'string' || email === '')
      throw new QarnotAnswerError(call.method, call.path, 'it names no email')
    return { email, info: info ?? {} }
  }

  /** `GET /credits/v1/tasks/{uuid}/credits` (a service beside the compute API, without its `/v1` prefix). */
  getTaskCredits(uuid: string): Promise<unknown> {
    return this.json({
      method: 'GET',
      path: `/credits/v1/tasks/${encodeURIComponent(uuid)}/credits`,
      root: true
    })
  }

  /** `GET /credits/v1/accounts/credits`: the credits left in the account (docs/qarnot-api.md §9), as getTaskCredits. */
  getAccountCredits(): Promise<unknown> {
    return this.json({ method: 'GET', path: '/credits/v1/accounts/credits', root: true })
  }

  /** `GET /carbon/v1/tasks/{uuid}/carbon-facts`, as getTaskCredits. */
  getTaskCarbonFacts(uuid: string): Promise<unknown> {
    return this.json({
      method: 'GET',
      path: `/carbon/v1/tasks/${encodeURIComponent(uuid)}/carbon-facts`,
      root: true
    })
  }

  /** `POST /tasks/{uuid}/abort`. A 403 means the task had already ended, which is what the caller wanted. */
  async abortTask(uuid: string): Promise<'aborted' | 'already-ended'> {
    try {
      await this.exchange({ method: 'POST', path: `${taskPath(uuid)}/abort` })
      return 'aborted'
    } catch (error) {
      if (error instanceof QarnotApiError && error.status === 403) return 'already-ended'
      throw error
    }
  }

  /**
   * `POST /tasks/{uuid}/snapshot/periodic`: Qarnot uploads the instances' files every `interval` seconds while the
   * task runs (the API may clamp the interval; 0 stops). The filters and bucket are sent, not left to defaults.
   */
  async startPeriodicSnapshot(uuid: string, body: PeriodicSnapshotBody): Promise<void> {
    await this.exchange({ method: 'POST', path: `${taskPath(uuid)}/snapshot/periodic`, body })
  }

  /** `DELETE /tasks/{uuid}`: the task record goes (its buckets stay). */
  async deleteTask(uuid: string): Promise<void> {
    await this.exchange({ method: 'DELETE', path: taskPath(uuid), retry: false })
  }

  // --- plumbing ---

  private async output(call: Call): Promise<void> {
    const response = await this.exchange(call)
    // A JSON body was not streamed: it is the output as a JSON string.
    if (response.body !== '') await call.sink?.(Buffer.from(decodeOutputBody(response), 'utf8'))
  }

  private async json(call: Call): Promise<unknown> {
    const response = await this.exchange(call)
    try {
      return JSON.parse(response.body) as unknown
    } catch {
      throw new QarnotAnswerError(call.method, call.path, 'it is not JSON')
    }
  }

  /** One call with retries: resolves with a 2xx answer, throws a typed error otherwise. */
  private async exchange(call: Call): Promise<HttpResponse> {
    const started = this.now()
    let waitedForRateLimit = 0
    for (let attempt = 1; ; attempt++) {
      const failure = await this.attempt(call)
      if (!(failure instanceof Error)) return failure
      if (failure instanceof QarnotApiError) failure.attempt = attempt
      if (call.retry === false || !this.isRetryable(failure)) throw failure
      const retryAfter =
        failure instanceof QarnotApiError ? parseRetryAfter(failure.retryAfter, this.now()) : undefined
      const delay = retryDelayMs(this.policy, attempt, this.random(), retryAfter)
      const rateLimited =
        retryAfter !== undefined && waitedForRateLimit + delay <= this.policy.rateLimitBudgetMs
      if (rateLimited) {
        // The server asked for the wait: it is not a failed attempt, and it does not eat the retry budget.
        waitedForRateLimit += delay
        attempt--
      } else {
        const elapsed = this.now() - started - waitedForRateLimit
        if (!mayRetry(this.policy, attempt, elapsed, delay)) {
          throw attempt > 1 ? new QarnotRetriesExhaustedError(failure, attempt, elapsed) : failure
        }
      }
      this.options.onRetry?.(`${failure.message}; retrying in ${(delay / 1000).toFixed(1)}s`)
      await this.sleep(delay, this.options.signal)
    }
  }

  private isRetryable(failure: Error): failure is QarnotApiError | QarnotNetworkError {
    if (failure instanceof QarnotApiError) return isTransientStatus(failure.status)
    return failure instanceof QarnotNetworkError
  }

  /** One attempt: the 2xx answer, or the error it amounts to. */
  private async attempt(call: Call): Promise<HttpResponse | Error> {
    if (this.options.signal?.aborted) throw new QarnotCancelledError(call.method, call.path)
    let response: HttpResponse
    try {
      response = await this.options.transport.exchange(this.request(call), call.sink)
    } catch (error) {
      if (this.options.signal?.aborted) throw new QarnotCancelledError(call.method, call.path)
      // A sink that stopped on purpose says why; anything else is the network.
      if (error instanceof SinkStopped) throw error
      return new QarnotNetworkError(call.method, call.path, errorMessage(error))
    }
    if (response.status >= 200 && response.status < 300) return response
    const message = errorMessageFromBody(response.body)
    return new QarnotApiError(
      call.method,
      call.path,
      response.status,
      message,
      response.headers['retry-after']
    )
  }

  private request(call: Call): HttpRequest {
    const headers: Record<string, string> = {
      Authorization: this.options.token,
      'User-Agent': this.options.userAgent,
      Accept: 'application/json, text/plain'
    }
    let body: string | undefined
    if (call.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(call.body)
    }
    const requestMs = this.options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    // An output read may carry hundreds of MB: it gets longer in all, but no longer silence, than any request.
    const timeoutMs = call.sink
      ? (this.options.streamTimeoutMs ?? STREAM_TIMEOUT_FACTOR * requestMs)
      : requestMs
    const base = call.root ? this.baseUrl.replace(/\/v\d+$/, '') : this.baseUrl
    return {
      method: call.method,
      url: `${base}${call.path}`,
      headers,
      body,
      timeoutMs,
      idleTimeoutMs: requestMs,
      signal: this.options.signal
    }
  }
}

/** Thrown by a sink to end a read on purpose (the step is being stopped); passed through as it is. */
export class SinkStopped extends Error {
  constructor(reason = 'the read was stopped') {
    super(reason)
    this.name = 'SinkStopped'
  }
}
