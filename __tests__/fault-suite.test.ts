/**
 * The fault suite: a seeded, reproducible run of 1,000 actions (main, then post as the runner runs it) against the
 * emulator, across fault mixes (statuses, resets, slow, stalled and dripping answers, malformed 200s, 404 bursts,
 * Retry-After extremes, lost and cut answers, lagging look-ups, outages, signals in the first 200 ms) and task
 * outcomes. Every run must give the right verdict, create at most one task (exactly one unless it was cancelled,
 * or timed out, before it existed), leave no task running, and end within its bound.
 * FAULT_SEED=<n> replays another sequence; FAULT_RUNS=<n> runs another number.
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import type { FaultRule } from '../emulator/faults.js'
import { startEmulator, type EmulatorQuirks } from '../emulator/server.js'
import { run } from '../src/main.js'
import { post } from '../src/post.js'
import { formatIds } from '../src/ranges.js'
import { systemClock } from '../src/task/clock.js'
import { FAST_TIMINGS } from './helpers/emulator.js'
import { recordingIO } from './helpers/recording-io.js'

const SEED = Number(process.env.FAULT_SEED ?? 20261124)
const RUNS = Number(process.env.FAULT_RUNS ?? 1000)
/** The runner's grace after a cancel: SIGTERM at 7.5 s, kill at 10 s. */
const GRACE_MS = 10_000

/** mulberry32: small, seeded, good enough to pick cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Expected = 'success' | 'failure' | 'cancel' | 'timeout'
const OUTCOMES: Expected[] = ['success', 'failure', 'cancel', 'timeout']
const MIXES = [
  'none',
  '5xx',
  '429',
  'reset',
  'slow',
  'lost-create',
  'lost-output',
  'outage',
  'mixed',
  'stall',
  'drip',
  'malformed',
  '404-burst',
  'retry-after',
  'cut',
  'lagging-lookup',
  'early-signal'
] as const
type Mix = (typeof MIXES)[number]

interface Case {
  index: number
  expected: Expected
  mix: Mix
  instances: number
  faults: FaultRule[]
  quirks?: EmulatorQuirks
  outageAtMs?: number
  cancelAtMs?: number
}

/** A status answer replaced by something that is not a task document. */
const MALFORMED: ((body: string) => { status: number; body: string; contentType: string })[] = [
  () => ({ status: 200, contentType: 'text/html', body: '<html><body>Bad gateway</body></html>' }),
  () => ({ status: 200, contentType: 'application/json', body: 'null' }),
  () => ({ status: 200, contentType: 'application/json', body: '{}' }),
  body => ({
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify({ ...(JSON.parse(body) as object), completedInstances: [null] })
  })
]

const ENDPOINTS = [
  'POST /tasks',
  'GET /tasks/{uuid}',
  'POST /tasks/{uuid}/stdout',
  'POST /tasks/{uuid}/stderr'
]

