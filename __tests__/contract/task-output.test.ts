/**
 * Every task document the emulator sends validates against Qarnot's TaskOutput schema (and pools against
 * PoolOutput), through the exceptions of exceptions.ts only: read over HTTP at each state a client can meet, from
 * tasks of every shape the action and the SDKs create (docs/qarnot-api.md §4, §12).
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import type { QarnotEmulator } from '../../emulator/server.js'
import { call, fastEmulator, helloBody } from '../helpers/emulator.js'
import { SOURCE, validate } from './validate.js'

let emulator: QarnotEmulator | undefined
afterEach(async () => {
  await emulator?.stop()
  emulator = undefined
})

/** Slow enough that every state lasts long enough to be read at least once, by reads that validate every answer, on a busy machine. */
const STATE_TIMINGS = { dispatchMs: 100, environmentMs: 100, uploadMs: 400, cancelMs: 200 }

type TaskDocument = Record<string, unknown> & { state: string; uuid: string }

function expectValid(schema: string, value: unknown, label: string): void {
  // The label and every error show in a failure, not only "expected [] to equal [...]".
  expect({ label, errors: validate(schema, value) }).toEqual({ label, errors: [] })
}

async function create(body: object): Promise<string> {
  const answer = await call(emulator as QarnotEmulator, 'POST', '/tasks', body)
  expect(answer.status).toBe(200)
  return (answer.json() as { uuid: string }).uuid
}

/** Reads the task until it reaches one of `states`, validating every document read on the way. */
async function readUntil(
  uuid: string,
  states: string[],
  seen: Set<string>,
  timeoutMs = 10_000
): Promise<TaskDocument> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const task = (await call(emulator as QarnotEmulator, 'GET', `/tasks/${uuid}`)).json() as TaskDocument
    expectValid('TaskOutput', task, `task ${uuid} in state ${task.state}`)
    seen.add(task.state)
    if (states.includes(task.state)) return task
    if (Date.now() > deadline) throw new Error(`task ${uuid} still ${task.state}`)
    await new Promise(resolve => setTimeout(resolve, 15))
  }
}

const EVERY_HARDWARE_CONSTRAINT = [
  { discriminator: 'MinimumCoreHardwareConstraint', coreCount: 4 },
  { discriminator: 'MaximumCoreHardwareConstraint', coreCount: 32 },
  { discriminator: 'MinimumRamHardwareConstraint', minimumMemoryMB: 8192 },
  { discriminator: 'MaximumRamHardwareConstraint', maximumMemoryMB: 65536 },
  { discriminator: 'MinimumRamCoreRatioHardwareConstraint', minimumMemoryGBCoreRatio: 1.5 },
  { discriminator: 'MaximumRamCoreRatioHardwareConstraint', maximumMemoryGBCoreRatio: 8 },
  { discriminator: 'SpecificHardwareConstraint', specificationKey: '8c-32g-amd-rz3700x' },
  { discriminator: 'GpuHardwareConstraint' },
  { discriminator: 'NoGpuHardwareConstraint' },
  { discriminator: 'SSDHardwareConstraint' },
  { discriminator: 'NoSSDHardwareConstraint' },
  { discriminator: 'CpuModelHardwareConstraint', cpuModel: 'AMD Ryzen 7 3700X' }
]

