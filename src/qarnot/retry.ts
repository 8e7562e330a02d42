/** When and how long to wait before retrying a Qarnot request. Pure: randomness and time come in as numbers. */

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  /** No retry starts once this much time has passed since the first attempt. */
  readonly maxTotalMs: number
  /** A server's Retry-After above this is capped to it. */
  readonly maxRetryAfterMs: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  maxTotalMs: 120_000,
  maxRetryAfterMs: 60_000
}

const TRANSIENT_STATUSES = new Set([408, 429, 500, 502, 503, 504])

/** 408, 429 and 5xx gateway/server errors are transient; 401 and every other 4xx are final. */
export function isTransientStatus(status: number): boolean {
  return TRANSIENT_STATUSES.has(status)
}

/** Milliseconds from a Retry-After header (seconds or an HTTP date), or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const text = value.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000)
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs)
}

/**
 * The wait before attempt `attempt + 1` (attempt counts from 1): exponential backoff with jitter in [50%, 100%]
 * of the step, or the server's Retry-After (capped) when it gave one.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  random: number,
  retryAfterMs: number | undefined
): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs)
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  return Math.round(step * (0.5 + random / 2))
}

/** Whether another attempt may start after waiting `delayMs`, given the time already spent. */
export function mayRetry(policy: RetryPolicy, attempt: number, elapsedMs: number, delayMs: number): boolean {
  return attempt < policy.maxAttempts && elapsedMs + delayMs <= policy.maxTotalMs
}