function faultsFor(mix: Mix, random: () => number): { faults: FaultRule[]; outage: boolean } {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]
  const times = 1 + Math.floor(random() * 3)
  const after = Math.floor(random() * 3)
  switch (mix) {
    case 'none':
      return { faults: [], outage: false }
    case '5xx':
      return {
        faults: [
          {
            endpoint: pick(ENDPOINTS),
            fault: { type: 'status', status: pick([500, 502, 503, 504]) },
            times,
            after
          }
        ],
        outage: false
      }
    case '429':
      return {
        faults: [
          {
            endpoint: pick(ENDPOINTS),
            fault: { type: 'status', status: 429, ...(random() < 0.5 ? { retryAfter: '1' } : {}) },
            times,
            after
          }
        ],
        outage: false
      }
    case 'reset':
      return {
        faults: [{ endpoint: pick(ENDPOINTS), fault: { type: 'reset' }, times, after }],
        outage: false
      }
    case 'slow':
      return {
        faults: [{ endpoint: pick(ENDPOINTS), fault: { type: 'delay', ms: 2500 }, times: 1, after }],
        outage: false
      }
    case 'lost-create':
      return { faults: [{ endpoint: 'POST /tasks', fault: { type: 'lose-answer' } }], outage: false }
    case 'lost-output':
      return {
        faults: [{ endpoint: pick(ENDPOINTS.slice(2)), fault: { type: 'lose-answer' }, times, after }],
        outage: false
      }
    case 'outage':
      return { faults: [], outage: true }
    case 'stall':
      return {
        faults: [
          { endpoint: pick(ENDPOINTS.slice(1)), fault: { type: 'stall' }, times: 1, after: after + 1 }
        ],
        outage: false
      }
    case 'drip':
      return {
        faults: [
          {
            endpoint: pick(ENDPOINTS.slice(1)),
            fault: { type: 'drip', intervalMs: 700 },
            times: 1,
            after: after + 1
          }
        ],
        outage: false
      }
    case 'malformed': {
      const replace = pick(MALFORMED)
      return {
        faults: [
          {
            endpoint: 'GET /tasks/{uuid}',
            fault: { type: 'transform', transform: answer => replace(answer.body) },
            times,
            after: after + 1
          }
        ],
        outage: false
      }
    }
    case '404-burst':
      return {
        faults: [
          {
            endpoint: 'GET /tasks/{uuid}',
            fault: { type: 'status', status: 404, message: 'Task not found' },
            times,
            after: after + 1
          }
        ],
        outage: false
      }
    case 'retry-after':
      return {
        faults: [
          {
            endpoint: pick(ENDPOINTS),
            fault: {
              type: 'status',
              status: pick([429, 503]),
              retryAfter: pick(['86400', '-5', '0', 'soon', new Date(Date.now() + 500).toUTCString()])
            },
            times,
            after
          }
        ],
        outage: false
      }
    case 'cut':
      return {
        faults: [
          {
            endpoint: pick(ENDPOINTS.slice(2)),
            fault: { type: 'cut', bytes: 1 + Math.floor(random() * 20) },
            times: 1,
            after: after + 1
          }
        ],
        outage: false
      }
    case 'lagging-lookup':
    case 'early-signal':
      return {
        faults: mix === 'lagging-lookup' ? [{ endpoint: 'POST /tasks', fault: { type: 'lose-answer' } }] : [],
        outage: false
      }
    case 'mixed':
      return {
        faults: [
          { endpoint: 'POST /tasks', fault: { type: 'lose-answer' } },
          { endpoint: 'GET /tasks/{uuid}', fault: { type: 'status', status: 503 }, times, after },
          { endpoint: 'POST /tasks/{uuid}/stdout', fault: { type: 'reset' }, times: 1, after },
          { endpoint: '*', fault: { type: 'status', status: 429, retryAfter: '1' }, times: 1, after: 5 }
        ],
        outage: random() < 0.5
      }
  }
}

function makeCases(): Case[] {
  const random = prng(SEED)
  return Array.from({ length: RUNS }, (_, index) => {
    const expected = OUTCOMES[index % OUTCOMES.length]
    const mix = MIXES[Math.floor(random() * MIXES.length)]
    const { faults, outage } = faultsFor(mix, random)
    const early = mix === 'early-signal'
    return {
      index,
      expected,
      mix,
      instances: 2 + Math.floor(random() * 4),
      faults,
      quirks:
        mix === 'lagging-lookup'
          ? {
              lookupLagMs: 500 + Math.floor(random() * 2000),
              shortnameClashStatus: random() < 0.5 ? 400 : 403
            }
          : undefined,
      outageAtMs: outage ? 100 + Math.floor(random() * 800) : undefined,
      cancelAtMs:
        expected === 'cancel'
          ? early
            ? Math.floor(random() * 200)
            : 300 + Math.floor(random() * 1200)
          : undefined
    }
  })
}

const COMMANDS: Record<Expected, string> = {
  success: "sh -c 'echo line of ${INSTANCE_ID}; sleep 0.3; echo end of ${INSTANCE_ID}'",
  failure: "sh -c 'echo line of ${INSTANCE_ID}; exit $((INSTANCE_ID % 2))'",
  cancel: 'sleep 30',
  timeout: 'sleep 30'
}
const OUTCOME_OUTPUT: Record<Expected, string> = {
  success: 'success',
  failure: 'failure',
  cancel: 'cancelled',
  timeout: 'timed-out'
}

const tally = new Map<string, { runs: number; ok: number }>()
const counts = {
  runs: 0,
  passed: 0,
  tasksCreated: 0,
  leftRunning: 0,
  duplicates: 0,
  pastBound: 0,
  retriesLogged: 0,
  repairs: 0,
  slowest: 0
}

