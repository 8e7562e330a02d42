/** The HTTP exchange under the Qarnot client, behind a small interface so tests and other transports can stand in. */
import { HttpClient } from '@actions/http-client'

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'DELETE'
  readonly url: string
  readonly headers: Record<string, string>
  /** `undefined` sends no body at all (Content-Length: 0). */
  readonly body?: string
  readonly timeoutMs: number
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
  /** Resolves with any HTTP status; rejects only when no complete answer arrived (network error, timeout). */
  send(request: HttpRequest): Promise<HttpResponse>
  /**
   * Like send, but a 2xx plain-text body goes to `onChunk` as it arrives (its `body` is then `""`), so a large
   * output never sits whole in memory. Rejects when the body ends early, so a cut answer is never taken as whole.
   */
  stream(request: HttpRequest, onChunk: ChunkSink): Promise<HttpResponse>
  close(): void
}

/**
 * Transport over @actions/http-client, which brings the runner's proxy settings (https_proxy, no_proxy).
 * Its own retries are off: the client owns the retry policy. The timeout covers the whole exchange, body included.
 */
export class ActionsHttpTransport implements Transport {
  private readonly http: HttpClient

  constructor(userAgent: string, timeoutMs: number) {
    this.http = new HttpClient(userAgent, [], {
      allowRetries: false,
      allowRedirects: false,
      keepAlive: true,
      socketTimeout: timeoutMs
    })
  }

  send(request: HttpRequest): Promise<HttpResponse> {
    return this.exchange(request, undefined)
  }

  stream(request: HttpRequest, onChunk: ChunkSink): Promise<HttpResponse> {
    return this.exchange(request, onChunk)
  }

  private async exchange(request: HttpRequest, onChunk: ChunkSink | undefined): Promise<HttpResponse> {
    let timer: NodeJS.Timeout | undefined
    let destroy: (() => void) | undefined
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        destroy?.()
        reject(new Error(`no complete answer within ${request.timeoutMs} ms`))
      }, request.timeoutMs)
    })
    const exchange = (async () => {
      const response = await this.http.request(
        request.method,
        request.url,
        request.body ?? '',
        request.headers
      )
      const message = response.message
      destroy = () => message.destroy()
      const headers: Record<string, string | undefined> = {}
      for (const [name, value] of Object.entries(message.headers)) {
        headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
      }
      const status = message.statusCode ?? 0
      const plainSuccess = status >= 200 && status < 300 && !(headers['content-type'] ?? '').includes('json')
      if (onChunk && plainSuccess) {
        for await (const chunk of message) {
          await onChunk(chunk as Buffer)
          // A steady flow of data is not a timeout: the limit is on silence.
          if (timer) timer.refresh()
        }
        if (!message.complete) throw new Error('the answer ended before its end')
        return { status, headers, body: '' }
      }
      const body = await response.readBody()
      if (!message.complete) throw new Error('the answer ended before its end')
      return { status, headers, body }
    })()
    try {
      return await Promise.race([exchange, expired])
    } finally {
      clearTimeout(timer)
      exchange.catch(() => undefined)
    }
  }

  close(): void {
    this.http.dispose()
  }
}
