/**
 * Issue "no task left billing, no step left hanging": each hostile answer reproduced against run() and the
 * emulator, with what the step must do instead of leaving a task running, hanging, or failing a healthy task.
 */
import { describe, expect, it } from '@jest/globals'
import { tmpdir } from 'node:os'
import type { QarnotEmulator } from '../emulator/server.js'
import { run } from '../src/main.js'
import { DEFAULT_RETRY } from '../src/qarnot/retry.js'
import { systemClock } from '../src/task/clock.js'
import { emulatorsOfThisFile } from './helpers/emulator.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'

/** Emulators of the test under way, stopped after the file (tests run side by side: each has its own). */
const start = emulatorsOfThisFile()

async function runWith(
  target: QarnotEmulator,
  inputs: Record<string, string>,
  extra: { badReadBudgetMs?: number; requestTimeoutMs?: number } = {}
): Promise<RecordingIO & { elapsedMs: number }> {
  const io = recordingIO({ token: target.token, 'api-url': target.url, ...inputs })
  const started = Date.now()
  await run({
    io,
    env: { RUNNER_TEMP: tmpdir(), GITHUB_RUN_ID: '7' },
    clock: systemClock,
    stop: new AbortController().signal,
    ...extra
  })
  return Object.assign(io, { elapsedMs: Date.now() - started })
}

const UUID = /^[0-9a-f-]{36}$/

describe('creates: never a task left behind', () => {
  it.each([
    ['an HTML page', 'text/html', '<html><body>502 Bad Gateway</body></html>'],
    ['an empty object', 'application/json', '{}'],
    ['a uuid that is not one', 'application/json', '{"uuid":"x\\n::add-mask::y"}']
  ])(
    'a create answered with %s after the task was made: the task is found by its shortname and followed',
    async (_what, contentType, body) => {
      const target = await start()
      target.faults.add({
        endpoint: 'POST /tasks',
        fault: { type: 'transform', transform: () => ({ status: 200, contentType, body }) }
      })
      const io = await runWith(target, { command: 'echo made' })
      expect(target.allTasks()).toHaveLength(1)
      expect(io.failures).toEqual([])
      expect(io.outputs['task-uuid']).toBe(target.allTasks()[0].uuid)
      expect(io.outputs['task-uuid']).toMatch(UUID)
      expect(io.log.join('\n')).toMatch(/looking for the task by its shortname/)
    }
  )

  it('a lost answer, then a shortname clash answered 403, then a look-up that lags: the one task is adopted', async () => {
    const target = await start({ quirks: { shortnameClashStatus: 403, lookupLagMs: 2500 } })
    target.faults.add({ endpoint: 'POST /tasks', fault: { type: 'lose-answer' } })
    const io = await runWith(target, { command: 'echo once' })
    expect(target.allTasks()).toHaveLength(1)
    expect(io.failures).toEqual([])
    expect(target.requestCount('POST /tasks')).toBe(2)
    expect(io.outputs.stdout).toBe('0> once\n')
  })
})

describe('status reads: one bad answer is not a reason to abort', () => {
  const change = (mutate: (doc: Record<string, unknown>) => unknown) => ({
    type: 'transform' as const,
    transform: (answer: { status: number; body: string; contentType: string }) => ({
      ...answer,
      body: JSON.stringify(mutate(JSON.parse(answer.body) as Record<string, unknown>))
    })
  })
  it.each([
    [
      'an HTML 200',
      {
        type: 'transform' as const,
        transform: () => ({ status: 200, contentType: 'text/html', body: '<html>oops</html>' })
      }
    ],
    [
      'a null body',
      {
        type: 'transform' as const,
        transform: () => ({ status: 200, contentType: 'application/json', body: 'null' })
      }
    ],
    ['a 404', { type: 'status' as const, status: 404, message: 'Task not found' }],
    ['completedInstances: [null]', change(doc => ({ ...doc, completedInstances: [null] }))]
  ])('%s in the middle of a healthy task', async (_what, fault) => {
    const target = await start()
    target.faults.add({ endpoint: 'GET /tasks/{uuid}', fault, after: 1, times: 2 })
    const io = await runWith(target, { 'instance-count': '2', command: "sh -c 'sleep 0.5; echo ok'" })
    expect(target.requestCount('POST /tasks/{uuid}/abort')).toBe(0)
    expect(io.failures).toEqual([])
    expect(io.outputs).toMatchObject({ 'qarnot-outcome': 'success', 'succeeded-count': '2' })
    expect(io.log.join('\n')).toMatch(/reading again/)
  })

  it.concurrent('a sustained run of bad answers is given up on, bounded, and the task aborted', async () => {
    const target = await start()
    target.faults.add({
      endpoint: 'GET /tasks/{uuid}',
      fault: { type: 'status', status: 404, message: 'Task not found' },
      after: 1,
      times: 10_000
    })
    const io = await runWith(target, { command: 'sleep 30' }, { badReadBudgetMs: 1500 })
    expect(io.outputs['qarnot-outcome']).toBe('failure')
    expect(io.failures[0]).toMatch(/disappeared while it was followed/)
    expect(io.failures[0]).not.toMatch(/check 'profile'/i)
    expect(target.requestCount('POST /tasks/{uuid}/abort')).toBe(1)
  })
})

