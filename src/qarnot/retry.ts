/**
 * When and how long to wait before retrying a Qarnot request, and the named policies the action uses. Pure:
 * randomness and time come in as numbers. Transient faults are those of docs/qarnot-api.md §7.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  /** No retry starts once this much time has passed since the first attempt (waits asked by Retry-After aside). */
  readonly maxTotalMs: number
  /** A server's Retry-After above this is cut to it. */
  readonly maxRetryAfterMs: number
  /**
   * Waits a server asked for with Retry-After (a rate limit, not a failure) count neither as attempts nor toward
   * `maxTotalMs`, up to this much waiting in all; the caller's own deadline or stop signal still ends them.
   */
  readonly rateLimitBudgetMs: number
}

/** Every request of a running step: 8 attempts within a minute (waits of 0.5, 1, 2, 4, 8, 16, 20 s, jittered). */
export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  maxTotalMs: 60_000,
  maxRetryAfterMs: 5 * 60_000,
  rateLimitBudgetMs: 30 * 60_000
}

/** After a stop signal the runner gives seconds (SIGTERM 7.5 s after SIGINT): requests must fit in them. */
export const HURRIED_RETRY: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 200,
  maxDelayMs: 1_000,
  maxTotalMs: 6_000,
  maxRetryAfterMs: 1_000,
  rateLimitBudgetMs: 0
}
export const HURRIED_REQUEST_TIMEOUT_MS = 2_000

/** The post step: a little patience, never minutes. */
export const POST_STEP_RETRY: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 2_000,
  maxTotalMs: 8_000,
  maxRetryAfterMs: 3_000,
  rateLimitBudgetMs: 10_000
}
export const POST_STEP_REQUEST_TIMEOUT_MS = 15_000

/** Extras that must never hold the step (credits, carbon): one attempt, no wait. */
export const NO_RETRY: RetryPolicy = {
  maxAttempts: 1,
  baseDelayMs: 0,
  maxDelayMs: 0,
  maxTotalMs: 0,
  maxRetryAfterMs: 0,
  rateLimitBudgetMs: 0
}

const TRANSIENT_STATUSES = new Set([408, 429, 500, 502, 503, 504])

/** 408, 429 and 5xx gateway/server errors are transient; 401 and every other 4xx are final. */
export function isTransientStatus(status: number): boolean {
  return TRANSIENT_STATUSES.has(status)
}

/**
 * Milliseconds from a Retry-After header: delay-seconds (a non-negative number) or an HTTP date. Anything else
 * (absent, negative, unreadable) is undefined, so the usual backoff applies.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  const text = value?.trim() ?? ''
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000)
  // An HTTP date names a weekday or month; a bare "-5" must not parse as the year -5.
  if (!/[a-z]{3}/i.test(text)) return undefined
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs)
}

/**
 * The wait before attempt `attempt + 1` (attempt counts from 1): exponential backoff with jitter in [50%, 100%]
 * of the step, or the server's Retry-After clamped to [baseDelayMs, maxRetryAfterMs].
 */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  random: number,
  retryAfterMs: number | undefined
): number {
  if (retryAfterMs !== undefined) {
    return Math.min(Math.max(retryAfterMs, policy.baseDelayMs), policy.maxRetryAfterMs)
  }
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  return Math.round(step * (0.5 + random / 2))
}

/** Whether another attempt may start after waiting `delayMs`, given the attempts and time already spent. */
export function mayRetry(policy: RetryPolicy, attempt: number, elapsedMs: number, delayMs: number): boolean {
  return attempt < policy.maxAttempts && elapsedMs + delayMs <= policy.maxTotalMs
}
