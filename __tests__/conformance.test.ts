/**
 * The conformance suite (conformance/, docs/conformance.md) against the in-process emulator: every scenario passes,
 * records its observations, leaves no task or bucket behind, and never lets the token into its report; a failing
 * API fails the scenario concerned and still cleans up.
 */
import { describe, expect, it } from '@jest/globals'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { renderTable, runConformance } from '../conformance/run.js'
import { SCENARIOS } from '../conformance/scenarios.js'
import { PROJECT_ROOT } from '../src/local-runner/runner.js'
import { emulatorsOfThisFile } from './helpers/emulator.js'

const startEmulator = emulatorsOfThisFile()

describe('the conformance suite against the emulator', () => {
  it('bounds a scenario in time and cleans up after it', async () => {
    const emulator = await startEmulator({
      faults: [{ endpoint: 'POST /tasks/{uuid}/abort', fault: { type: 'delay', ms: 800 } }]
    })
    const report = await runConformance({
      apiUrl: emulator.url,
      token: emulator.token,
      target: 'emulator',
      only: ['cancel'],
      scenarioTimeoutMs: 300
    })
    const [cancel] = report.scenarios
    expect(cancel.outcome).toBe('fail')
    expect(cancel.failures).toEqual(['scenario not done after 300 ms'])
    expect(emulator.allTasks()).toEqual([])
  })

  it('passes every scenario, records observations and cleans up', async () => {
    const emulator = await startEmulator({ token: 'conformance-secret-token-1234' })
    const report = await runConformance({ apiUrl: emulator.url, token: emulator.token, target: 'emulator' })

    const outcomes = Object.fromEntries(report.scenarios.map(s => [s.name, s.failures]))
    expect(outcomes).toEqual(Object.fromEntries(SCENARIOS.map(s => [s.name, []])))
    expect(report.passed).toBe(true)
    for (const scenario of report.scenarios) {
      expect(Object.keys(scenario.observed).length).toBeGreaterThan(2)
      expect(scenario.summary).not.toBe('')
      expect(scenario.cleanupProblems).toEqual([])
    }
    const observed = (name: string) => report.scenarios.find(s => s.name === name)?.observed ?? {}
    expect(observed('ranges').completedInstanceIds).toEqual([0, 1, 5])
    expect(observed('cancel').abortAgainStatus).toBe(403)
    // The emulator matches resultsWhitelist against the relative path, as docs/qarnot-api.md §8 says.
    expect(observed('files').whitelistMatchedAgainst).toEqual([
      'the path relative to $TASK_PATH (out/result.txt)'
    ])
    expect(observed('files').whitelistAsDocumented).toBe(true)
    expect(observed('lookup').listEntry).toMatchObject({ completedInstances: 'array(2)' })

    // Nothing left behind: tasks deleted, buckets removed.
    expect(emulator.allTasks()).toEqual([])
    const storage = emulator.startedStorage
    expect(storage).toBeDefined()
    expect(readdirSync(storage?.directory ?? '').filter(name => name.startsWith('qconf-'))).toEqual([])

    expect(JSON.stringify(report)).not.toContain(emulator.token)
    const table = renderTable(report)
    expect(table).toContain('7 passed, 0 failed')
    expect(table).not.toContain(emulator.token)
  })

  it('passes against the answers docs/qarnot-api.md allows besides (emulator quirks)', async () => {
    const emulator = await startEmulator({
      quirks: {
        jsonStringOutput: true,
        nullCollections: true,
        finishedWithoutInstances: 'null',
        legacyUploadingState: true,
        dotNetTimes: true,
        creditsAnswer: 404,
        carbonAnswer: 403
      }
    })
    const report = await runConformance({ apiUrl: emulator.url, token: emulator.token, target: 'emulator' })
    expect(report.scenarios.filter(s => s.outcome === 'fail').map(s => [s.name, s.failures])).toEqual([])
    const observed = (name: string) => report.scenarios.find(s => s.name === name)?.observed ?? {}
    expect(observed('output').taskStdoutForm).toBe('json-string')
    expect(observed('ranges').completedInstances).toBe('null')
    expect(observed('credits').credits).toMatchObject({ status: 404 })
  })

  it('fails the scenario whose check fails, and still deletes its tasks', async () => {
    const emulator = await startEmulator({
      faults: [{ endpoint: 'POST /tasks/{uuid}/abort', fault: { type: 'status', status: 500 }, times: 1 }]
    })
    const report = await runConformance({
      apiUrl: emulator.url,
      token: emulator.token,
      target: 'emulator',
      only: ['cancel', 'output']
    })
    expect(report.passed).toBe(false)
    const cancel = report.scenarios.find(s => s.name === 'cancel')
    expect(cancel?.outcome).toBe('fail')
    expect(cancel?.failures).toContain('POST /tasks/{uuid}/abort answered 500')
    expect(report.scenarios.find(s => s.name === 'output')?.outcome).toBe('pass')
    expect(renderTable(report)).toContain('1 passed, 1 failed')
    expect(emulator.allTasks()).toEqual([])
  })
})

describe('the conformance workflow', () => {
  const workflow = parse(readFileSync(join(PROJECT_ROOT, '.github', 'workflows', 'conformance.yml'), 'utf8'))

  it('runs weekly and by hand, only when the repository has a QARNOT_TOKEN secret', () => {
    expect(workflow.on.schedule).toHaveLength(1)
    expect(workflow.on).toHaveProperty('workflow_dispatch')
    const job = workflow.jobs['real-api']
    expect(job.needs).toBe('token')
    expect(job.if).toBe("needs.token.outputs.present == 'true'")
    expect(job.env.QARNOT_TOKEN).toBe('${{ secrets.QARNOT_TOKEN }}')
    expect(workflow.jobs.token.steps[0].env.QARNOT_TOKEN).toBe('${{ secrets.QARNOT_TOKEN }}')
  })

  it('runs npm run conformance on node 24 and keeps the observations', () => {
    const steps = workflow.jobs['real-api'].steps as {
      uses?: string
      run?: string
      with?: Record<string, unknown>
      if?: string
    }[]
    expect(steps.find(s => s.uses?.startsWith('actions/setup-node'))?.with?.['node-version']).toBe(24)
    expect(steps.map(s => s.run)).toContain('npm ci')
    const run = steps.find(s => s.run?.startsWith('npm run conformance'))
    expect(run?.run).toContain('--json conformance-observations.json')
    const upload = steps.find(s => s.uses?.startsWith('actions/upload-artifact'))
    expect(upload?.with?.path).toBe('conformance-observations.json')
    expect(upload?.if).toContain('always()')
  })
})