describe('the timeout bounds the step, whatever the API does', () => {
  it.concurrent.each([
    ['status reads that stall', { type: 'stall' as const }],
    ['a status body that drips one byte every 20 s', { type: 'drip' as const, intervalMs: 20_000 }],
    ['Retry-After: 86400', { type: 'status' as const, status: 429, retryAfter: '86400' }],
    ['Retry-After: -5', { type: 'status' as const, status: 503, retryAfter: '-5' }]
  ])('timeout: 3s with %s ends, aborted and reported, within seconds of 3 s', async (_what, fault) => {
    const target = await start()
    target.faults.add({ endpoint: 'GET /tasks/{uuid}', fault, after: 1, times: 10_000 })
    const io = await runWith(target, { command: 'sleep 60', timeout: '3s' }, { requestTimeoutMs: 30_000 })
    expect(io.elapsedMs).toBeLessThan(3_000 + 8_000)
    expect(io.outputs['qarnot-outcome']).toBe('timed-out')
    expect(io.summary).toContain('⏱️ Qarnot task aborted after the timeout')
    expect(target.requestCount('POST /tasks/{uuid}/abort')).toBe(1)
  })

  it.concurrent(
    'a rate limit with a long Retry-After does not kill a healthy task: the wait counts against the step',
    async () => {
      const target = await start()
      target.faults.add({
        endpoint: 'GET /tasks/{uuid}',
        fault: { type: 'status', status: 429, retryAfter: '2' },
        after: 1,
        times: 3
      })
      const io = await runWith(target, { command: 'echo patient' })
      expect(io.outputs['qarnot-outcome']).toBe('success')
      expect(target.requestCount('POST /tasks/{uuid}/abort')).toBe(0)
    }
  )
})

describe('output reads that end early', () => {
  it("a fresh read cut inside a line: no instance gets another one's text, and nothing is lost", async () => {
    const target = await start()
    target.faults.add({
      endpoint: 'POST /tasks/{uuid}/stdout',
      fault: { type: 'cut', bytes: 14 },
      after: 1,
      times: 1
    })
    const io = await runWith(target, {
      'instance-count': '3',
      command: 'sh -c \'echo ok ${INSTANCE_ID}; sleep 0.3; head -c 3000 /dev/zero | tr "\\\\0" L; echo\''
    })
    for (let id = 0; id < 3; id++) {
      expect(io.outputs.stdout).toContain(`${id}> ok ${id}\n${id}> ${'L'.repeat(3000)}\n`)
    }
    expect(io.outputs.stdout).not.toMatch(/\d> [^\n]*\d> /)
  })
})

describe('text from the API stays text', () => {
  it('a followed task whose name carries workflow commands is shown on one line', async () => {
    const target = await start()
    const created = await fetch(`${target.url}/tasks`, {
      method: 'POST',
      headers: { Authorization: target.token, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'x\n::error::owned\n::add-mask::a',
        profile: 'docker-batch',
        instanceCount: 1,
        constants: [{ key: 'DOCKER_CMD', value: 'true' }]
      })
    })
    const { uuid } = (await created.json()) as { uuid: string }
    const io = await runWith(target, { task: uuid })
    expect(io.log.flatMap(l => l.split('\n')).filter(l => l.startsWith('::error::owned'))).toEqual([])
    expect(io.summary).not.toContain('\n::error::owned')
  })

  it('refuses to follow a task claiming more instances than the action follows, before any further read', async () => {
    const target = await start()
    target.faults.add({
      endpoint: 'GET /tasks/{uuid}',
      fault: {
        type: 'transform',
        transform: answer => ({
          ...answer,
          body: JSON.stringify({
            ...(JSON.parse(answer.body) as object),
            instanceCount: 50_000_000,
            advancedRanges: null
          })
        })
      }
    })
    const created = await fetch(`${target.url}/tasks`, {
      method: 'POST',
      headers: { Authorization: target.token, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'big',
        profile: 'docker-batch',
        instanceCount: 2,
        constants: [{ key: 'DOCKER_CMD', value: 'true' }]
      })
    })
    const { uuid } = (await created.json()) as { uuid: string }
    const io = await runWith(target, { task: uuid })
    expect(io.failures[0]).toMatch(/has 50000000 instances; the action follows at most 100000/)
    expect(io.summary).toContain('❌')
  })
})

it('keeps the default retry policy within a minute', () => {
  // 8 attempts; waits of 0.5, 1, 2, 4, 8, 16, 20 s at most: the README says so.
  let total = 0
  for (let attempt = 1; attempt < DEFAULT_RETRY.maxAttempts; attempt++) {
    total += Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** (attempt - 1))
  }
  expect(total).toBeLessThanOrEqual(DEFAULT_RETRY.maxTotalMs)
})
