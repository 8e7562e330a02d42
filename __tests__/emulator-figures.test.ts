/**
 * The credits and carbon services of the emulator (docs/qarnot-api.md §9, docs/emulator.md): their paths, their
 * shapes, and figures that follow from what the task ran.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import {
  CREDITS_PER_CORE_SECOND,
  DEFAULT_DATACENTER,
  QARNOT_ERF,
  QARNOT_PUE,
  WATTS_PER_CORE,
  carbonFactsOf
} from '../emulator/figures.js'
import type { QarnotEmulator } from '../emulator/server.js'
import { call, fastEmulator, helloBody, waitForState } from './helpers/emulator.js'

let emulator: QarnotEmulator
beforeEach(async () => {
  emulator = await fastEmulator()
})
afterEach(async () => {
  await emulator.stop()
})

async function finishedTask(command = 'sleep 0.3', instanceCount = 2): Promise<Record<string, unknown>> {
  const answer = await call(
    emulator,
    'POST',
    '/tasks',
    helloBody({ instanceCount, shortname: 'figures-1', constants: [{ key: 'DOCKER_CMD', value: command }] })
  )
  return waitForState(emulator, (answer.json() as { uuid: string }).uuid, ['Success', 'Failure'])
}

const SNAKE_KEYS = [
  'total_consumed_energy_Wh',
  'total_energy_it_Wh',
  'total_reused_energy_Wh',
  'qarnot_carbon_footprint',
  'equivalent_datacenter_name',
  'equivalent_DC_carbon_footprint',
  'saved_carbon_footprint_compute',
  'saved_carbon_footprint_heat',
  'saved_carbon_footprint_compute_heat',
  'saved_carbon_footprint_percent',
  'PUE',
  'ERE',
  'ERF',
  'WUE'
]

describe('GET /credits/v1/tasks/{uuid}/credits', () => {
  it('answers {"credits": number} from the execution seconds of every instance', async () => {
    const task = await finishedTask()
    const answer = await call(emulator, 'GET', `/credits/v1/tasks/${String(task.uuid)}/credits`)
    expect(answer.status).toBe(200)
    expect(answer.headers.get('content-type')).toContain('application/json')
    const { credits } = answer.json() as { credits: number }
    const seconds = (task.completedInstances as { execTimeSec: number }[]).reduce(
      (s, i) => s + i.execTimeSec,
      0
    )
    expect(seconds).toBeGreaterThan(0.5)
    expect(credits).toBeCloseTo(seconds * CREDITS_PER_CORE_SECOND, 5)
    expect(Object.keys(answer.json() as object)).toEqual(['credits'])
  })

  it('takes the path with or without /v1 before it and the service version, Tasks in any case; counts one endpoint', async () => {
    const task = await finishedTask()
    const uuid = String(task.uuid)
    emulator.resetCounters()
    for (const path of [
      `/credits/v1/tasks/${uuid}/credits`,
      `/v1/credits/v1/tasks/${uuid}/credits`,
      `/credits/tasks/${uuid}/credits`,
      `/credits/v1/Tasks/${uuid}/credits`
    ])
      expect([path, (await call(emulator, 'GET', path)).status]).toEqual([path, 200])
    expect(emulator.requestCount('GET /credits/v1/tasks/{uuid}/credits')).toBe(4)
    expect(emulator.requestCount()).toBe(4)
  })

  it('404 for an unknown task, and for a shortname (the service takes uuids); 401 without the token', async () => {
    await finishedTask()
    const unknown = await call(
      emulator,
      'GET',
      '/credits/v1/tasks/62e80aae-d20a-4608-b873-ec8bff991733/credits'
    )
    expect([unknown.status, unknown.json()]).toEqual([404, { message: 'Task not found.' }])
    expect((await call(emulator, 'GET', '/credits/v1/tasks/figures-1/credits')).status).toBe(404)
    const uuid = emulator.allTasks()[0].uuid
    expect((await call(emulator, 'GET', `/credits/v1/tasks/${uuid}/credits`, undefined, null)).status).toBe(
      401
    )
    expect((await call(emulator, 'POST', `/credits/v1/tasks/${uuid}/credits`)).status).toBe(405)
  })

  it('a deleted task is unknown', async () => {
    const task = await finishedTask()
    await call(emulator, 'DELETE', `/tasks/${String(task.uuid)}`)
    expect((await call(emulator, 'GET', `/credits/v1/tasks/${String(task.uuid)}/credits`)).status).toBe(404)
  })
})

describe('GET /carbon/v1/tasks/{uuid}/carbon-facts', () => {
  it('answers the facts by the names the Python SDK reads, consistent with one another', async () => {
    const task = await finishedTask()
    const uuid = String(task.uuid)
    const answer = await call(emulator, 'GET', `/carbon/v1/Tasks/${uuid}/carbon-facts`)
    expect(answer.status).toBe(200)
    const facts = answer.json() as Record<string, number> & { equivalent_datacenter_name: string }
    expect(Object.keys(facts).sort()).toEqual([...SNAKE_KEYS].sort())
    const seconds = (task.completedInstances as { execTimeSec: number }[]).reduce(
      (s, i) => s + i.execTimeSec,
      0
    )
    expect(facts.total_energy_it_Wh).toBeCloseTo((seconds * WATTS_PER_CORE) / 3600, 4)
    expect(facts.total_consumed_energy_Wh).toBeCloseTo(facts.total_energy_it_Wh * QARNOT_PUE, 5)
    expect(facts.total_reused_energy_Wh).toBeCloseTo(facts.total_consumed_energy_Wh * QARNOT_ERF, 5)
    expect(facts.PUE).toBeCloseTo(QARNOT_PUE, 5)
    expect(facts.ERF).toBeCloseTo(QARNOT_ERF, 5)
    expect(facts.ERE).toBeCloseTo(QARNOT_PUE * (1 - QARNOT_ERF), 5)
    expect(facts.WUE).toBe(0)
    expect(facts.equivalent_datacenter_name).toBe(DEFAULT_DATACENTER)
    expect(facts.qarnot_carbon_footprint).toBeGreaterThan(0)
    expect(facts.equivalent_DC_carbon_footprint).toBeGreaterThan(facts.qarnot_carbon_footprint)
    expect(facts.saved_carbon_footprint_compute).toBeCloseTo(
      facts.equivalent_DC_carbon_footprint - facts.qarnot_carbon_footprint,
      5
    )
    expect(facts.saved_carbon_footprint_compute_heat).toBeCloseTo(
      facts.saved_carbon_footprint_compute + facts.saved_carbon_footprint_heat,
      5
    )
    expect(facts.saved_carbon_footprint_percent).toBeGreaterThan(0)
    expect(facts.saved_carbon_footprint_percent).toBeLessThan(100)
  })

  it('names the comparison datacenter asked for (comparisonDatacenter, read ignoring case)', async () => {
    const task = await finishedTask()
    const path = `/carbon/v1/tasks/${String(task.uuid)}/carbon-facts`
    const named = (await call(emulator, 'GET', `${path}?comparisonDatacenter=My%20DC`)).json() as Record<
      string,
      unknown
    >
    expect(named.equivalent_datacenter_name).toBe('My DC')
    const otherCase = (await call(emulator, 'GET', `${path}?comparisonDataCenter=Other`)).json() as Record<
      string,
      unknown
    >
    expect(otherCase.equivalent_datacenter_name).toBe('Other')
    expect(emulator.requestCount('GET /carbon/v1/tasks/{uuid}/carbon-facts')).toBe(2)
  })

  it('has null ratios for a task that never ran, and 404 for an unknown one', async () => {
    const answer = await call(emulator, 'POST', '/tasks', helloBody())
    const { uuid } = answer.json() as { uuid: string }
    await call(emulator, 'POST', `/tasks/${uuid}/abort`)
    await waitForState(emulator, uuid, ['Cancelled'])
    const facts = (await call(emulator, 'GET', `/carbon/v1/tasks/${uuid}/carbon-facts`)).json() as Record<
      string,
      unknown
    >
    expect(facts).toMatchObject({ total_energy_it_Wh: 0, PUE: null, ERE: null, ERF: null, WUE: null })
    expect((await call(emulator, 'GET', `/credits/v1/tasks/${uuid}/credits`)).json()).toEqual({ credits: 0 })
    const unknown = await call(
      emulator,
      'GET',
      '/carbon/v1/tasks/62e80aae-d20a-4608-b873-ec8bff991733/carbon-facts'
    )
    expect(unknown.status).toBe(404)
  })

  it('computes the same facts in both cases', () => {
    const snake = carbonFactsOf(100, null, 'snake') as unknown as Record<string, unknown>
    const camel = carbonFactsOf(100, null, 'camel') as unknown as Record<string, unknown>
    expect(camel).toMatchObject({
      totalConsumedEnergyWh: snake.total_consumed_energy_Wh,
      totalEnergyITWh: snake.total_energy_it_Wh,
      totalReuseEnergyWh: snake.total_reused_energy_Wh,
      carbonFootprintC02Eq: snake.qarnot_carbon_footprint,
      comparisonDataCenterName: snake.equivalent_datacenter_name,
      equivalentDCCarbonFootprintC02Eq: snake.equivalent_DC_carbon_footprint,
      savedCarbonFootprintPercentage: snake.saved_carbon_footprint_percent,
      pue: snake.PUE,
      wue: snake.WUE
    })
  })
})
