/**
 * `max-credits` against the emulator (real HTTP): the estimate before the create (from this step's earlier tasks
 * and the account), the cap kept while the task runs (aborted, nothing left running), a create refused for lack of
 * credits explained as such, and the emulator's charging.
 */
import { describe, expect, it } from '@jest/globals'
import { tmpdir } from 'node:os'
import type { EmulatorOptions, QarnotEmulator } from '../emulator/server.js'
import type { FaultAnswer, FaultKind } from '../emulator/faults.js'
import { run } from '../src/main.js'
import { post } from '../src/post.js'
import { systemClock } from '../src/task/clock.js'
import { explainError } from '../src/errors-explained.js'
import { QarnotApiError } from '../src/qarnot/errors.js'
import { medianPerInstance, refuseToStart, passedCap } from '../src/budget/cap.js'
import { readMaxCredits } from '../src/inputs/budget.js'
import { call, emulatorsOfThisFile, helloBody, waitForState } from './helpers/emulator.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'

const startEmulator = emulatorsOfThisFile()

function env(attempt: number, runId = '777'): NodeJS.ProcessEnv {
  return {
    RUNNER_TEMP: tmpdir(),
    GITHUB_REPOSITORY: 'octo-org/render',
    GITHUB_WORKFLOW: 'nightly',
    GITHUB_RUN_ID: runId,
    GITHUB_RUN_ATTEMPT: String(attempt),
    GITHUB_JOB: 'frames',
    GITHUB_ACTION: 'qarnot'
  }
}

async function runOn(
  emulator: QarnotEmulator,
  inputs: Record<string, string>,
  options: { attempt?: number; runId?: string; state?: Record<string, string>; creditsReadMs?: number } = {}
): Promise<RecordingIO> {
  const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, ...inputs }, options.state)
  await run({
    io,
    env: env(options.attempt ?? 1, options.runId),
    clock: systemClock,
    stop: new AbortController().signal,
    creditsReadMs: options.creditsReadMs ?? 100
  })
  return io
}

async function postOn(emulator: QarnotEmulator, io: RecordingIO): Promise<RecordingIO> {
  const after = recordingIO({ token: emulator.token, 'api-url': emulator.url }, io.state)
  await post({ io: after, env: {} })
  return after
}

/** An emulator whose tasks cost 1 credit per core-second (one core per instance). */
const dear = (options: EmulatorOptions = {}) =>
  startEmulator({ ...options, credits: { perCoreSecond: 1, ...options.credits } })

