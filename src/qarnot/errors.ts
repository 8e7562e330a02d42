/** Errors of the Qarnot client, and reading a message out of whichever error body shape the server sent. */

/** The server answered with a non-success status. */
export class QarnotApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly apiMessage: string,
    readonly retryAfter: string | undefined = undefined
  ) {
    super(`Qarnot API ${method} ${path} answered ${status}${apiMessage ? `: ${apiMessage}` : ''}`)
    this.name = 'QarnotApiError'
  }

  /** Which attempt of the call got this answer: after a retry, a refusal may be about the first attempt's work. */
  attempt = 1
}

/** No answer: connection refused or reset, DNS failure, or the per-request timeout expired. */
export class QarnotNetworkError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly causeMessage: string
  ) {
    super(`Qarnot API ${method} ${path} did not answer: ${causeMessage}`)
    this.name = 'QarnotNetworkError'
  }
}

/** A success status whose body is not what the endpoint answers (an HTML page, `{}`, `null`, a wrong type). */
export class QarnotAnswerError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly problem: string
  ) {
    super(`Qarnot API ${method} ${path} gave an unreadable answer: ${problem}`)
    this.name = 'QarnotAnswerError'
  }
}

/** The caller ended the request: the step is being stopped, or its deadline passed. Never retried. */
export class QarnotCancelledError extends Error {
  constructor(
    readonly method: string,
    readonly path: string
  ) {
    super(`Qarnot API ${method} ${path} was cancelled`)
    this.name = 'QarnotCancelledError'
  }
}

/** Retries ran out; `lastError` is the final attempt's error. */
export class QarnotRetriesExhaustedError extends Error {
  constructor(
    readonly lastError: QarnotApiError | QarnotNetworkError,
    readonly attempts: number,
    readonly elapsedMs: number
  ) {
    super(`${lastError.message} (gave up after ${attempts} attempts over ${Math.round(elapsedMs / 1000)}s)`)
    this.name = 'QarnotRetriesExhaustedError'
  }
}

function asText(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined
}

/**
 * The message of an error body: `{"message"}`, `{"error": "..."}`, `{"error": {"message"}}`, RFC 7807 problem JSON
 * (`title` plus the `errors` map), or plain text. Returns `""` for an empty body.
 */
export function errorMessageFromBody(body: string): string {
  const text = body.trim()
  if (text === '') return ''
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return text.length > 500 ? `${text.slice(0, 500)}...` : text
  }
  if (typeof parsed === 'string') return parsed
  if (parsed === null || typeof parsed !== 'object') return text
  const object = parsed as Record<string, unknown>
  const nested = object.error
  const message =
    asText(object.message) ??
    asText(nested) ??
    (nested && typeof nested === 'object'
      ? asText((nested as Record<string, unknown>).message)
      : undefined) ??
    asText(object.title) ??
    asText(object.detail)
  const fieldErrors =
    object.errors && typeof object.errors === 'object' && !Array.isArray(object.errors)
      ? Object.entries(object.errors as Record<string, unknown>)
          .map(
            ([field, messages]) =>
              `${field}: ${Array.isArray(messages) ? messages.join(' ') : String(messages)}`
          )
          .join('; ')
      : ''
  if (message && fieldErrors) return `${message} (${fieldErrors})`
  return message ?? (fieldErrors || text)
}

/** The error behind retries, if they ran out. */
export function rootError(error: unknown): unknown {
  return error instanceof QarnotRetriesExhaustedError ? error.lastError : error
}

/** The invalid field tags of a 400 `Invalid task file. Invalid fields: a, b`. */
export function invalidFields(message: string): string[] {
  const match = /Invalid fields:\s*(.*)$/i.exec(message)
  if (!match) return []
  return match[1]
    .split(/[,\s]+/)
    .map(field => field.replace(/\.$/, '').trim())
    .filter(Boolean)
}

/** Words of a refusal for lack of credits, whatever its status (docs/qarnot-api.md §3: `402 Not enough credits`). */
const NOT_ENOUGH_CREDITS = /\b(not enough|insufficient|no more|out of) credits?\b/i

/**
 * Why a create was refused for money or hardware: a 402 is "not enough credits" unless its message speaks of
 * hardware constraints (the Python SDK's `task.py` tells them apart by those words); any refusal that says "not
 * enough credits" is about credits. Undefined for anything else.
 */
export function paymentRefusal(error: unknown): 'credits' | 'hardware' | undefined {
  const root = rootError(error)
  if (!(root instanceof QarnotApiError)) return undefined
  if (root.status === 402 && /hardware constraint/i.test(root.apiMessage)) return 'hardware'
  if (root.status === 402 || (root.status >= 400 && NOT_ENOUGH_CREDITS.test(root.apiMessage)))
    return 'credits'
  return undefined
}
