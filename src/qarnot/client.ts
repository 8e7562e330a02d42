/**
 * The Qarnot compute API client: one method per endpoint the action uses (qarnot-api.md section 2), the raw-token
 * Authorization header, a User-Agent, a per-request timeout, typed errors and a retry policy for transient faults.
 * Nothing GitHub-specific lives here.
 */
import {
  QarnotApiError,
  QarnotNetworkError,
  QarnotRetriesExhaustedError,
  errorMessageFromBody
} from './errors.js'
import {
  DEFAULT_RETRY_POLICY,
  isTransientStatus,
  mayRetry,
  parseRetryAfter,
  retryDelayMs,
  type RetryPolicy
} from './retry.js'
import type { ChunkSink, HttpRequest, HttpResponse, Transport } from './transport.js'
import type { ProfileWire, TaskCreateBody, TaskOutputWire, UserInfoWire } from './types.js'

export type OutputStream = 'stdout' | 'stderr'

export interface ClientOptions {
  readonly baseUrl: string
  readonly token: string
  readonly userAgent: string
  readonly transport: Transport
  readonly timeoutMs?: number
  readonly retry?: RetryPolicy
  readonly sleep?: (ms: number) => Promise<void>
  readonly now?: () => number
  readonly random?: () => number
  /** Told about every retry, so the log shows why the action waits. */
  readonly onRetry?: (description: string) => void
}

interface Call {
  readonly method: 'GET' | 'POST' | 'DELETE'
  readonly path: string
  readonly body?: unknown
  /** POST without a body (abort, fresh output). */
  readonly bodyless?: boolean
  /** Whether a transient failure may be retried; false for calls whose repetition is not harmless. */
  readonly retry?: boolean
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

const defaultSleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Output bodies are plain text, but one client decodes them as a JSON string: accept both. */
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

export class QarnotClient {
  private readonly baseUrl: string
  private readonly timeoutMs: number
  private readonly policy: RetryPolicy
  private readonly sleep: (ms: number) => Promise<void>
  private readonly now: () => number
  private readonly random: () => number

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.policy = options.retry ?? DEFAULT_RETRY_POLICY
    this.sleep = options.sleep ?? defaultSleep
    this.now = options.now ?? Date.now
    this.random = options.random ?? Math.random
  }

  /** The same client with a shorter timeout and retry policy, for when the runner gives only seconds. */
  hurried(timeoutMs: number, retry: RetryPolicy): QarnotClient {
    return new QarnotClient({ ...this.options, timeoutMs, retry })
  }

  // --- tasks ---

  /** `POST /tasks`. Retried on transient faults: callers make it idempotent with a unique shortname. */
  async createTask(body: TaskCreateBody): Promise<{ uuid: string }> {
    const answer = await this.json<{ uuid?: string }>({ method: 'POST', path: '/tasks', body })
    if (!answer || typeof answer.uuid !== 'string') {
      throw new QarnotApiError('POST', '/tasks', 200, 'the answer has no task uuid')
    }
    return { uuid: answer.uuid }
  }

  /** `GET /tasks/{uuid}`; a shortname works in place of the uuid. */
  getTask(uuidOrShortname: string): Promise<TaskOutputWire> {
    return this.json<TaskOutputWire>({ method: 'GET', path: `/tasks/${encodeURIComponent(uuidOrShortname)}` })
  }

  /** `GET /tasks/{uuid}/{stream}`: the whole output, each line prefixed `<instanceId>> `. */
  async taskOutput(uuid: string, stream: OutputStream): Promise<string> {
    return decodeOutputBody(
      await this.exchange({ method: 'GET', path: `/tasks/${encodeURIComponent(uuid)}/${stream}` })
    )
  }

  /** `POST /tasks/{uuid}/{stream}`: the output that is new since the last such read. Never retried: a repeat would skip a chunk. */
  async freshTaskOutput(uuid: string, stream: OutputStream): Promise<string> {
    return decodeOutputBody(
      await this.exchange({
        method: 'POST',
        path: `/tasks/${encodeURIComponent(uuid)}/${stream}`,
        bodyless: true,
        retry: false
      })
    )
  }

  /**
   * `POST /tasks/{uuid}/{stream}`, its body handed to `onChunk` as it arrives: the way to follow large outputs
   * without holding them. Never retried. A body sent as a JSON string is decoded first.
   */
  async streamFreshTaskOutput(uuid: string, stream: OutputStream, onChunk: ChunkSink): Promise<void> {
    const call: Call = {
      method: 'POST',
      path: `/tasks/${encodeURIComponent(uuid)}/${stream}`,
      bodyless: true
    }
    let response: HttpResponse
    try {
      response = await this.options.transport.stream(this.request(call), onChunk)
    } catch (error) {
      throw new QarnotNetworkError(
        call.method,
        call.path,
        error instanceof Error ? error.message : String(error)
      )
    }
    if (response.status < 200 || response.status >= 300) {
      throw new QarnotApiError(
        call.method,
        call.path,
        response.status,
        errorMessageFromBody(response.body),
        response.headers['retry-after']
      )
    }
    if (response.body !== '') await onChunk(Buffer.from(decodeOutputBody(response), 'utf8'))
  }

