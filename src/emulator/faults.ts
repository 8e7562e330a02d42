/**
 * Faults the emulator injects on demand, so the client's retry and repair paths meet real failures on a real
 * socket: error statuses (with or without Retry-After), connection resets, slow answers, and answers lost after
 * the server acted.
 */

export type FaultKind =
  | {
      readonly type: 'status'
      readonly status: number
      readonly retryAfter?: string
      readonly message?: string
    }
  /** The connection is destroyed before the request is handled. */
  | { readonly type: 'reset' }
  /** The answer is delayed by `ms` (the request is handled after the delay). */
  | { readonly type: 'delay'; readonly ms: number }
  /** The request is handled, then the connection is destroyed instead of answering. */
  | { readonly type: 'lose-answer' }

export interface FaultRule {
  /** An endpoint key such as `POST /tasks` or `GET /tasks/{uuid}`, or `*` for every endpoint. */
  readonly endpoint: string
  readonly fault: FaultKind
  /** How many matching requests it hits (default 1). */
  readonly times?: number
  /** Matching requests let through before it starts hitting (default 0). */
  readonly after?: number
}

/** Keeps the rules and their counters; `next` says what to do with one request. */
export class FaultPlan {
  private readonly rules: { rule: FaultRule; seen: number; hit: number }[] = []

  add(...rules: FaultRule[]): void {
    for (const rule of rules) this.rules.push({ rule, seen: 0, hit: 0 })
  }

  clear(): void {
    this.rules.length = 0
  }

  next(endpoint: string): FaultKind | undefined {
    for (const entry of this.rules) {
      if (entry.rule.endpoint !== '*' && entry.rule.endpoint !== endpoint) continue
      entry.seen++
      if (entry.seen <= (entry.rule.after ?? 0)) continue
      if (entry.hit >= (entry.rule.times ?? 1)) continue
      entry.hit++
      return entry.rule.fault
    }
    return undefined
  }
}
