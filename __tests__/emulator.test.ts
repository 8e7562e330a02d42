import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import type { QarnotEmulator } from '../src/emulator/server.js'
import { splitWords, substituteVariables } from '../src/emulator/command-line.js'
import { OutputBuffer } from '../src/emulator/output-buffer.js'
import { call, fastEmulator, helloBody, waitForState } from './helpers/emulator.js'

let emulator: QarnotEmulator
beforeEach(async () => {
  emulator = await fastEmulator()
})
afterEach(async () => {
  await emulator.stop()
})

async function create(body: object): Promise<string> {
  const answer = await call(emulator, 'POST', '/tasks', body)
  expect(answer.status).toBe(200)
  return (answer.json() as { uuid: string }).uuid
}

describe('the emulated API', () => {
  it('runs the hello-world task: 200 {uuid}, final state and ranges, prefixed task output', async () => {
    const uuid = await create(helloBody())
    const task = await waitForState(emulator, uuid, ['Success'])
    expect(task).toMatchObject({
      uuid,
      state: 'Success',
      instanceCount: 4,
      totalInstanceCount: 4,
      errors: []
    })
    expect((task.completedInstances as unknown[]).length).toBe(4)
    expect(task.status).toMatchObject({ succeededRange: '0-3', failedRange: '', executedRange: '0-3' })
    const stdout = (await call(emulator, 'GET', `/tasks/${uuid}/stdout`)).text
    expect(stdout.split('\n').filter(Boolean).sort()).toEqual(
      [0, 1, 2, 3].map(i => `${i}> hello world from node ${i}!`)
    )
    const one = await call(emulator, 'GET', `/tasks/${uuid}/stdout/2`)
    expect(one.text).toBe('hello world from node 2!\n')
    expect(one.headers.get('content-type')).toContain('text/plain')
  })

  it('answers the same with the /v1 prefix', async () => {
    const answer = await call(emulator, 'POST', '/v1/tasks', helloBody({ instanceCount: 1 }))
    const { uuid } = answer.json() as { uuid: string }
    expect((await call(emulator, 'GET', `/v1/tasks/${uuid}`)).status).toBe(200)
    expect(emulator.requestCount('POST /tasks')).toBe(1)
    expect(emulator.requestCount('GET /tasks/{uuid}')).toBe(1)
  })

  it('wants the raw token in Authorization; Bearer or nothing is 401, /settings is open', async () => {
    expect((await call(emulator, 'GET', '/profiles', undefined, `Bearer ${emulator.token}`)).status).toBe(401)
    expect((await call(emulator, 'GET', '/profiles', undefined, null)).status).toBe(401)
    expect((await call(emulator, 'GET', '/profiles')).json()).toContain('docker-batch')
    expect((await call(emulator, 'GET', '/settings', undefined, null)).json()).toEqual({
      storage: 'https://storage.qarnot.com'
    })
    expect((await call(emulator, 'GET', '/info')).json()).toMatchObject({
      maxTask: 1000,
      computingQuotas: { user: { flex: {} } }
    })
  })

  it('refuses invalid bodies with the API message and field tags', async () => {
    const answer = await call(
      emulator,
      'POST',
      '/tasks',
      helloBody({ name: '', advancedRanges: '0-1', tags: 'x' })
    )
    expect(answer.status).toBe(400)
    expect((answer.json() as { message: string }).message).toBe(
      'Invalid task file. Invalid fields: name, advancedRanges, tags'
    )
    const badRange = await call(
      emulator,
      'POST',
      '/tasks',
      helloBody({ instanceCount: undefined, advancedRanges: '5-2' })
    )
    expect(badRange.json()).toEqual({ message: 'Invalid task file. Invalid fields: advancedRanges' })
    const tooLong = await call(
      emulator,
      'POST',
      '/tasks',
      helloBody({ instanceCount: undefined, advancedRanges: '1,'.repeat(1100) + '1' })
    )
    expect(tooLong.json()).toEqual({ message: 'Invalid task file. Invalid fields: range-length' })
  })

  it('keeps shortnames unique and finds a task by its shortname', async () => {
    const uuid = await create(helloBody({ shortname: 'my-run-1' }))
    const again = await call(emulator, 'POST', '/tasks', helloBody({ shortname: 'my-run-1' }))
    expect(again.status).toBe(400)
    expect(again.json()).toEqual({ message: 'Invalid task file. Invalid fields: shortname-uniqueness' })
    expect(((await call(emulator, 'GET', '/tasks/my-run-1')).json() as { uuid: string }).uuid).toBe(uuid)
    expect((await call(emulator, 'POST', '/tasks', helloBody({ shortname: 'bad-' }))).status).toBe(400)
  })

  it('gives each instance its id, count, constants and ${NAME} substitution; runs no shell', async () => {
    const uuid = await create(
      helloBody({
        instanceCount: undefined,
        advancedRanges: '3,7',
        constants: [
          { key: 'GREETING', value: 'hi there' },
          {
            key: 'DOCKER_CMD',
            value: `sh -c 'echo "$INSTANCE_ID/$INSTANCE_COUNT $GREETING \${GREETING}"; echo $GREETING'`
          }
        ]
      })
    )
    await waitForState(emulator, uuid, ['Success'])
    expect((await call(emulator, 'GET', `/tasks/${uuid}/stdout/7`)).text).toBe(
      '7/2 hi there hi there\nhi there\n'
    )
    const literal = await create(
      helloBody({
        instanceCount: 1,
        constants: [{ key: 'DOCKER_CMD', value: 'echo $INSTANCE_ID ${INSTANCE_ID}' }]
      })
    )
    await waitForState(emulator, literal, ['Success'])
    expect((await call(emulator, 'GET', `/tasks/${literal}/stdout/0`)).text).toBe('$INSTANCE_ID 0\n')
  })

  it('reports failed instances in completedInstances and the ranges', async () => {
    const uuid = await create(
      helloBody({ constants: [{ key: 'DOCKER_CMD', value: "sh -c 'exit $((INSTANCE_ID % 2))'" }] })
    )
    const task = await waitForState(emulator, uuid, ['Success', 'Failure'])
    expect(task.state).toBe('Failure')
    expect(task.status).toMatchObject({
      failedRange: '1,3',
      failedOnlyRange: '1,3',
      succeededRange: '0,2',
      cancelledRange: ''
    })
    const failed = (
      task.completedInstances as { instanceId: number; state: string; error: { message: string } | null }[]
    ).filter(i => i.state === 'Failure')
    expect(failed.map(i => i.instanceId).sort()).toEqual([1, 3])
    expect(failed[0].error?.message).toContain('exit code 1')
  })

  it('gives only new output on POST, per task and per instance', async () => {
    const uuid = await create(
      helloBody({
        instanceCount: 1,
        constants: [{ key: 'DOCKER_CMD', value: "sh -c 'echo one; sleep 0.3; echo two'" }]
      })
    )
    await new Promise(resolve => setTimeout(resolve, 200))
    const first = (await call(emulator, 'POST', `/tasks/${uuid}/stdout`)).text
    await waitForState(emulator, uuid, ['Success'])
    const second = (await call(emulator, 'POST', `/tasks/${uuid}/stdout`)).text
    expect(first).toBe('0> one\n')
    expect(second).toBe('0> two\n')
    expect((await call(emulator, 'POST', `/tasks/${uuid}/stdout`)).text).toBe('')
    expect((await call(emulator, 'GET', `/tasks/${uuid}/stdout`)).text).toBe('0> one\n0> two\n')
    expect((await call(emulator, 'POST', `/tasks/${uuid}/stdout/0`)).text).toBe('one\ntwo\n')
    expect((await call(emulator, 'POST', `/tasks/${uuid}/stdout/0`)).text).toBe('')
    expect((await call(emulator, 'GET', `/tasks/${uuid}/stdout/5`)).status).toBe(404)
  })

  it('aborts: PendingCancel, processes killed, then Cancelled; 403 once ended; delete removes', async () => {
    const uuid = await create(
      helloBody({ instanceCount: 2, constants: [{ key: 'DOCKER_CMD', value: 'sleep 30' }] })
    )
    await waitForState(emulator, uuid, ['FullyExecuting'])
    expect((await call(emulator, 'POST', `/tasks/${uuid}/abort`)).status).toBe(200)
    expect(((await call(emulator, 'GET', `/tasks/${uuid}`)).json() as { state: string }).state).toBe(
      'PendingCancel'
    )
    const task = await waitForState(emulator, uuid, ['Cancelled'])
    expect(task.status).toMatchObject({ cancelledRange: '0-1', failedRange: '0-1' })
    const again = await call(emulator, 'POST', `/tasks/${uuid}/abort`)
    expect(again.status).toBe(403)
    expect(again.json()).toEqual({ message: "Can't abort the task" })
    expect((await call(emulator, 'DELETE', `/tasks/${uuid}`)).status).toBe(200)
    expect((await call(emulator, 'GET', `/tasks/${uuid}`)).status).toBe(404)
  })

  it('queues instances beyond the quota (PartiallyExecuting) and refuses tasks beyond maxTask', async () => {
    await emulator.stop()
    emulator = await fastEmulator({ maxRunningInstances: 2, maxTasks: 1 })
    const uuid = await create(helloBody({ constants: [{ key: 'DOCKER_CMD', value: 'sleep 0.3' }] }))
    const partial = await waitForState(emulator, uuid, ['PartiallyExecuting'])
    expect(partial.runningInstanceCount).toBe(2)
    const refused = await call(emulator, 'POST', '/tasks', helloBody())
    expect(refused.status).toBe(403)
    expect(refused.json()).toEqual({ message: 'Maximum number of tasks reached' })
    expect((await waitForState(emulator, uuid, ['Success'])).state).toBe('Success')
  })

  it('retries a failed instance up to maxPerInstanceRetries', async () => {
    const uuid = await create(
      helloBody({
        instanceCount: 1,
        retrySettings: { maxTotalRetries: null, maxPerInstanceRetries: 2 },
        constants: [{ key: 'DOCKER_CMD', value: 'false' }]
      })
    )
    const task = await waitForState(emulator, uuid, ['Failure'])
    expect((task.completedInstances as { executionAttemptCount: number }[])[0].executionAttemptCount).toBe(3)
  })

  it('injects faults: status with Retry-After, reset, and a create whose answer is lost', async () => {
    emulator.faults.add(
      { endpoint: 'GET /profiles', fault: { type: 'status', status: 429, retryAfter: '2' } },
      { endpoint: 'GET /info', fault: { type: 'reset' } },
      { endpoint: 'POST /tasks', fault: { type: 'lose-answer' } }
    )
    const limited = await call(emulator, 'GET', '/profiles')
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('2')
    await expect(call(emulator, 'GET', '/info')).rejects.toThrow()
    await expect(call(emulator, 'POST', '/tasks', helloBody({ shortname: 'lost-1' }))).rejects.toThrow()
    expect(emulator.allTasks().map(t => t.shortname)).toEqual(['lost-1'])
    expect((await call(emulator, 'GET', '/profiles')).status).toBe(200)
  })
})

