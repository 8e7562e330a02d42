/**
 * The emulator's quirk modes over HTTP (docs/emulator.md): each one makes the emulator answer as the real API may,
 * where that is less convenient than the emulator's default.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { dotNetDate, dotNetTimeSpan, parseTimeSpan } from '../emulator/emulated-task.js'
import type { EmulatorOptions, QarnotEmulator } from '../emulator/server.js'
import { validate } from './contract/validate.js'
import { call, fastEmulator, helloBody, waitForState } from './helpers/emulator.js'

let emulator: QarnotEmulator | undefined
afterEach(async () => {
  await emulator?.stop()
  emulator = undefined
})

async function start(
  quirks: EmulatorOptions['quirks'],
  options: EmulatorOptions = {}
): Promise<QarnotEmulator> {
  emulator = await fastEmulator({ quirks, ...options })
  return emulator
}

async function create(body: object = helloBody()): Promise<string> {
  const answer = await call(emulator as QarnotEmulator, 'POST', '/tasks', body)
  expect(answer.status).toBe(200)
  return (answer.json() as { uuid: string }).uuid
}

interface RunningInfo {
  instanceId: number
  executionTimeSec: number
  executionAttemptCount: number
}
const runningInfo = (task: unknown): RunningInfo[] =>
  (task as { status: { runningInstancesInfo: { perRunningInstanceInfo: RunningInfo[] } } }).status
    .runningInstancesInfo.perRunningInstanceInfo

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const cmd = (command: string) => [{ key: 'DOCKER_CMD', value: command }]

/** Reads the task until `until` holds, collecting the states seen in order. */
async function statesUntil(
  uuid: string,
  until: (status: number, state?: string) => boolean
): Promise<string[]> {
  const seen: string[] = []
  const deadline = Date.now() + 10_000
  for (;;) {
    const answer = await call(emulator as QarnotEmulator, 'GET', `/tasks/${uuid}`)
    const state = answer.status === 200 ? (answer.json() as { state: string }).state : undefined
    if (state && seen[seen.length - 1] !== state) seen.push(state)
    if (until(answer.status, state)) return seen
    if (Date.now() > deadline) throw new Error(`task ${uuid}: ${seen.join(' -> ')}`)
    await sleep(10)
  }
}

describe('finishedWithoutInstances', () => {
  for (const [mode, expected] of [
    ['empty', []],
    ['null', null]
  ] as const) {
    it(`'${mode}': a finished task lists no completed instance, its status ranges still tell`, async () => {
      const emulator = await start({ finishedWithoutInstances: mode })
      const uuid = await create(helloBody({ constants: cmd("sh -c 'sleep 0.2; exit $((INSTANCE_ID % 2))'") }))
      const done = await waitForState(emulator, uuid, ['Failure'])
      expect(done.completedInstances).toEqual(expected)
      expect(done.status).toMatchObject({
        succeededRange: '0,2',
        failedOnlyRange: '1,3',
        executedRange: '0-3'
      })
      expect(emulator.allTasks()[0].toWire().completedInstances).toHaveLength(4)
    })
  }
})

describe('shortnameClashStatus', () => {
  it('refuses a shortname already taken with 403, the same message', async () => {
    const emulator = await start({ shortnameClashStatus: 403 })
    await create(helloBody({ shortname: 'clash-1' }))
    const again = await call(emulator, 'POST', '/tasks', helloBody({ shortname: 'clash-1' }))
    expect(again.status).toBe(403)
    expect(again.json()).toEqual({ message: 'Invalid task file. Invalid fields: shortname-uniqueness' })
    // Other refusals keep their status.
    expect((await call(emulator, 'POST', '/tasks', helloBody({ shortname: 'bad-' }))).status).toBe(400)
  })

  it('400 is the default and can be asked for', async () => {
    const emulator = await start({ shortnameClashStatus: 400 })
    await create(helloBody({ shortname: 'clash-2' }))
    expect((await call(emulator, 'POST', '/tasks', helloBody({ shortname: 'clash-2' }))).status).toBe(400)
  })
})