describe('max-credits while the task runs', () => {
  it('aborts a task passing its cap: outcome over-budget, the task Cancelled on the emulator, nothing left running', async () => {
    const emulator = await dear()
    const started = Date.now()
    const io = await runOn(emulator, { 'instance-count': '2', command: 'sleep 30', 'max-credits': '1.5' })
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(io.outputs['qarnot-outcome']).toBe('over-budget')
    expect(io.failures).toHaveLength(1)
    expect(io.failures[0]).toMatch(
      /^Qarnot task \S+ was aborted when its credits \([\d.]+\) passed max-credits \(1\.5\) \(state Cancelled\)\.$/
    )
    expect(io.log.join('\n')).toMatch(
      /::warning::The task's credits \([\d.]+\) passed max-credits \(1\.5\): aborting task/
    )
    const [task] = emulator.allTasks()
    expect(task.state).toBe('Cancelled')
    expect(emulator.requestCount('POST /tasks/{uuid}/abort')).toBe(1)
    // What it spent is read after the end, above the cap by what it spent between two reads.
    const spent = Number(io.outputs.credits)
    expect(spent).toBeGreaterThan(1.5)
    expect(spent).toBeLessThan(10)
    expect(io.summary).toContain('💸 Qarnot task aborted: its credits passed max-credits')
    expect(io.summary).toMatch(/\*\*Budget\*\* spent [\d.]+ of cap 1\.5 credits ⚠️ over budget/)
    // Seen Cancelled: the post step has nothing to do, and says so without a request.
    expect(io.state).toMatchObject({ taskEnded: 'true', mustAbort: 'true' })
    emulator.resetCounters()
    const after = await postOn(emulator, io)
    expect(after.log.join('\n')).toMatch(/followed to its end by the main step/)
    expect(emulator.requestCount()).toBe(0)
  })

  it('when the abort cannot be sent, the post step aborts the task (abort-on-cancel: false does not stop it)', async () => {
    const emulator = await dear({
      faults: [{ endpoint: 'POST /tasks/{uuid}/abort', fault: { type: 'status', status: 500 }, times: 1000 }]
    })
    const io = await runOn(emulator, {
      'instance-count': '1',
      command: 'sleep 60',
      'max-credits': '0.5',
      'abort-on-cancel': 'false'
    })
    expect(io.outputs['qarnot-outcome']).toBe('over-budget')
    expect(io.failures[0]).toMatch(/was asked to abort \(the post step checks it again\)/)
    const [task] = emulator.allTasks()
    expect(task.isFinal).toBe(false)
    expect(io.state.mustAbort).toBe('true')
    expect(io.state.taskEnded).toBeUndefined()
    emulator.faults.clear()
    const after = await postOn(emulator, io)
    expect(after.log.join('\n')).toMatch(/it has been aborted/)
    await waitForState(emulator, task.uuid, ['Cancelled'])
  })

  it('a task that stays under its cap succeeds, and the summary shows what it spent of the cap', async () => {
    const emulator = await dear()
    const io = await runOn(emulator, { 'instance-count': '2', command: 'sleep 0.3', 'max-credits': '50' })
    expect(io.failures).toEqual([])
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(io.summary).toMatch(/\*\*Budget\*\* spent 0\.\d+ of cap 50 credits · estimate unknown/)
    expect(io.log.join('\n')).toMatch(
      /max-credits: 50; estimated cost unknown .*the account has 1000 credits left/
    )
  })

  it('credits the service does not give while the task runs (404) are warned about once; the task runs on', async () => {
    const emulator = await dear({ quirks: { creditsAnswer: { lagMs: 300 } } })
    const io = await runOn(
      emulator,
      { 'instance-count': '1', command: 'sleep 4', 'max-credits': '0.1' },
      { creditsReadMs: 100 }
    )
    const warnings = io.log.filter(line => /max-credits cannot be kept/.test(line))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/not known yet \(404\)/)
    // It ended before the cap could be seen passed: a success, with what it spent read after the end.
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(io.summary).toMatch(/spent 4\.\d+ of cap 0\.1 credits ⚠️ over budget/)
    expect(io.summary).toMatch(
      /The task spent 4\.\d+ credits, over max-credits \(0\.1\): its credits could not be read in time/
    )
  })
})

describe('max-credits after a hand-off', () => {
  it('the cap travels with the task: a later step that follows it (task:) aborts it past the cap', async () => {
    const emulator = await dear()
    const first = await runOn(emulator, {
      command: 'sleep 30',
      'max-credits': '4',
      'hand-off-after': '1s'
    })
    expect(first.outputs['qarnot-outcome']).toBe('handed-off')
    const uuid = first.outputs['task-uuid']
    expect(emulator.allTasks()[0].body.labels?.['github-max-credits']).toBe('4')
    const collector = await runOn(emulator, { task: uuid }, { runId: '900' })
    expect(collector.outputs['qarnot-outcome']).toBe('over-budget')
    expect(emulator.allTasks()[0].state).toBe('Cancelled')
    expect(collector.summary).toMatch(/spent [\d.]+ of cap 4 credits/)
  }, 30_000)
})

describe('max-credits against a credits service that stalls or lies', () => {
  it('a read that stalls is given up after a few seconds; the next one still keeps the cap', async () => {
    const emulator = await dear({
      faults: [{ endpoint: 'GET /credits/v1/tasks/{uuid}/credits', fault: { type: 'stall' } }]
    })
    const started = Date.now()
    const io = await runOn(emulator, { 'instance-count': '1', command: 'sleep 60', 'max-credits': '2' })
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(io.outputs['qarnot-outcome']).toBe('over-budget')
    expect(emulator.allTasks()[0].state).toBe('Cancelled')
  })

  it('a figure that goes down (a lagging replica) does not undo a higher one', async () => {
    let reads = 0
    const emulator = await dear({
      faults: [
        {
          endpoint: 'GET /credits/v1/tasks/{uuid}/credits',
          times: 1000,
          // 5, then 0 forever: the cap of 3 was passed by the first answer.
          fault: {
            type: 'transform',
            transform: a => ({ ...a, body: JSON.stringify({ credits: reads++ === 0 ? 5 : 0 }) })
          }
        }
      ]
    })
    const io = await runOn(emulator, { 'instance-count': '1', command: 'sleep 60', 'max-credits': '3' })
    expect(io.outputs['qarnot-outcome']).toBe('over-budget')
    expect(io.failures[0]).toMatch(/when its credits \(5\) passed max-credits \(3\)/)
  })
})