  /** `GET /tasks/{uuid}/{stream}/{instanceId}`: one instance's whole output, without prefix. */
  async instanceOutput(uuid: string, stream: OutputStream, instanceId: number): Promise<string> {
    return decodeOutputBody(
      await this.exchange({
        method: 'GET',
        path: `/tasks/${encodeURIComponent(uuid)}/${stream}/${instanceId}`
      })
    )
  }

  /** `POST /tasks/{uuid}/{stream}/{instanceId}`: one instance's new output. Never retried, as above. */
  async freshInstanceOutput(uuid: string, stream: OutputStream, instanceId: number): Promise<string> {
    return decodeOutputBody(
      await this.exchange({
        method: 'POST',
        path: `/tasks/${encodeURIComponent(uuid)}/${stream}/${instanceId}`,
        bodyless: true,
        retry: false
      })
    )
  }

  /** `POST /tasks/{uuid}/abort`. A 403 means the task had already ended, which is what the caller wanted. */
  async abortTask(uuid: string): Promise<'aborted' | 'already-ended'> {
    try {
      await this.exchange({
        method: 'POST',
        path: `/tasks/${encodeURIComponent(uuid)}/abort`,
        bodyless: true
      })
      return 'aborted'
    } catch (error) {
      if (error instanceof QarnotApiError && error.status === 403) return 'already-ended'
      throw error
    }
  }

  /** `DELETE /tasks/{uuid}` (aborts first if running). */
  async deleteTask(uuid: string): Promise<void> {
    await this.exchange({ method: 'DELETE', path: `/tasks/${encodeURIComponent(uuid)}` })
  }

  // --- account ---

  listProfiles(): Promise<string[]> {
    return this.json<string[]>({ method: 'GET', path: '/profiles' })
  }

  getProfile(name: string): Promise<ProfileWire> {
    return this.json<ProfileWire>({ method: 'GET', path: `/profiles/${encodeURIComponent(name)}` })
  }

  getInfo(): Promise<UserInfoWire> {
    return this.json<UserInfoWire>({ method: 'GET', path: '/info' })
  }

  getSettings(): Promise<{ storage?: string }> {
    return this.json<{ storage?: string }>({ method: 'GET', path: '/settings' })
  }

  // --- plumbing ---

  private async json<T>(call: Call): Promise<T> {
    const response = await this.exchange(call)
    try {
      return JSON.parse(response.body) as T
    } catch {
      throw new QarnotApiError(call.method, call.path, response.status, 'the answer is not JSON')
    }
  }

  /** One call with retries: resolves with a 2xx answer, throws a typed error otherwise. */
  private async exchange(call: Call): Promise<HttpResponse> {
    const started = this.now()
    for (let attempt = 1; ; attempt++) {
      let failure: QarnotApiError | QarnotNetworkError
      try {
        const response = await this.sendOnce(call)
        if (response.status >= 200 && response.status < 300) return response
        failure = new QarnotApiError(
          call.method,
          call.path,
          response.status,
          errorMessageFromBody(response.body),
          response.headers['retry-after']
        )
        if (!isTransientStatus(response.status)) throw failure
      } catch (error) {
        if (error instanceof QarnotApiError && !isTransientStatus(error.status)) throw error
        failure =
          error instanceof QarnotApiError
            ? error
            : new QarnotNetworkError(
                call.method,
                call.path,
                error instanceof Error ? error.message : String(error)
              )
      }
      if (call.retry === false) throw failure
      const retryAfter =
        failure instanceof QarnotApiError ? parseRetryAfter(failure.retryAfter, this.now()) : undefined
      const delay = retryDelayMs(this.policy, attempt, this.random(), retryAfter)
      const elapsed = this.now() - started
      if (!mayRetry(this.policy, attempt, elapsed, delay)) {
        throw attempt > 1 ? new QarnotRetriesExhaustedError(failure, attempt, elapsed) : failure
      }
      this.options.onRetry?.(
        `${failure.message}; retrying in ${(delay / 1000).toFixed(1)}s (attempt ${attempt + 1})`
      )
      await this.sleep(delay)
    }
  }

  private sendOnce(call: Call): Promise<HttpResponse> {
    return this.options.transport.send(this.request(call))
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
    return {
      method: call.method,
      url: `${this.baseUrl}${call.path}`,
      headers,
      body: call.bodyless ? undefined : body,
      timeoutMs: this.timeoutMs
    }
  }
}
