/**
 * Runs the scenarios against one API (side by side, each bounded and cleaned up), and renders what they found: a
 * table for people, a JSON document of observations for docs/qarnot-api.md. The token is redacted from both.
 */
import { randomBytes } from 'node:crypto'
import { ScenarioContext, type Json, type Settings } from './context.js'
import { Api } from './http.js'
import { SCENARIOS, type Scenario } from './scenarios.js'
import { SCHEMA_SOURCE } from './schema.js'

export interface ScenarioResult {
  readonly name: string
  readonly title: string
  readonly outcome: 'pass' | 'fail'
  readonly summary: string
  readonly failures: string[]
  readonly observed: Json
  readonly cleanupProblems: string[]
  readonly ms: number
}

export interface ConformanceReport {
  readonly apiUrl: string
  readonly target: 'emulator' | 'api'
  readonly profile: string
  readonly runId: string
  readonly startedAt: string
  readonly ms: number
  readonly schemas: string
  readonly passed: boolean
  readonly scenarios: ScenarioResult[]
}

export interface RunOptions {
  readonly apiUrl: string
  readonly token: string
  readonly target: 'emulator' | 'api'
  readonly settings?: Partial<Settings>
  /** Scenario names to run (default: all). */
  readonly only?: readonly string[]
  /** The bound of one whole scenario, cleanup aside (default: two task timeouts plus the cancel timeout). */
  readonly scenarioTimeoutMs?: number
  /** Retry pause of idempotent requests (default 1 s; the emulator needs less). */
  readonly retryDelayMs?: number
}

/** Timeouts for the real API: docker pulls and dispatch take minutes. */
export const API_SETTINGS = {
  pollMs: 5000,
  taskTimeoutMs: 20 * 60_000,
  cancelTimeoutMs: 5 * 60_000,
  figuresWaitMs: 60_000,
  cleanupTimeoutMs: 60_000
}

/** Timeouts for an emulator (fast timings): seconds. */
export const EMULATOR_SETTINGS = {
  pollMs: 25,
  taskTimeoutMs: 15_000,
  cancelTimeoutMs: 5_000,
  figuresWaitMs: 500,
  cleanupTimeoutMs: 10_000
}

async function runOne(
  scenario: Scenario,
  api: Api,
  settings: Settings,
  boundMs: number
): Promise<ScenarioResult> {
  const stop = new AbortController()
  const ctx = new ScenarioContext(scenario.name, api, settings, stop.signal)
  const start = Date.now()
  let timer: NodeJS.Timeout | undefined
  try {
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        stop.abort()
        reject(new Error(`scenario not done after ${boundMs} ms`))
      }, boundMs)
    })
    const work = scenario.run(ctx)
    work.catch(() => undefined)
    await Promise.race([work, bound])
  } catch (error) {
    ctx.failures.push(api.redact(error instanceof Error ? error.message : String(error)))
  } finally {
    clearTimeout(timer)
    stop.abort()
  }
  const cleanupProblems = await ctx.cleanup()
  return {
    name: scenario.name,
    title: scenario.title,
    outcome: ctx.failures.length === 0 ? 'pass' : 'fail',
    summary: api.redact(ctx.summary),
    failures: ctx.failures.map(api.redact),
    observed: JSON.parse(api.redact(JSON.stringify(ctx.observed))) as Json,
    cleanupProblems,
    ms: Date.now() - start
  }
}

export async function runConformance(options: RunOptions): Promise<ConformanceReport> {
  const defaults = options.target === 'emulator' ? EMULATOR_SETTINGS : API_SETTINGS
  const settings: Settings = {
    profile: 'docker-batch',
    runId: randomBytes(4).toString('hex'),
    ...defaults,
    ...options.settings
  }
  const api = new Api({
    baseUrl: options.apiUrl,
    token: options.token,
    retryDelayMs: options.retryDelayMs ?? (options.target === 'emulator' ? 50 : 1000)
  })
  const chosen = options.only?.length ? SCENARIOS.filter(s => options.only?.includes(s.name)) : SCENARIOS
  const unknown = (options.only ?? []).filter(name => !SCENARIOS.some(s => s.name === name))
  if (unknown.length > 0) throw new Error(`unknown scenario: ${unknown.join(', ')}`)
  const boundMs = options.scenarioTimeoutMs ?? 2 * settings.taskTimeoutMs + settings.cancelTimeoutMs
  const startedAt = new Date()
  const scenarios = await Promise.all(chosen.map(scenario => runOne(scenario, api, settings, boundMs)))
  return {
    apiUrl: options.apiUrl,
    target: options.target,
    profile: settings.profile,
    runId: settings.runId,
    startedAt: startedAt.toISOString(),
    ms: Date.now() - startedAt.getTime(),
    schemas: SCHEMA_SOURCE,
    passed: scenarios.every(s => s.outcome === 'pass'),
    scenarios
  }
}

const cell = (text: string, width: number): string =>
  text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width)

/** The human table: scenario, pass or fail, what it observed; then every failure and cleanup problem. */
export function renderTable(report: ConformanceReport): string {
  const rows = report.scenarios.map(s => [
    s.name,
    s.outcome.toUpperCase(),
    `${(s.ms / 1000).toFixed(1)} s`,
    s.summary
  ])
  const widths = [10, 6, 8, 100]
  const lines = [
    `Qarnot API conformance: ${report.target} ${report.apiUrl}, profile ${report.profile}, run ${report.runId}`,
    '',
    ['scenario', 'result', 'time', 'observed'].map((h, i) => cell(h, widths[i])).join(' | '),
    widths.map(w => '-'.repeat(w)).join('-|-'),
    ...rows.map(row => row.map((text, i) => cell(text, widths[i])).join(' | '))
  ]
  for (const s of report.scenarios) {
    for (const failure of s.failures) lines.push(`  ${s.name}: FAIL ${failure}`)
    for (const problem of s.cleanupProblems) lines.push(`  ${s.name}: cleanup ${problem}`)
  }
  const failed = report.scenarios.filter(s => s.outcome === 'fail').length
  lines.push(
    '',
    `${report.scenarios.length - failed} passed, ${failed} failed in ${(report.ms / 1000).toFixed(1)} s`
  )
  return lines.join('\n')
}