describe('emulator parts', () => {
  it('splits a command like a shell, without expanding anything', () => {
    expect(splitWords(`sh -c 'echo "$X" \\$Y' "a b" c\\ d`)).toEqual([
      'sh',
      '-c',
      'echo "$X" \\$Y',
      'a b',
      'c d'
    ])
    expect(() => splitWords("echo 'open")).toThrow(/unterminated/)
    expect(substituteVariables('node ${INSTANCE_ID}! ${UNKNOWN}', { INSTANCE_ID: '3' })).toBe(
      'node 3! ${UNKNOWN}'
    )
  })

  it('rotates old output away but keeps fresh cursors right', () => {
    const buffer = new OutputBuffer(8)
    buffer.append('abcd')
    const text = (pieces: Buffer[]) => Buffer.concat(pieces).toString()
    expect(text(buffer.readFresh())).toBe('abcd')
    buffer.append('efghijkl')
    expect(text(buffer.readAll())).toBe('efghijkl')
    buffer.append('mn')
    expect(text(buffer.readFresh())).toBe('ghijklmn')
    expect(text(buffer.readFresh())).toBe('')
  })
})

describe('state order', () => {
  it('goes through the states in Qarnot order', async () => {
    await emulator.stop()
    emulator = await fastEmulator({
      timings: { dispatchMs: 150, environmentMs: 150, uploadMs: 150, cancelMs: 50 }
    })
    const { uuid } = (
      await call(
        emulator,
        'POST',
        '/tasks',
        helloBody({ constants: [{ key: 'DOCKER_CMD', value: 'sleep 0.2' }] })
      )
    ).json() as { uuid: string }
    const seen: string[] = []
    for (;;) {
      const { state } = (await call(emulator, 'GET', `/tasks/${uuid}`)).json() as { state: string }
      if (seen[seen.length - 1] !== state) seen.push(state)
      if (state === 'Success') break
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    expect(seen).toEqual(['Submitted', 'FullyDispatched', 'FullyExecuting', 'UploadingResults', 'Success'])
  })
})

describe('what unchanged SDK clients read', () => {
  // Keys the official Python SDK reads without a fallback (Task._update, Status, CompletedInstance, Error):
  // a missing one is a KeyError in a client written for the real API.
  const TASK_KEYS = [
    'uuid',
    'name',
    'profile',
    'state',
    'creationDate',
    'runningCoreCount',
    'runningInstanceCount'
  ]
  const STATUS_KEYS = [
    'downloadProgress',
    'executionProgress',
    'uploadProgress',
    'instanceCount',
    'downloadTime',
    'downloadTimeSec',
    'environmentTime',
    'environmentTimeSec',
    'executionTime',
    'executionTimeSec',
    'uploadTime',
    'uploadTimeSec',
    'wallTime',
    'wallTimeSec',
    'succeededRange',
    'executedRange',
    'failedRange',
    'lastUpdateTimestamp',
    'executionTimeByCpuModel',
    'executionTimeGhzByCpuModel'
  ]
  const RUNNING_INFO_KEYS = [
    'timestamp',
    'averageFrequencyGHz',
    'maxFrequencyGHz',
    'minFrequencyGHz',
    'averageMaxFrequencyGHz',
    'averageCpuUsage',
    'clusterPowerIndicator',
    'averageMemoryUsage',
    'averageNetworkInKbps',
    'averageNetworkOutKbps',
    'totalNetworkInKbps',
    'totalNetworkOutKbps',
    'snapshotResults',
    'runningCoreCountByCpuModel'
  ]
  const PER_INSTANCE_KEYS = [
    'phase',
    'instanceId',
    'maxFrequencyGHz',
    'currentFrequencyGHz',
    'cpuUsage',
    'maxMemoryMB',
    'currentMemoryMB',
    'memoryUsage',
    'networkInKbps',
    'networkOutKbps',
    'progress',
    'executionTimeSec',
    'executionTimeGHz',
    'cpuModel'
  ]
  const COMPLETED_KEYS = [
    'instanceId',
    'state',
    'wallTimeSec',
    'execTimeSec',
    'execTimeSecGHz',
    'peakMemoryMB',
    'averageGHz',
    'results'
  ]

  it('sends every key they read, while running and once done, with arrays where they iterate', async () => {
    const uuid = await create(
      helloBody({
        instanceCount: 2,
        constants: [{ key: 'DOCKER_CMD', value: "sh -c 'sleep 0.3; exit $INSTANCE_ID'" }]
      })
    )
    const running = await waitForState(emulator, uuid, ['FullyExecuting'])
    for (const key of TASK_KEYS) expect(running).toHaveProperty([key])
    const status = running.status as Record<string, unknown>
    for (const key of STATUS_KEYS) expect(status).toHaveProperty([key])
    const info = status.runningInstancesInfo as Record<string, unknown>
    for (const key of RUNNING_INFO_KEYS) expect(info).toHaveProperty([key])
    for (const key of PER_INSTANCE_KEYS)
      expect((info.perRunningInstanceInfo as object[])[0]).toHaveProperty([key])
    const done = await waitForState(emulator, uuid, ['Failure'])
    expect(Array.isArray(done.errors) && Array.isArray(done.constants)).toBe(true)
    for (const instance of done.completedInstances as object[])
      for (const key of COMPLETED_KEYS) expect(instance).toHaveProperty([key])
    const failed = (done.completedInstances as { error: object | null }[]).find(i => i.error)
    for (const key of ['code', 'message', 'debug']) expect(failed?.error).toHaveProperty([key])
  })
})
