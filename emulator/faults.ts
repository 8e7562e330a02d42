/**
 * Faults the emulator injects on demand, so the client's retry and repair paths meet real failures on a real
 * socket: error statuses (with or without Retry-After), connection resets, slow answers, answers lost after the
 * server acted, requests never answered, answers that trickle in, answers cut short, and odd-but-possible answers
 * (docs/emulator.md lists them with what each imitates).
 */

/** An answer as the emulator is about to send it: what a `transform` fault sees and returns. */
export interface FaultAnswer {
  readonly status: number
  /** The whole body as text (an output read's pieces joined). */
  readonly body: string
  /** The Content-Type header, e.g. `application/json; charset=utf-8`. */
  readonly contentType: string
  /** Further headers of the answer (a transform may add some, e.g. Retry-After). */
  readonly headers?: Readonly<Record<string, string>>
}

export type FaultKind =
  /** The request is not handled; the answer is this status (Retry-After as written: '86400', '-5', 'soon'). */
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
  /**
   * The request is read and never answered: the connection stays open until the client gives up or the emulator
   * stops. Not handled, unless `handled: true` (then the server acts first, as for lose-answer, and stays silent).
   */
  | { readonly type: 'stall'; readonly handled?: boolean }
  /**
   * The request is handled; the real answer's headers go at once, then its body one piece of `bytes` bytes
   * (default 1) every `intervalMs`, the first piece with the headers.
   */
  | { readonly type: 'drip'; readonly intervalMs: number; readonly bytes?: number }
  /** The request is handled; what `transform` returns from the real answer is sent in its place. */
  | { readonly type: 'transform'; readonly transform: (answer: FaultAnswer) => FaultAnswer }
  /**
   * The request is handled; the answer's headers (with the whole body's Content-Length) and its first `bytes`
   * bytes of body are sent, then the connection is destroyed: a read that ends early.
   */
  | { readonly type: 'cut'; readonly bytes: number }

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