describe('lookupLagMs', () => {
  it('does not find a new task by shortname for a while, by uuid at once; the shortname is taken meanwhile', async () => {
    const emulator = await start({ lookupLagMs: 2000 })
    const uuid = await create(helloBody({ shortname: 'lagging-1' }))
    const early = await call(emulator, 'GET', '/tasks/lagging-1')
    expect(early.status).toBe(404)
    expect(early.json()).toEqual({ message: 'Task not found' })
    expect((await call(emulator, 'GET', `/tasks/${uuid}`)).status).toBe(200)
    expect((await call(emulator, 'POST', '/tasks/lagging-1/abort')).status).toBe(404)
    // A retried create meets the uniqueness check, and the lookup a client then makes still fails.
    const retried = await call(emulator, 'POST', '/tasks', helloBody({ shortname: 'lagging-1' }))
    expect(retried.status).toBe(400)
    expect((await call(emulator, 'GET', '/tasks/lagging-1')).status).toBe(404)
    const created = Date.parse(
      ((await call(emulator, 'GET', `/tasks/${uuid}`)).json() as { creationDate: string }).creationDate
    )
    await statesUntil('lagging-1', status => status === 200)
    expect(Date.now() - created).toBeGreaterThanOrEqual(1990)
    expect(((await call(emulator, 'GET', '/tasks/lagging-1')).json() as { uuid: string }).uuid).toBe(uuid)
  })
})

describe('autoDelete', () => {
  it('deletes a task made with autoDeleteOnCompletion afterMs after its end; others stay', async () => {
    const emulator = await start({ autoDelete: { afterMs: 1000 } })
    const kept = await create(helloBody({ instanceCount: 1 }))
    const uuid = await create(helloBody({ instanceCount: 1, autoDeleteOnCompletion: true }))
    const done = await waitForState(emulator, uuid, ['Success'])
    expect(done.autoDeleteOnCompletion).toBe(true)
    const seen = await statesUntil(uuid, status => status === 404)
    expect(Date.now() - Date.parse(done.endDate as string)).toBeGreaterThanOrEqual(990)
    expect(seen).toEqual(['Success'])
    expect((await call(emulator, 'GET', `/tasks/${uuid}/stdout`)).status).toBe(404)
    expect((await call(emulator, 'GET', `/tasks/${kept}`)).status).toBe(200)
  })

  it('goes through PendingDelete first when deletes take a while (pendingDelete)', async () => {
    const emulator = await start({ autoDelete: { afterMs: 500 }, pendingDelete: { ms: 500 } })
    const uuid = await create(helloBody({ instanceCount: 2, autoDeleteOnCompletion: true }))
    await waitForState(emulator, uuid, ['Success'])
    const deleting = await waitForState(emulator, uuid, ['PendingDelete'])
    expect(deleting).toMatchObject({ previousState: 'Success' })
    expect(deleting.status).toMatchObject({ succeededRange: '0-1' })
    expect(await statesUntil(uuid, status => status === 404)).toEqual(['PendingDelete'])
  })
})

describe('legacyUploadingState', () => {
  it('goes through DownloadingResults instead of UploadingResults', async () => {
    await start(
      { legacyUploadingState: true },
      { timings: { dispatchMs: 300, environmentMs: 300, uploadMs: 300, cancelMs: 50 } }
    )
    const uuid = await create(helloBody({ constants: cmd('sleep 0.3') }))
    const seen = await statesUntil(uuid, (_, state) => state === 'Success')
    expect(seen).toEqual(['Submitted', 'FullyDispatched', 'FullyExecuting', 'DownloadingResults', 'Success'])
  })
})