describe(`the emulator's task documents against TaskOutput of '${SOURCE.title}' ${SOURCE.version}`, () => {
  it('a counted task, from Submitted through execution to Success', async () => {
    emulator = await fastEmulator({ timings: STATE_TIMINGS })
    const uuid = await create(helloBody({ constants: [{ key: 'DOCKER_CMD', value: 'sleep 0.2' }] }))
    const seen = new Set<string>()
    const done = await readUntil(uuid, ['Success'], seen)
    expect(seen).toEqual(
      new Set(['Submitted', 'FullyDispatched', 'FullyExecuting', 'UploadingResults', 'Success'])
    )
    expect(done.completedInstances).toHaveLength(4)
  })

  it('an advanced range with secrets, tags, labels, every hardware constraint, retries and failures', async () => {
    emulator = await fastEmulator({ timings: STATE_TIMINGS })
    const uuid = await create(
      helloBody({
        instanceCount: undefined,
        advancedRanges: '1-3,7',
        shortname: 'contract-shapes',
        constants: [
          { key: 'QARNOT_SECRET__TOKEN', value: 'hidden' },
          { key: 'PLAIN', value: 'shown' },
          { key: 'DOCKER_CMD', value: "sh -c 'sleep 0.1; exit $((INSTANCE_ID % 2))'" }
        ],
        tags: ['contract', 'github-actions'],
        labels: { 'github-repository': 'o/r', 'github-run-id': '42' },
        hardwareConstraints: EVERY_HARDWARE_CONSTRAINT,
        retrySettings: { maxTotalRetries: 3, maxPerInstanceRetries: 1 },
        schedulingType: 'OnDemand',
        autoDeleteOnCompletion: true,
        completionTimeToLive: '1.00:00:00'
      })
    )
    const seen = new Set<string>()
    const done = await readUntil(uuid, ['Failure'], seen)
    expect(seen).toContain('FullyExecuting')
    expect(done).toMatchObject({ schedulingType: 'onDemand', instanceCount: 0, advancedRanges: '1-3,7' })
    expect(done.constants).toContainEqual({ key: 'QARNOT_SECRET__TOKEN', value: '[SECRET]' })
    const attempts = (done.completedInstances as { executionAttemptCount: number }[]).map(
      i => i.executionAttemptCount
    )
    expect(Math.max(...attempts)).toBe(2)
  })

  it('an aborted task, in PendingCancel and Cancelled', async () => {
    emulator = await fastEmulator({ timings: STATE_TIMINGS })
    const uuid = await create(
      helloBody({ instanceCount: 2, constants: [{ key: 'DOCKER_CMD', value: 'sleep 30' }] })
    )
    const seen = new Set<string>()
    await readUntil(uuid, ['FullyExecuting'], seen)
    expect((await call(emulator, 'POST', `/tasks/${uuid}/abort`)).status).toBe(200)
    await readUntil(uuid, ['Cancelled'], seen)
    expect(seen).toContain('PendingCancel')
  })

  it('a task beyond the instance quota, in PartiallyDispatched and PartiallyExecuting', async () => {
    emulator = await fastEmulator({ maxRunningInstances: 2, timings: STATE_TIMINGS })
    const uuid = await create(helloBody({ constants: [{ key: 'DOCKER_CMD', value: 'sleep 0.2' }] }))
    const seen = new Set<string>()
    await readUntil(uuid, ['Success'], seen)
    expect(seen).toContain('PartiallyDispatched')
    expect(seen).toContain('PartiallyExecuting')
  })

  it('the lists of GET /tasks?tag=', async () => {
    emulator = await fastEmulator()
    await create(helloBody({ tags: ['a', 'b'], constants: [{ key: 'DOCKER_CMD', value: 'sleep 0.2' }] }))
    await create(helloBody({ tags: ['a'], instanceCount: 1 }))
    for (const query of ['', '?tag=a', '?tag=a&tag=b']) {
      const list = (await call(emulator, 'GET', `/tasks${query}`)).json() as TaskDocument[]
      expect(list.length).toBeGreaterThan(0)
      for (const task of list)
        expectValid('TaskOutput', task, `GET /tasks${query}: ${task.uuid} ${task.state}`)
    }
  })

  it('a task in a pool, and the pool itself against PoolOutput', async () => {
    emulator = await fastEmulator()
    const pool = emulator.createPool({ instanceCount: 2, tags: ['contract'], labels: { team: 'ci' } })
    expectValid(
      'PoolOutput',
      (await call(emulator, 'GET', `/pools/${pool.uuid}`)).json(),
      'pool just created'
    )
    const uuid = await create({
      name: 'in pool',
      poolUuid: pool.uuid,
      instanceCount: 3,
      constants: [{ key: 'DOCKER_CMD', value: 'sleep 0.1' }]
    })
    const seen = new Set<string>()
    await readUntil(uuid, ['FullyExecuting', 'PartiallyExecuting'], seen)
    expectValid(
      'PoolOutput',
      (await call(emulator, 'GET', `/pools/${pool.uuid}`)).json(),
      'pool running a task'
    )
    const done = await readUntil(uuid, ['Success'], seen)
    expect(done.poolUuid).toBe(pool.uuid)
    expect((await call(emulator, 'POST', `/pools/${pool.uuid}/close`)).status).toBe(200)
    for (const pools of [(await call(emulator, 'GET', '/pools')).json() as object[]])
      for (const one of pools) expectValid('PoolOutput', one, 'pool in GET /pools after close')
  })

  it("in the emulator's nullCollections quirk mode (null instead of empty collections)", async () => {
    emulator = await fastEmulator({ quirks: { nullCollections: true }, timings: STATE_TIMINGS })
    const uuid = await create(helloBody({ instanceCount: 2 }))
    const seen = new Set<string>()
    const done = await readUntil(uuid, ['Success'], seen)
    expect(seen).toContain('Submitted')
    expect(done.errors).toBeNull()
  })
})

describe('the contract validator', () => {
  it('refuses what the schema refuses, with readable errors', () => {
    const errors = validate('TaskOutput', {
      uuid: 'not-a-uuid',
      state: 'Success',
      endDate: null,
      executionTime: '25 seconds',
      invented: true,
      schedulingType: 'Flex',
      hardwareConstraints: [{ discriminator: 'MinimumCoreHardwareConstraint', cpuModel: 'x' }],
      completedInstances: [{ instanceId: 1.5, error: null }]
    })
    expect(errors).toEqual(
      expect.arrayContaining([
        '(root): unknown property "invented"',
        '/uuid: must match format "uuid"',
        '/endDate: must be string',
        '/executionTime: must match format "date-span"',
        '/schedulingType: must be equal to one of the allowed values ["flex","onDemand","reserved"]',
        '/hardwareConstraints/0: unknown property "cpuModel"',
        '/completedInstances/0/instanceId: must be integer'
      ])
    )
  })

  it('reads .NET time spans and dates as the API writes them', () => {
    const times = {
      executionTime: '1.02:03:04.1000003',
      wallTime: '00:00:25',
      endDate: '0001-01-01T00:00:00Z'
    }
    expect(validate('TaskOutput', { ...times, creationDate: '2019-11-08T10:54:11.1234567Z' })).toEqual([])
  })
})
