/**
 * The HTTP exchange under the Qarnot client, behind a small interface so tests and other transports can stand in.
 * Requests go through Node's http/https with the agent of @actions/http-client, which brings the runner's proxy
 * settings (https_proxy, no_proxy) and kept-alive connections; retries are the client's.
 */
import { HttpClient } from '@actions/http-client'
import * as http from 'node:http'
import * as https from 'node:https'
import { errorMessage } from '../words.js'

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'DELETE'
  readonly url: string
  readonly headers: Record<string, string>
  /** `undefined` sends no body at all (Content-Length: 0). */
  readonly body?: string
  /** The whole exchange, body included, ends within this time: a body that drips is not let run forever. */
  readonly timeoutMs: number
  /** Silence (no byte) longer than this ends the exchange too; defaults to timeoutMs. */
  readonly idleTimeoutMs?: number
  /** Ends the exchange at once when it aborts (the step is stopped, or its deadline passed). */
  readonly signal?: AbortSignal
  /** A buffered answer larger than this is refused rather than held (no API answer this action reads needs more). */
  readonly maxBodyBytes?: number
}

export interface HttpResponse {
  readonly status: number
  /** Header names in lower case. */
  readonly headers: Record<string, string | undefined>
  readonly body: string
}

/** Receives a body chunk; a returned promise holds the next chunk back (backpressure down to the socket). */
export type ChunkSink = (chunk: Buffer) => void | Promise<void>

export interface Transport {
  /**
   * Resolves with any HTTP status; rejects when no complete answer arrived (network error, timeout, abort). With a
   * sink, a 2xx body that is not JSON goes to the sink as it arrives (`body` is then `""`), so that a large output
   * never sits whole in memory; an answer that ends early rejects, so a cut answer is never taken as whole.
   */
  exchange(request: HttpRequest, sink?: ChunkSink): Promise<HttpResponse>
  close(): void
}

/** The exchange was ended by the request's signal, not by the network. */
export class ExchangeAbortedError extends Error {
  constructor() {
    super('the request was cancelled')
    this.name = 'ExchangeAbortedError'
  }
}

/** 64 MiB: far above any task document, far below what would hurt the runner. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024

function lowerCaseHeaders(headers: http.IncomingHttpHeaders): Record<string, string | undefined> {
  const result: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(headers)) {
    result[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  return result
}

/** Reads a whole body, refusing one larger than `maxBytes`. */
async function readBody(
  response: http.IncomingMessage,
  maxBytes: number,
  touch: () => void
): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of response) {
    touch()
    size += (chunk as Buffer).length
    if (size > maxBytes) throw new Error(`the answer is larger than ${maxBytes} bytes`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

async function answer(
  response: http.IncomingMessage,
  request: HttpRequest,
  sink: ChunkSink | undefined,
  touch: () => void
): Promise<HttpResponse> {
  touch()
  const status = response.statusCode ?? 0
  const headers = lowerCaseHeaders(response.headers)
  const streamed = sink && status >= 200 && status < 300 && !(headers['content-type'] ?? '').includes('json')
  let body = ''
  if (streamed) {
    for await (const chunk of response) {
      touch()
      await sink(chunk as Buffer)
      touch() // a sink held back by a slow log is not silence from the server
    }
  } else {
    body = await readBody(response, request.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, touch)
  }
  if (!response.complete) throw new Error('the answer ended before its end')
  return { status, headers, body }
}

export class ActionsHttpTransport implements Transport {
  private readonly http: HttpClient

  constructor(userAgent: string) {
    this.http = new HttpClient(userAgent, [], { allowRetries: false, allowRedirects: false, keepAlive: true })
  }

  exchange(request: HttpRequest, sink?: ChunkSink): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      if (request.signal?.aborted) return reject(new ExchangeAbortedError())
      const url = new URL(request.url)
      const body = request.body ?? ''
      let done = false
      const finish = (error: unknown, response?: HttpResponse): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        clearTimeout(idle)
        request.signal?.removeEventListener('abort', onAbort)
        if (error !== undefined) {
          outgoing.destroy()
          reject(error instanceof Error ? error : new Error(errorMessage(error)))
        } else if (response) resolve(response)
      }
      const onAbort = (): void => finish(new ExchangeAbortedError())
      const timer = setTimeout(
        () => finish(new Error(`no complete answer within ${request.timeoutMs} ms`)),
        request.timeoutMs
      )
      // The silence timer restarts on every byte; the total timer above never does.
      const idleMs = request.idleTimeoutMs ?? request.timeoutMs
      const idle = setTimeout(() => finish(new Error(`no byte for ${idleMs} ms`)), idleMs)
      request.signal?.addEventListener('abort', onAbort, { once: true })
      const outgoing = (url.protocol === 'https:' ? https : http).request(
        url,
        {
          method: request.method,
          headers: { ...request.headers, 'Content-Length': String(Buffer.byteLength(body)) },
          agent: this.http.getAgent(request.url)
        },
        response => {
          answer(response, request, sink, () => idle.refresh()).then(
            result => finish(undefined, result),
            error => finish(error)
          )
        }
      )
      outgoing.on('error', error => finish(error))
      outgoing.end(body)
    })
  }

  close(): void {
    this.http.dispose()
  }
}