describe('pendingDelete', () => {
  it('keeps a deleted running task in PendingDelete for ms, its instances stopped, then it is gone', async () => {
    const emulator = await start({ pendingDelete: { ms: 1000 } })
    const uuid = await create(helloBody({ instanceCount: 2, constants: cmd('sleep 30') }))
    await waitForState(emulator, uuid, ['FullyExecuting'])
    expect((await call(emulator, 'DELETE', `/tasks/${uuid}`)).status).toBe(200)
    const deleting = (await call(emulator, 'GET', `/tasks/${uuid}`)).json() as Record<string, unknown>
    expect(deleting).toMatchObject({
      state: 'PendingDelete',
      previousState: 'FullyExecuting',
      runningInstanceCount: 0
    })
    expect(deleting.status).toMatchObject({ cancelledRange: '0-1' })
    const abort = await call(emulator, 'POST', `/tasks/${uuid}/abort`)
    expect(abort.status).toBe(403)
    expect((await call(emulator, 'DELETE', `/tasks/${uuid}`)).status).toBe(200)
    expect(await statesUntil(uuid, status => status === 404)).toEqual(['PendingDelete'])
    expect(emulator.allTasks()).toEqual([])
  })

  it('a finished task too, and it still counts against maxTask meanwhile', async () => {
    const emulator = await start({ pendingDelete: { ms: 1000 } }, { maxTasks: 1 })
    const uuid = await create(helloBody({ instanceCount: 1 }))
    await waitForState(emulator, uuid, ['Success'])
    await call(emulator, 'DELETE', `/tasks/${uuid}`)
    expect(((await call(emulator, 'GET', `/tasks/${uuid}`)).json() as { state: string }).state).toBe(
      'PendingDelete'
    )
    expect((await call(emulator, 'POST', '/tasks', helloBody())).status).toBe(403)
    await statesUntil(uuid, status => status === 404)
    expect((await call(emulator, 'POST', '/tasks', helloBody())).status).toBe(200)
  })
})

describe('dotNetTimes', () => {
  const SPAN = /^\d+\.\d{2}:\d{2}:\d{2}\.\d{7}$/
  const DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$/

  it('writes every time span with a day part and 7 fraction digits, seconds as decimals, dates to the tick', async () => {
    const emulator = await start({ dotNetTimes: true })
    const uuid = await create(
      helloBody({ instanceCount: 2, constants: cmd('sleep 1'), completionTimeToLive: '10:00:00' })
    )
    const running = await waitForState(emulator, uuid, ['FullyExecuting'])
    await sleep(100)
    const during = (await call(emulator, 'GET', `/tasks/${uuid}`)).json() as Record<string, unknown>
    const perInstance = runningInfo(during)
    expect(perInstance.length).toBe(2)
    for (const info of perInstance) expect(Number.isInteger(info.executionTimeSec)).toBe(false)
    const done = await waitForState(emulator, uuid, ['Success'])
    for (const task of [running, during, done]) {
      expect(validate('TaskOutput', task)).toEqual([])
      for (const key of ['executionTime', 'wallTime']) expect(task[key]).toMatch(SPAN)
      const status = task.status as Record<string, unknown>
      for (const key of ['downloadTime', 'environmentTime', 'executionTime', 'uploadTime', 'wallTime'])
        expect(status[key]).toMatch(SPAN)
      for (const key of ['creationDate', 'stateTransitionTime']) expect(task[key]).toMatch(DATE)
    }
    expect(done.endDate).toMatch(DATE)
    expect(running.endDate).toBe('0001-01-01T00:00:00Z')
    expect(done.completionTimeToLive).toBe('0.10:00:00.0000000')
    const status = done.status as Record<string, number>
    for (const key of ['executionTimeSec', 'wallTimeSec']) expect(Number.isInteger(status[key])).toBe(false)
    expect(status.executionTimeSec).toBeGreaterThan(0.7)
    expect(parseTimeSpan(done.executionTime as string)).toBeCloseTo(status.executionTimeSec * 1000, 3)
    for (const instance of done.completedInstances as Record<string, number>[]) {
      for (const key of ['wallTimeSec', 'execTimeSec', 'execTimeSecGHz']) {
        expect(Number.isInteger(instance[key])).toBe(false)
        // Finer than the milliseconds the emulator gives without the quirk.
        expect(String(instance[key]).split('.')[1].length).toBeGreaterThan(3)
      }
    }
  })

  it('formats spans and dates as .NET does, the day part past a day', () => {
    expect(dotNetTimeSpan(25_100.0003)).toBe('0.00:00:25.1000003')
    expect(dotNetTimeSpan(((26 * 60 + 3) * 60 + 4) * 1000 + 100.0003)).toBe('1.02:03:04.1000003')
    expect(dotNetTimeSpan(0)).toBe('0.00:00:00.0000000')
    expect(parseTimeSpan('1.02:03:04.1000003')).toBeCloseTo(93_784_100.0003, 4)
    expect(parseTimeSpan('00:00:25')).toBe(25_000)
    expect(dotNetDate(Date.UTC(2024, 0, 2, 3, 4, 5, 678) + 0.25)).toBe('2024-01-02T03:04:05.6782500Z')
  })
})

