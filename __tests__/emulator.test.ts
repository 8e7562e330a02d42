import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import type { QarnotEmulator } from '../emulator/server.js'
import { splitWords, substituteVariables } from '../emulator/command-line.js'
import { OutputBuffer } from '../emulator/output-buffer.js'
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
      storage: (await emulator.storage()).url
    })
    expect((await call(emulator, 'GET', '/info')).json()).toMatchObject({
      email: emulator.email,
      maxTask: 1000,
      computingQuotas: { user: { flex: {} } }
    })
  })

  it('refuses invalid bodies with the API message and field tags', async () => {
    const answer = await call(
      emulator,
      'POST',
      '/tasks',
      helloBody({ name: '', shortname: 'ends-with-', tags: 'x' })
    )
    expect(answer.status).toBe(400)
    expect((answer.json() as { message: string }).message).toBe(
      'Invalid task file. Invalid fields: name, shortname, tags'
    )
    const none = await call(emulator, 'POST', '/tasks', helloBody({ instanceCount: undefined }))
    expect(none.json()).toEqual({ message: 'Invalid task file. Invalid fields: instanceCount' })
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

  it('takes advancedRanges over instanceCount when both come, as TaskCreationInput says', async () => {
    const uuid = await create(helloBody({ instanceCount: 4, advancedRanges: '5,7' }))
    const task = await waitForState(emulator, uuid, ['Success'])
    expect(task).toMatchObject({ instanceCount: 0, advancedRanges: '5,7', totalInstanceCount: 2 })
    expect(task.status).toMatchObject({ succeededRange: '5,7' })
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

describe('the instance environment (docs/qarnot-api.md §6)', () => {
  it('runs each instance in its TASK_PATH, with its own TMP_PATH and TMP_RAMFS_PATH, and no variable Qarnot does not set', async () => {
    const uuid = await create(
      helloBody({
        instanceCount: 2,
        constants: [
          { key: 'GREETING', value: 'hi' },
          {
            key: 'DOCKER_CMD',
            value: `sh -c 'pwd; echo "$TASK_PATH|$TMP_PATH|$TMP_RAMFS_PATH"; touch "$TMP_PATH/big" "$TMP_RAMFS_PATH/small" && echo written; env | cut -d= -f1 | sort | tr "\\n" " "'`
          }
        ]
      })
    )
    await waitForState(emulator, uuid, ['Success'])
    const seen: string[][] = []
    for (const id of [0, 1]) {
      const [cwd, paths, written, names] = (
        await call(emulator, 'GET', `/tasks/${uuid}/stdout/${id}`)
      ).text.split('\n')
      const [taskPath, tmpPath, ramfsPath] = paths.split('|')
      expect(cwd).toBe(taskPath)
      expect(written).toBe('written')
      for (const path of [tmpPath, ramfsPath]) expect(path.startsWith(`${taskPath}/`)).toBe(false)
      seen.push([taskPath, tmpPath, ramfsPath])
      // What the platform sets, the task's constants, and only the host's PATH, HOME and LANG besides (sh adds
      // PWD, SHLVL and _ of its own).
      const variables = names.trim().split(' ')
      const documented = [
        'INSTANCE_ID',
        'INSTANCE_COUNT',
        'TASK_PATH',
        'TMP_PATH',
        'TMP_RAMFS_PATH',
        'FRAME_ID'
      ]
      const allowed = new Set([
        ...documented,
        'DOCKER_CMD',
        'GREETING',
        'PATH',
        'HOME',
        'LANG',
        'PWD',
        'SHLVL',
        '_'
      ])
      expect(variables.filter(name => !allowed.has(name))).toEqual([])
      expect(documented.filter(name => !variables.includes(name))).toEqual([])
    }
    // Every instance has folders of its own.
    expect(new Set(seen.flat()).size).toBe(6)
  })
})

describe('retries (docs/qarnot-api.md §3)', () => {
  async function attempts(fields: Record<string, unknown>, instanceCount = 1): Promise<number[]> {
    const uuid = await create(
      helloBody({ instanceCount, constants: [{ key: 'DOCKER_CMD', value: 'false' }], ...fields })
    )
    const task = await waitForState(emulator, uuid, ['Failure'])
    return (task.completedInstances as { executionAttemptCount: number }[]).map(i => i.executionAttemptCount)
  }

  it('takes the deprecated maxRetriesPerInstance with retrySettings, and applies the stricter per-instance limit', async () => {
    expect(
      await attempts({
        maxRetriesPerInstance: 1,
        retrySettings: { maxTotalRetries: null, maxPerInstanceRetries: 3 }
      })
    ).toEqual([2])
    expect(
      await attempts({
        maxRetriesPerInstance: 0,
        retrySettings: { maxTotalRetries: null, maxPerInstanceRetries: 2 }
      })
    ).toEqual([3])
    expect(await attempts({ maxRetriesPerInstance: 2 })).toEqual([3])
  })

  it('spends maxTotalRetries across the task, and retries nothing when no limit is set', async () => {
    const spent = await attempts({ retrySettings: { maxTotalRetries: 3, maxPerInstanceRetries: null } }, 2)
    expect(spent.reduce((sum, n) => sum + n, 0)).toBe(2 + 3)
    expect(await attempts({ retrySettings: { maxTotalRetries: 0, maxPerInstanceRetries: 0 } }, 2)).toEqual([
      1, 1
    ])
  })

  it('reads PascalCase names as the C# SDK sends them, and leaves label keys as they are', async () => {
    const answer = await call(emulator, 'POST', '/tasks', {
      Name: 'from C#',
      Profile: 'docker-batch',
      InstanceCount: 1,
      MaxRetriesPerInstance: 0,
      RetrySettings: { MaxTotalRetries: null, MaxPerInstanceRetries: 1 },
      Constants: [{ Key: 'DOCKER_CMD', Value: 'false' }],
      Labels: { Team: 'CI' },
      SchedulingType: 'OnDemand'
    })
    expect(answer.status).toBe(200)
    const task = await waitForState(emulator, (answer.json() as { uuid: string }).uuid, ['Failure'])
    expect(task).toMatchObject({ name: 'from C#', labels: { Team: 'CI' }, schedulingType: 'onDemand' })
    expect((task.completedInstances as { executionAttemptCount: number }[])[0].executionAttemptCount).toBe(2)
  })
})

describe('pools (docs/qarnot-api.md §10)', () => {
  async function poolState(uuid: string, states: string[]): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 10_000
    for (;;) {
      const pool = (await call(emulator, 'GET', `/pools/${uuid}`)).json() as Record<string, unknown>
      if (states.includes(pool.state as string)) return pool
      if (Date.now() > deadline) throw new Error(`pool ${uuid} still ${String(pool.state)}`)
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  }

  it('creates a pool that opens, runs tasks without a profile of their own on its slots, and closes', async () => {
    const created = await call(emulator, 'POST', '/pools', {
      name: 'my pool',
      profile: 'docker-batch',
      instanceCount: 1,
      constants: [{ key: 'GREETING', value: 'from the pool' }]
    })
    expect(created.status).toBe(200)
    const { uuid: poolUuid } = created.json() as { uuid: string }
    expect(((await call(emulator, 'GET', `/pools/${poolUuid}`)).json() as { state: string }).state).toBe(
      'Submitted'
    )
    await poolState(poolUuid, ['FullyExecuting'])

    const uuid = await create({
      name: 'in the pool',
      poolUuid,
      instanceCount: 2,
      constants: [{ key: 'DOCKER_CMD', value: `sh -c 'sleep 0.2; echo "$GREETING $INSTANCE_ID"'` }]
    })
    // One slot for two instances: they take turns.
    const partial = await waitForState(emulator, uuid, ['PartiallyExecuting'])
    expect(partial).toMatchObject({ poolUuid, profile: 'docker-batch', runningInstanceCount: 1 })
    expect(
      ((await call(emulator, 'GET', `/pools/${poolUuid}`)).json() as Record<string, unknown>)
        .queuedOrRunningTaskInstancesCount
    ).toBe(2)
    await waitForState(emulator, uuid, ['Success'])
    expect((await call(emulator, 'GET', `/tasks/${uuid}/stdout/1`)).text).toBe('from the pool 1\n')

    expect((await call(emulator, 'POST', `/pools/${poolUuid}/close`)).status).toBe(200)
    expect(((await call(emulator, 'GET', `/pools/${poolUuid}`)).json() as { state: string }).state).toBe(
      'Closing'
    )
    const closed = await poolState(poolUuid, ['Closed'])
    expect(closed.endDate).not.toBe('0001-01-01T00:00:00Z')
    const again = await call(emulator, 'POST', `/pools/${poolUuid}/close`)
    expect(again.status).toBe(403)
  })

  it('refuses an unknown pool, a closed pool, hardware constraints and a profile in a pool', async () => {
    const unknown = await call(emulator, 'POST', '/tasks', {
      name: 'x',
      poolUuid: '62e80aae-d20a-4608-b873-ec8bff991733',
      instanceCount: 1
    })
    expect(unknown.status).toBe(400)
    expect(unknown.json()).toEqual({ message: 'No such pool: 62e80aae-d20a-4608-b873-ec8bff991733' })

    const pool = emulator.createPool({ instanceCount: 2 })
    const hardware = await call(emulator, 'POST', '/tasks', {
      name: 'x',
      poolUuid: pool.uuid,
      instanceCount: 1,
      hardwareConstraints: [{ discriminator: 'GpuHardwareConstraint' }]
    })
    expect(hardware.status).toBe(400)
    expect(hardware.json()).toEqual({ message: 'Invalid task file. Invalid fields: hardwareConstraints' })
    // An empty list sets no new constraint: the SDKs send one on every create.
    const empty = await call(emulator, 'POST', '/tasks', {
      name: 'x',
      poolUuid: pool.uuid,
      instanceCount: 1,
      hardwareConstraints: []
    })
    expect(empty.status).toBe(200)
    const withProfile = await call(emulator, 'POST', '/tasks', {
      name: 'x',
      poolUuid: pool.uuid,
      profile: 'docker-batch',
      instanceCount: 1
    })
    expect(withProfile.json()).toEqual({ message: 'Invalid task file. Invalid fields: profile' })

    expect((await call(emulator, 'POST', `/pools/${pool.uuid}/close`)).status).toBe(200)
    const closed = await call(emulator, 'POST', '/tasks', {
      name: 'x',
      poolUuid: pool.uuid,
      instanceCount: 1
    })
    expect(closed.status).toBe(400)
    expect(closed.json()).toEqual({ message: 'Invalid task file. Invalid fields: poolUuid' })
  })

  it('aborts the tasks of a pool that closes; refuses an invalid pool; deletes a pool', async () => {
    const pool = emulator.createPool({ instanceCount: 1 })
    const uuid = await create({
      name: 'long',
      poolUuid: pool.uuid,
      instanceCount: 1,
      constants: [{ key: 'DOCKER_CMD', value: 'sleep 30' }]
    })
    await waitForState(emulator, uuid, ['FullyExecuting'])
    expect((await call(emulator, 'POST', `/pools/${pool.uuid}/close`)).status).toBe(200)
    expect((await waitForState(emulator, uuid, ['Cancelled'])).status).toMatchObject({ cancelledRange: '0' })

    const invalid = await call(emulator, 'POST', '/pools', { name: '', profile: 'no-such-profile' })
    expect(invalid.status).toBe(400)
    expect(invalid.json()).toEqual({ message: 'Invalid pool configuration. Invalid fields: name, profile' })
    expect(() => emulator.createPool({ profile: 'no-such-profile' })).toThrow(/Invalid fields: profile/)

    expect((await call(emulator, 'DELETE', `/pools/${pool.uuid}`)).status).toBe(200)
    const gone = await call(emulator, 'GET', `/pools/${pool.uuid}`)
    expect(gone.status).toBe(404)
    expect(gone.json()).toEqual({ message: 'Pool not found' })
  })
})