describe(`fault suite (seed ${SEED})`, () => {
  afterAll(() => {
    const lines = [...tally]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, { runs, ok }]) => `  ${key.padEnd(26)} ${ok}/${runs}`)
    console.log(
      [
        `Fault suite, seed ${SEED}: ${counts.passed}/${counts.runs} runs right; ${counts.tasksCreated} tasks created for ${counts.runs} runs, ${counts.duplicates} duplicates; ${counts.leftRunning} left running; ${counts.pastBound} past their bound; ${counts.retriesLogged} retries and ${counts.repairs} output repairs logged; slowest run ${(counts.slowest / 1000).toFixed(1)} s`,
        ...lines
      ].join('\n')
    )
  })

  it.concurrent.each(makeCases().map(c => [`#${c.index} ${c.expected} with ${c.mix}`, c] as const))(
    '%s',
    async (_, c) => {
      const emulator = await startEmulator({
        timings: FAST_TIMINGS,
        faults: c.faults,
        quirks: c.quirks,
        storage: false
      })
      const timers: NodeJS.Timeout[] = []
      // Counted before anything can fail, so that the table shows failed runs too.
      const key = `${c.expected}/${c.mix}`
      const entry = tally.get(key) ?? { runs: 0, ok: 0 }
      tally.set(key, { runs: entry.runs + 1, ok: entry.ok })
      counts.runs++
      try {
        const stop = new AbortController()
        if (c.cancelAtMs !== undefined) timers.push(setTimeout(() => stop.abort(), c.cancelAtMs))
        if (c.outageAtMs !== undefined) timers.push(setTimeout(() => emulator.outage(1500), c.outageAtMs))
        const io = recordingIO({
          token: emulator.token,
          'api-url': emulator.url,
          'instance-count': String(c.instances),
          command: COMMANDS[c.expected],
          name: `fault-run-${c.index}`,
          ...(c.expected === 'timeout' ? { timeout: '2s' } : {})
        })
        const started = Date.now()
        await run({
          io,
          env: { RUNNER_TEMP: tmpdir() },
          clock: systemClock,
          stop: stop.signal,
          requestTimeoutMs: 2000,
          retry: {
            maxAttempts: 12,
            baseDelayMs: 50,
            maxDelayMs: 500,
            maxTotalMs: 20_000,
            maxRetryAfterMs: 1500,
            rateLimitBudgetMs: 5000
          },
          badReadBudgetMs: 10_000
        })
        const elapsed = Date.now() - started
        // Then the post step, as the runner runs it after main (it acts only if main did not see the task end).
        const postIO = recordingIO({ token: emulator.token, 'api-url': emulator.url }, io.state)
        await post({ io: postIO, env: {} })
        // What a failed run did, for whoever reads the failure (set FAULT_LOGS to a folder).
        if (process.env.FAULT_LOGS) {
          const dump = [
            ...io.log,
            '--- post ---',
            ...postIO.log,
            '--- tasks ---',
            JSON.stringify(emulator.allTasks().map(t => [t.uuid, t.state]))
          ]
          writeFileSync(
            `${process.env.FAULT_LOGS}/run-${c.index}.log`,
            dump.filter(l => !l.startsWith('::debug')).join('\n')
          )
        }
        const tasks = emulator.allTasks()
        const log = io.log.join('\n')
        counts.tasksCreated += tasks.length
        counts.duplicates += Math.max(0, tasks.length - 1)
        counts.retriesLogged += (log.match(/retrying in/g) ?? []).length
        counts.repairs += (log.match(/completed from a whole read|read again, per instance/g) ?? []).length
        counts.slowest = Math.max(counts.slowest, elapsed)
        const leftRunning = tasks.filter(t => !t.isFinal && t.state !== 'PendingCancel').length
        counts.leftRunning += leftRunning
        const limit =
          (c.expected === 'timeout' ? 2000 : c.expected === 'cancel' ? (c.cancelAtMs ?? 0) : 20_000) +
          GRACE_MS
        if (elapsed >= limit) counts.pastBound++

        // A cancel or the timeout during the create stops its retries: then no task at all is the right answer.
        if (c.expected === 'cancel' || c.expected === 'timeout') expect(tasks.length).toBeLessThanOrEqual(1)
        else expect(tasks).toHaveLength(1)
        expect(leftRunning).toBe(0)
        expect({ outcome: io.outputs['qarnot-outcome'], failures: io.failures }).toMatchObject({
          outcome: OUTCOME_OUTPUT[c.expected]
        })
        expect(io.failures).toHaveLength(c.expected === 'success' ? 0 : 1)
        expect(elapsed).toBeLessThan(limit)
        if (c.expected === 'failure') {
          const odd = Array.from({ length: c.instances }, (_, i) => i).filter(i => i % 2 === 1)
          expect(io.outputs['failed-instances']).toBe(formatIds(odd))
        }
        if (c.expected === 'success') {
          // Output survives lost and failed reads: every line of every instance is there.
          for (let id = 0; id < c.instances; id++) {
            expect(io.outputs.stdout).toContain(`${id}> line of ${id}\n${id}> end of ${id}\n`)
          }
        }
        const done = tally.get(key) ?? { runs: 1, ok: 0 }
        tally.set(key, { runs: done.runs, ok: done.ok + 1 })
        counts.passed++
      } finally {
        for (const timer of timers) clearTimeout(timer)
        await emulator.stop()
      }
    }
  )
})