describe('secondReader', () => {
  it('takes the task-level fresh output from the shared cursor while the task runs', async () => {
    const emulator = await start({ secondReader: { intervalMs: 30 } })
    const uuid = await create(
      helloBody({ instanceCount: 2, constants: cmd("sh -c 'echo one; echo err >&2; sleep 0.3; echo two'") })
    )
    await waitForState(emulator, uuid, ['Success'])
    const whole = (await call(emulator, 'GET', `/tasks/${uuid}/stdout`)).text
    expect(whole.split('\n').filter(Boolean).sort()).toEqual(['0> one', '0> two', '1> one', '1> two'])
    // What the other reader took is gone for this one: a fresh read gets at most what came after its last read.
    const fresh = (await call(emulator, 'POST', `/tasks/${uuid}/stdout`)).text
    expect(fresh.length).toBeLessThan(whole.length)
    expect((await call(emulator, 'POST', `/tasks/${uuid}/stderr`)).text.length).toBeLessThan(
      (await call(emulator, 'GET', `/tasks/${uuid}/stderr`)).text.length
    )
    expect(emulator.allTasks()[0].secondReaderTook).toBeGreaterThan(0)
    // Each instance's own cursor is left alone.
    expect((await call(emulator, 'POST', `/tasks/${uuid}/stdout/1`)).text).toBe('one\ntwo\n')
  })

  it('stops reading once the task has ended', async () => {
    const emulator = await start({ secondReader: { intervalMs: 20 } })
    const uuid = await create(helloBody({ instanceCount: 1 }))
    await waitForState(emulator, uuid, ['Success'])
    const took = emulator.allTasks()[0].secondReaderTook
    await sleep(100)
    expect(emulator.allTasks()[0].secondReaderTook).toBe(took)
  })
})

describe('preemption', () => {
  it('kills the instances once afterMs after they start and runs them again, their earlier output kept', async () => {
    const emulator = await start({ preemption: { instanceIds: [1, 3], afterMs: 400 } })
    const uuid = await create(
      helloBody({
        instanceCount: 3,
        constants: cmd("sh -c 'echo start $INSTANCE_ID; sleep 0.8; echo end $INSTANCE_ID'")
      })
    )
    // While the second attempt runs, the running info shows it.
    const deadline = Date.now() + 5000
    let attempt = 0
    while (attempt < 2 && Date.now() < deadline) {
      const info = runningInfo((await call(emulator, 'GET', `/tasks/${uuid}`)).json()).find(
        i => i.instanceId === 1
      )
      attempt = info?.executionAttemptCount ?? attempt
      await sleep(20)
    }
    expect(attempt).toBe(2)
    const done = await waitForState(emulator, uuid, ['Success', 'Failure'])
    expect(done.state).toBe('Success')
    const attempts = Object.fromEntries(
      (done.completedInstances as { instanceId: number; executionAttemptCount: number }[]).map(i => [
        i.instanceId,
        i.executionAttemptCount
      ])
    )
    expect(attempts).toEqual({ 0: 1, 1: 2, 2: 1 })
    expect(done.status).toMatchObject({ succeededRange: '0-2', failedRange: '', startedOnceRange: '0-2' })
    expect((await call(emulator, 'GET', `/tasks/${uuid}/stdout/1`)).text).toBe('start 1\nstart 1\nend 1\n')
    expect((await call(emulator, 'GET', `/tasks/${uuid}/stdout/0`)).text).toBe('start 0\nend 0\n')
    const lines = (await call(emulator, 'GET', `/tasks/${uuid}/stdout`)).text.split('\n')
    expect(lines.filter(line => line === '1> start 1')).toHaveLength(2)
    expect(lines.filter(line => line === '1> end 1')).toHaveLength(1)
    // Both attempts count in the task's execution time.
    expect((done.status as { executionTimeSec: number }).executionTimeSec).toBeGreaterThanOrEqual(2)
  })

  it('leaves an instance that ends before afterMs alone', async () => {
    const emulator = await start({ preemption: { instanceIds: [0], afterMs: 2000 } })
    const uuid = await create(helloBody({ instanceCount: 1 }))
    const done = await waitForState(emulator, uuid, ['Success'])
    expect((done.completedInstances as { executionAttemptCount: number }[])[0].executionAttemptCount).toBe(1)
  })
})

