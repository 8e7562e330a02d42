/**
 * The conformance suite's own HTTP client of Qarnot's REST API: node's fetch, the raw token in `Authorization`
 * (docs/qarnot-api.md §1), JSON bodies. Deliberately not the action's client (src/qarnot): the suite checks the API,
 * not our client. Idempotent requests (GET, DELETE) are tried again on a network error, 429 or 5xx; nothing else is.
 * The token never appears in anything this module returns or throws.
 */

export interface ApiAnswer {
  readonly status: number
  readonly text: string
  readonly contentType: string
  /** The body parsed as JSON; throws when it is not JSON. */
  json(): unknown
}

export interface ApiOptions {
  readonly baseUrl: string
  readonly token: string
  /** Per-request timeout (default 30 s, as the SDKs use). */
  readonly timeoutMs?: number
  /** Pause before a retry of an idempotent request (default 1 s). */
  readonly retryDelayMs?: number
  /** Tries of an idempotent request in all (default 3). */
  readonly attempts?: number
}

/** The token replaced by `[token]` in any text that might carry it (error messages, bodies echoed back). */
export function redactor(token: string): (text: string) => string {
  if (token.length === 0) return text => text
  return text => text.split(token).join('[token]')
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

const IDEMPOTENT = new Set(['GET', 'DELETE', 'HEAD'])
const TRANSIENT = new Set([408, 429, 500, 502, 503, 504])

export class Api {
  readonly baseUrl: string
  private readonly token: string
  readonly redact: (text: string) => string
  /** Requests sent, retries included, for the observations. */
  requests = 0

  constructor(private readonly options: ApiOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.token = options.token
    this.redact = redactor(options.token)
  }

  /** The token as the storage's secret key (docs/qarnot-api.md §8); never printed. */
  secretKey(): string {
    return this.token
  }

  /** One call; `body` is sent as JSON when given. Throws only when no answer came (after retries). */
  async call(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
    const attempts = IDEMPOTENT.has(method) ? (this.options.attempts ?? 3) : 1
    let lastError: unknown
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await sleep(this.options.retryDelayMs ?? 1000)
      try {
        const answer = await this.once(method, path, body)
        if (TRANSIENT.has(answer.status) && attempt < attempts) continue
        return answer
      } catch (error) {
        lastError = error
      }
    }
    const reason = lastError instanceof Error ? lastError.message : String(lastError)
    throw new Error(this.redact(`${method} ${path}: no answer (${reason})`))
  }

  /** A call that must answer `expected` (default 200); throws the status and message otherwise. */
  async expect(method: string, path: string, body?: unknown, expected = 200): Promise<ApiAnswer> {
    const answer = await this.call(method, path, body)
    if (answer.status !== expected)
      throw new Error(
        this.redact(`${method} ${path}: ${answer.status} (expected ${expected}) ${answer.text.slice(0, 300)}`)
      )
    return answer
  }

  /** The JSON body of a call that must answer 200. */
  async json(method: string, path: string, body?: unknown): Promise<unknown> {
    const answer = await this.expect(method, path, body)
    try {
      return answer.json()
    } catch {
      throw new Error(`${method} ${path}: the answer is not JSON: ${this.redact(answer.text.slice(0, 200))}`)
    }
  }

  private async once(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
    this.requests++
    const headers: Record<string, string> = {
      Authorization: this.token,
      Accept: 'application/json',
      'User-Agent': 'qarnot-action-conformance'
    }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000)
    })
    const text = await response.text()
    return {
      status: response.status,
      text,
      contentType: response.headers.get('content-type') ?? '',
      json: () => JSON.parse(text) as unknown
    }
  }
}

/**
 * An output body as text: plain text as it is, or a JSON string literal decoded (the API may send either,
 * docs/qarnot-api.md §2). Says which it was.
 */
export function outputText(answer: ApiAnswer): { text: string; form: 'text' | 'json-string' } {
  const trimmed = answer.text.trim()
  if (trimmed.startsWith('"') && trimmed.endsWith('"')) {
    try {
      const value = JSON.parse(trimmed) as unknown
      if (typeof value === 'string') return { text: value, form: 'json-string' }
    } catch {
      // plain text that happens to be quoted
    }
  }
  return { text: answer.text, form: 'text' }
}