describe('max-credits before the create', () => {
  const failing = { 'instance-count': '4', command: "sh -c 'sleep 0.5; exit 1'" }

  it('refuses a re-run whose estimate is over the cap, with the figures, before any create', async () => {
    const emulator = await dear()
    const first = await runOn(emulator, failing)
    expect(first.outputs['qarnot-outcome']).toBe('failure')
    const perInstance = Number(first.outputs.credits) / 4
    emulator.resetCounters()
    const io = await runOn(emulator, { ...failing, 'max-credits': '1' }, { attempt: 2 })
    expect(emulator.requestCount('POST /tasks')).toBe(0)
    // The plan's listing of the earlier tasks is reused by the estimate.
    expect(emulator.requestCount('GET /tasks')).toBe(1)
    expect(emulator.allTasks()).toHaveLength(1)
    expect(io.outputs['qarnot-outcome']).toBe('over-budget')
    expect(io.outputs['task-uuid']).toBe('')
    expect(io.failures).toHaveLength(1)
    expect(io.failures[0]).toMatch(
      /^The estimated cost, ([\d.]+) credits \(4 instances × ([\d.]+), the median per instance of 1 earlier task of this step\), is over max-credits \(1\); no task was created\./
    )
    const [, estimate, rate] = /cost, ([\d.]+) credits \(4 instances × ([\d.]+)/.exec(io.failures[0]) ?? []
    expect(Number(rate)).toBeCloseTo(perInstance, 1)
    expect(Number(estimate)).toBeCloseTo(4 * perInstance, 0)
    expect(io.summary).toContain('💸 Qarnot task not started: over max-credits')
    expect(io.summary).toMatch(/spent 0 of cap 1 credits ⚠️ over budget · estimate [\d.]+ credits/)
    expect(io.state).toMatchObject({ taskEnded: 'true' })
  })

  it("a first attempt of a later run (tomorrow's nightly) is estimated from the runs before it", async () => {
    const emulator = await dear()
    const tonight = await runOn(emulator, { ...failing, 'max-credits': '1000' }, { runId: '801' })
    expect(tonight.outputs['qarnot-outcome']).toBe('failure')
    const series = emulator.allTasks()[0].body.tags?.find(tag => tag.startsWith('gha-series-'))
    expect(series).toBeDefined()
    const perInstance = Number(tonight.outputs.credits) / 4
    emulator.resetCounters()
    const tomorrow = await runOn(emulator, { ...failing, 'max-credits': '1' }, { runId: '802' })
    expect(emulator.requestCount('POST /tasks')).toBe(0)
    expect(tomorrow.outputs['qarnot-outcome']).toBe('over-budget')
    const [, rate] =
      /4 instances × ([\d.]+), the median per instance of 1 earlier task/.exec(tomorrow.failures[0]) ?? []
    expect(Number(rate)).toBeCloseTo(perInstance, 1)
    // Without max-credits the task carries no series tag (Qarnot takes fewer than 10 tags).
    await runOn(emulator, failing, { runId: '803' })
    expect(
      emulator
        .allTasks()
        .at(-1)
        ?.body.tags?.some(tag => tag.startsWith('gha-series-'))
    ).toBe(false)
  })

  it('refuses when the account cannot cover the estimate, though the cap could', async () => {
    const emulator = await dear({ credits: { balance: 2.5 } })
    const first = await runOn(emulator, failing)
    const left = 2.5 - Number(first.outputs.credits)
    expect(left).toBeGreaterThan(0)
    emulator.resetCounters()
    const io = await runOn(emulator, { ...failing, 'max-credits': '100' }, { attempt: 2 })
    expect(emulator.requestCount('POST /tasks')).toBe(0)
    expect(io.outputs['qarnot-outcome']).toBe('over-budget')
    expect(io.failures[0]).toMatch(
      /^The Qarnot account has [\d.]+ credits left, less than the estimated cost, [\d.]+ credits \(4 instances × [\d.]+/
    )
  })

  it('starts with the estimate unknown when no earlier task exists, and when the account service is missing or odd', async () => {
    for (const fault of [
      { type: 'status', status: 404, message: 'Not found' },
      { type: 'transform', transform: (a: FaultAnswer) => ({ ...a, body: '{"credits": "lots"}' }) },
      {
        type: 'transform',
        transform: (a: FaultAnswer) => ({ ...a, body: '<html>hi</html>', contentType: 'text/html' })
      },
      { type: 'transform', transform: (a: FaultAnswer) => ({ ...a, body: '[1, 2]' }) }
    ] as FaultKind[]) {
      const emulator = await dear({
        faults: [{ endpoint: 'GET /credits/v1/accounts/credits', fault }]
      })
      const io = await runOn(emulator, { command: 'echo hi', 'max-credits': '5' })
      expect(io.failures).toEqual([])
      expect(io.outputs['qarnot-outcome']).toBe('success')
      expect(emulator.requestCount('GET /credits/v1/accounts/credits')).toBe(1)
      expect(io.log.join('\n')).toMatch(/estimated cost unknown .*; the account's credits are unknown/)
    }
  })

  it('refuses before the create with a re-run of everything (rerun: all) too', async () => {
    const emulator = await dear()
    await runOn(emulator, { 'instance-count': '2', command: 'sleep 0.5' })
    emulator.resetCounters()
    const io = await runOn(
      emulator,
      { 'instance-count': '2', command: 'sleep 0.5', rerun: 'all', 'max-credits': '0.2' },
      { attempt: 2 }
    )
    expect(emulator.requestCount('POST /tasks')).toBe(0)
    expect(io.outputs['qarnot-outcome']).toBe('over-budget')
    expect(io.failures[0]).toMatch(/2 instances × [\d.]+, the median per instance of 1 earlier task/)
  })
})

describe('a create refused for lack of credits', () => {
  it('the emulator refuses with 402 when the account is below the threshold; the action says "not enough credits"', async () => {
    const emulator = await startEmulator({ credits: { balance: 3, refuseBelow: 5 } })
    const io = await runOn(emulator, { command: 'echo hi', 'instance-count': '3', hardware: 'min-cores=8' })
    expect(emulator.allTasks()).toHaveLength(0)
    expect(io.outputs['qarnot-outcome']).toBe('failure')
    expect(io.failures).toHaveLength(1)
    expect(io.failures[0]).toMatch(
      /answered 402: Not enough credits\. The Qarnot account has not enough credits/
    )
    // Never blamed on an input.
    expect(io.failures[0]).not.toMatch(/Check the input|'hardware'|'instance-count'/)
    expect(io.state.taskEnded).toBe('true')
  })

  it.each([
    [402, 'Not enough credits', /not enough credits to start this task/],
    [400, 'Insufficient credits on the account', /not enough credits to start this task/],
    [403, 'Not enough credits.', /not enough credits to start this task/],
    [402, 'No hardware constraint can be satisfied', /matches the 'hardware' constraints/],
    [400, 'Invalid task file. Invalid fields: constants', /Check the input 'constants'/]
  ])('%d %s', (status, message, expected) => {
    const error = new QarnotApiError('POST', '/tasks', status, message)
    expect(explainError(error, 'https://api.qarnot.com')).toMatch(expected)
  })
})

describe('the max-credits input', () => {
  it.each([
    ['50', 50],
    ['12.5', 12.5],
    ['.5', 0.5],
    ['3.', 3],
    ['', undefined]
  ])('%j reads as %p', (text, value) => {
    expect(readMaxCredits(() => text, true)).toBe(value)
  })

  it('a following step (task:) may keep a cap: the task it follows is aborted past it', async () => {
    const emulator = await dear()
    const { uuid } = (
      await call(
        emulator,
        'POST',
        '/tasks',
        helloBody({ instanceCount: 1, constants: [{ key: 'DOCKER_CMD', value: 'sleep 30' }] })
      )
    ).json() as { uuid: string }
    const io = await runOn(emulator, { task: uuid, 'max-credits': '0.5' })
    expect(io.outputs['qarnot-outcome']).toBe('over-budget')
    await waitForState(emulator, uuid, ['Cancelled'])
    // Nothing was estimated: no task was to be created.
    expect(emulator.requestCount('GET /credits/v1/accounts/credits')).toBe(0)
  })
})

describe('the pure decisions', () => {
  it('takes the median credits per instance of the tasks that ran some, and refuses only on known figures', () => {
    const cost = (credits: number, instances: number) => ({ uuid: 'u', credits, instances })
    expect(medianPerInstance([])).toBeUndefined()
    expect(medianPerInstance([cost(5, 0)])).toBeUndefined()
    expect(medianPerInstance([cost(10, 10), cost(3, 1), cost(40, 10)])).toBe(3)
    expect(medianPerInstance([cost(10, 10), cost(40, 10)])).toBe(2.5)
    const unknown = { instances: 4, fromTasks: 0 }
    expect(refuseToStart(1, unknown)).toBeUndefined()
    expect(refuseToStart(1, { ...unknown, account: 0 })).toBeUndefined()
    expect(
      refuseToStart(10, { instances: 4, fromTasks: 1, perInstance: 2, credits: 8, account: 9 })
    ).toBeUndefined()
    expect(refuseToStart(10, { instances: 4, fromTasks: 1, perInstance: 2, credits: 8, account: 7 })).toMatch(
      /has 7 credits left, less than the estimated cost, 8 credits/
    )
    expect(passedCap(10, 10)).toBeUndefined()
    expect(passedCap(10, undefined)).toBeUndefined()
    expect(passedCap(10, 10.01)).toMatch(/\(10\) passed max-credits \(10\)/)
  })
})

describe('the emulator charges credits as tasks run', () => {
  it('at the rate a test sets, on the task and the account; deleted tasks stay paid for', async () => {
    const emulator = await startEmulator({ credits: { perCoreSecond: 2, balance: 100 } })
    const { uuid } = (
      await call(
        emulator,
        'POST',
        '/tasks',
        helloBody({ instanceCount: 2, constants: [{ key: 'DOCKER_CMD', value: 'sleep 0.6' }] })
      )
    ).json() as { uuid: string }
    await waitForState(emulator, uuid, ['FullyExecuting'])
    await new Promise(resolve => setTimeout(resolve, 300))
    const running = (await call(emulator, 'GET', `/credits/v1/tasks/${uuid}/credits`)).json() as {
      credits: number
    }
    expect(running.credits).toBeGreaterThan(0)
    await waitForState(emulator, uuid, ['Success'])
    const ended = (await call(emulator, 'GET', `/credits/v1/tasks/${uuid}/credits`)).json() as {
      credits: number
    }
    // 2 instances × ~0.6 s × 2 credits per core-second.
    expect(ended.credits).toBeGreaterThan(running.credits)
    expect(ended.credits).toBeGreaterThanOrEqual(2.2)
    expect(ended.credits).toBeLessThan(4)
    const account = await call(emulator, 'GET', '/credits/v1/accounts/credits')
    expect(account.status).toBe(200)
    expect((account.json() as { credits: number }).credits).toBeCloseTo(100 - ended.credits, 5)
    await call(emulator, 'DELETE', `/tasks/${uuid}`)
    expect(
      ((await call(emulator, 'GET', '/credits/v1/accounts/credits')).json() as { credits: number }).credits
    ).toBeCloseTo(100 - ended.credits, 5)
    expect(emulator.requestCount('GET /credits/v1/accounts/credits')).toBe(2)
  })

  it('refuses a create with 402 "Not enough credits" once the account is below the threshold', async () => {
    const emulator = await startEmulator({ credits: { perCoreSecond: 10, balance: 5, refuseBelow: 1 } })
    const first = await call(
      emulator,
      'POST',
      '/tasks',
      helloBody({ instanceCount: 1, constants: [{ key: 'DOCKER_CMD', value: 'sleep 0.5' }] })
    )
    expect(first.status).toBe(200)
    await waitForState(emulator, (first.json() as { uuid: string }).uuid, ['Success'])
    const refused = await call(emulator, 'POST', '/tasks', helloBody())
    expect(refused.status).toBe(402)
    expect(refused.json()).toEqual({ message: 'Not enough credits' })
    expect(emulator.allTasks()).toHaveLength(1)
  })
})