describe('credits and carbon answers', () => {
  it('carbonCase camel: the OpenAPI names of GetTaskCarbonFactsResponse', async () => {
    const emulator = await start({ carbonCase: 'camel' })
    const uuid = await create(helloBody({ instanceCount: 1 }))
    await waitForState(emulator, uuid, ['Success'])
    const facts = (await call(emulator, 'GET', `/carbon/v1/Tasks/${uuid}/carbon-facts`)).json() as object
    expect(Object.keys(facts).sort()).toEqual(
      [
        'totalConsumedEnergyWh',
        'totalEnergyITWh',
        'totalReuseEnergyWh',
        'carbonFootprintC02Eq',
        'pue',
        'ere',
        'erf',
        'wue',
        'comparisonDataCenterName',
        'equivalentDCCarbonFootprintC02Eq',
        'savedCarbonFootprintComputeC02Eq',
        'savedCarbonFootprintHeatC02Eq',
        'savedCarbonFootprintComputeHeatC02Eq',
        'savedCarbonFootprintPercentage'
      ].sort()
    )
  })

  it('creditsAnswer and carbonAnswer 403 or 404: refused for a task that exists', async () => {
    const emulator = await start({ creditsAnswer: 403, carbonAnswer: 404 })
    const uuid = await create(helloBody({ instanceCount: 1 }))
    await waitForState(emulator, uuid, ['Success'])
    const credits = await call(emulator, 'GET', `/credits/v1/tasks/${uuid}/credits`)
    expect([credits.status, credits.json()]).toEqual([
      403,
      { message: 'Forbidden: the user has no access to the data' }
    ])
    const carbon = await call(emulator, 'GET', `/carbon/v1/tasks/${uuid}/carbon-facts`)
    expect([carbon.status, carbon.json()]).toEqual([404, { message: 'Task not found.' }])
  })

  it('{ lagMs }: 404 while the task runs and until lagMs after it ended, then the figures', async () => {
    const emulator = await start({ creditsAnswer: { lagMs: 1000 }, carbonAnswer: { lagMs: 1000 } })
    const uuid = await create(helloBody({ instanceCount: 1, constants: cmd('sleep 0.2') }))
    await waitForState(emulator, uuid, ['FullyExecuting'])
    expect((await call(emulator, 'GET', `/credits/v1/tasks/${uuid}/credits`)).status).toBe(404)
    const done = await waitForState(emulator, uuid, ['Success'])
    const endedAt = Date.parse(done.endDate as string)
    expect((await call(emulator, 'GET', `/carbon/v1/tasks/${uuid}/carbon-facts`)).status).toBe(404)
    for (;;) {
      const credits = await call(emulator, 'GET', `/credits/v1/tasks/${uuid}/credits`)
      if (credits.status === 200) {
        expect(Date.now() - endedAt).toBeGreaterThanOrEqual(990)
        expect((credits.json() as { credits: number }).credits).toBeGreaterThan(0)
        break
      }
      expect(credits.status).toBe(404)
      await sleep(20)
    }
    expect((await call(emulator, 'GET', `/carbon/v1/tasks/${uuid}/carbon-facts`)).status).toBe(200)
  })
})
