/** "Re-run failed jobs": attempt 2 of a run computes only what did not succeed in attempt 1, and reports it all. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { QarnotEmulator } from '../emulator/server.js'
import { run } from '../src/main.js'
import { systemClock } from '../src/task/clock.js'
import { boundRerun, planRerun, stepTag, type EarlierTask, type RerunPlan } from '../src/task/rerun.js'
import { fastEmulator } from './helpers/emulator.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'

let emulator: QarnotEmulator
let marker: string
beforeEach(async () => {
  emulator = await fastEmulator()
  marker = join(mkdtempSync(join(tmpdir(), 'rerun-')), 'fixed')
})
afterEach(async () => {
  await emulator.stop()
})

/** Odd instances fail until the marker file exists: a transient failure the re-run gets past. */
const flaky = () =>
  `sh -c 'echo run of \${INSTANCE_ID}; test $((\${INSTANCE_ID} % 2)) = 0 || test -e ${marker}'`

function env(attempt: number, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    RUNNER_TEMP: tmpdir(),
    GITHUB_REPOSITORY: 'octo-org/render',
    GITHUB_WORKFLOW: 'nightly',
    GITHUB_RUN_ID: '555',
    GITHUB_RUN_ATTEMPT: String(attempt),
    GITHUB_JOB: 'frames',
    GITHUB_ACTION: 'qarnot',
    ...extra
  }
}

async function attempt(
  n: number,
  inputs: Record<string, string>,
  extra: Record<string, string> = {}
): Promise<RecordingIO> {
  const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, ...inputs })
  await run({ io, env: env(n, extra), clock: systemClock, stop: new AbortController().signal })
  return io
}

describe('rerun: failed (the default)', () => {
  it('a collector trusts a kept label only as far as it checks out', async () => {
    // A task of another step (no step tag in common), and a label naming it, forged on a task of this step.
    const other = await attempt(
      1,
      { 'instance-count': '10', command: 'echo other ${INSTANCE_ID}' },
      { GITHUB_JOB: 'other' }
    )
    const submit = { 'instance-count': '4', command: flaky(), wait: 'false' }
    const submitted = await attempt(1, submit)
    await attempt(1, { task: submitted.outputs['task-uuid'] }, { GITHUB_ACTION: 'collect' })
    writeFileSync(marker, '')
    const resubmitted = await attempt(2, submit)
    const task = emulator.allTasks().find(t => t.uuid === resubmitted.outputs['task-uuid'])
    for (const [label, expected] of [
      [`${other.outputs['task-uuid']}=0,2`, /which is not a task of this step; they count as failed/],
      [`${submitted.outputs['task-uuid']}=0;${submitted.outputs['task-uuid']}=2`, /names a task twice/],
      [
        `${submitted.outputs['task-uuid']}=0-2147483647`,
        /names more than the 100000 instances the action reads/
      ],
      [`${submitted.outputs['task-uuid']}=0-1`, /names instances it computes itself/],
      [`${submitted.outputs['task-uuid']}=0,2,7`, /which did not run them; they count as failed/]
    ] as const) {
      task!.body.labels = { ...task!.body.labels, 'qarnot-action-kept': label }
      const collected = await attempt(2, { task: task!.uuid }, { GITHUB_ACTION: 'collect' })
      expect(collected.log.join('\n')).toMatch(expected)
      // A label it cannot use for any id (too long to read) leaves the re-run's own; any other fails the ids named.
      if (!label.includes('2147483647')) expect(collected.outputs['qarnot-outcome']).toBe('failure')
    }
  })

  it('submit (wait: false) then collect (task:) across a re-run: the collector reports the kept instances too', async () => {
    const submit = { 'instance-count': '4', command: flaky(), wait: 'false' }
    const collect = (uuid: string) => attempt(1, { task: uuid }, { GITHUB_ACTION: 'collect' })
    const submitted = await attempt(1, submit)
    expect((await collect(submitted.outputs['task-uuid'])).outputs['failed-instances']).toBe('1,3')
    writeFileSync(marker, '')
    const resubmitted = await attempt(2, submit)
    const rerunTask = emulator.allTasks()[1]
    expect(rerunTask.body.advancedRanges).toBe('1,3')
    expect(rerunTask.body.labels?.['qarnot-action-kept']).toBe(`${submitted.outputs['task-uuid']}=0,2`)
    const collected = await attempt(
      2,
      { task: resubmitted.outputs['task-uuid'] },
      { GITHUB_ACTION: 'collect' }
    )
    expect(collected.failures).toEqual([])
    expect(collected.outputs).toMatchObject({
      'qarnot-outcome': 'success',
      'instance-count': '4',
      'succeeded-count': '4'
    })
    for (let id = 0; id < 4; id++) expect(collected.outputs.stdout).toContain(`${id}> run of ${id}\n`)
    expect(collected.summary).toMatch(/0,2 from task [0-9a-f-]+ \(attempt 1\)/)
  })

  it('attempt 2 computes exactly the instances that failed (1,3) and reports all four passing', async () => {
    const first = await attempt(1, { 'instance-count': '4', command: flaky() })
    expect(first.outputs['failed-instances']).toBe('1,3')
    writeFileSync(marker, '')
    const second = await attempt(2, { 'instance-count': '4', command: flaky() })
    const tasks = emulator.allTasks()
    expect(tasks).toHaveLength(2)
    expect(tasks[1].body.advancedRanges).toBe('1,3')
    expect(second.failures).toEqual([])
    expect(second.outputs).toMatchObject({
      'qarnot-outcome': 'success',
      'instance-count': '4',
      'failed-instances': '',
      'succeeded-count': '4'
    })
    // Every instance's output, the kept ones read back from the first task.
    for (let id = 0; id < 4; id++) expect(second.outputs.stdout).toContain(`${id}> run of ${id}\n`)
    expect(second.summary).toContain('✅ Qarnot task succeeded: 4/4 instances')
    expect(second.summary).toMatch(
      /Re-running 2 instances that did not succeed before \(1,3\).*0,2 from task [0-9a-f-]+ \(attempt 1\)/
    )
  })

  it('a collector whose re-run names an earlier task that is gone fails, naming the instances it could not read', async () => {
    const submit = { 'instance-count': '4', command: flaky(), wait: 'false' }
    const submitted = await attempt(1, submit)
    await attempt(1, { task: submitted.outputs['task-uuid'] }, { GITHUB_ACTION: 'collect' })
    writeFileSync(marker, '')
    const resubmitted = await attempt(2, submit)
    await fetch(`${emulator.url}/tasks/${submitted.outputs['task-uuid']}`, {
      method: 'DELETE',
      headers: { Authorization: emulator.token }
    })
    const collected = await attempt(
      2,
      { task: resubmitted.outputs['task-uuid'] },
      { GITHUB_ACTION: 'collect' }
    )
    expect(collected.log.join('\n')).toMatch(
      /instances 0,2 were to come from task [0-9a-f-]+, which is gone; they count as failed/
    )
    expect(collected.outputs).toMatchObject({
      'qarnot-outcome': 'failure',
      'instance-count': '4',
      'succeeded-count': '2',
      'failed-instances': '0,2'
    })
  })

  it('has nothing to compute when every instance succeeded before, and reports the earlier results', async () => {
    await attempt(1, { 'instance-count': '3', command: 'echo fine ${INSTANCE_ID}' })
    const second = await attempt(2, { 'instance-count': '3', command: 'echo fine ${INSTANCE_ID}' })
    expect(emulator.allTasks()).toHaveLength(1)
    expect(second.failures).toEqual([])
    expect(second.outputs).toMatchObject({ 'qarnot-outcome': 'success', 'instance-count': '3' })
    expect(second.outputs.stdout).toBe('0> fine 0\n1> fine 1\n2> fine 2\n')
    expect(second.log.join('\n')).toMatch(/Every instance succeeded in an earlier attempt/)
  })

  it('falls back to a full run, saying why, when the earlier task is gone', async () => {
    await attempt(1, { 'instance-count': '2', command: flaky() })
    for (const task of emulator.allTasks())
      await fetch(`${emulator.url}/tasks/${task.uuid}`, {
        method: 'DELETE',
        headers: { Authorization: emulator.token }
      })
    const second = await attempt(2, { 'instance-count': '2', command: flaky() })
    expect(emulator.allTasks()).toHaveLength(1)
    expect(emulator.allTasks()[0].body.instanceCount).toBe(2)
    expect(second.summary).toMatch(
      /Every instance is computed: no task of an earlier attempt of this step was found/
    )
  })

  it("never lets two matrix legs pick up each other's task", async () => {
    await attempt(1, { 'instance-range': '0-1', command: flaky() })
    await attempt(1, { 'instance-range': '2-3', command: flaky() })
    writeFileSync(marker, '')
    const legA = await attempt(2, { 'instance-range': '0-1', command: flaky() })
    const legB = await attempt(2, { 'instance-range': '2-3', command: flaky() })
    const created = emulator.allTasks().slice(2)
    expect(created.map(t => t.body.advancedRanges)).toEqual(['1', '3'])
    expect(legA.outputs['instance-count']).toBe('2')
    expect(JSON.parse(legA.outputs.instances).map((r: { id: number }) => r.id)).toEqual([0, 1])
    expect(JSON.parse(legB.outputs.instances).map((r: { id: number }) => r.id)).toEqual([2, 3])
  })

  it('runs everything, saying why, when two legs made tasks it cannot tell apart', async () => {
    await attempt(1, { 'instance-count': '2', command: flaky() })
    await attempt(1, { 'instance-count': '2', command: flaky() })
    const second = await attempt(2, { 'instance-count': '2', command: flaky() })
    expect(emulator.allTasks()[2].body.instanceCount).toBe(2)
    expect(second.summary).toMatch(/cannot be told apart: give each a distinct label/)
  })
})

describe('earlier tasks are read whole, not judged from the list', () => {
  /** The list as the OpenAPI document's example shows it: no completed instance, every range null. */
  const trimmedList = {
    endpoint: 'GET /tasks',
    times: 10,
    fault: {
      type: 'transform' as const,
      transform: (answer: { status: number; body: string; contentType: string }) => ({
        ...answer,
        body: JSON.stringify(
          (JSON.parse(answer.body) as Record<string, unknown>[]).map(entry => ({
            ...entry,
            completedInstances: null,
            status: {
              succeededRange: null,
              executedRange: null,
              failedRange: null,
              failedOnlyRange: null,
              cancelledRange: null
            }
          }))
        )
      })
    }
  }

  it('re-runs exactly the failed ids when the list entries carry no instance', async () => {
    await attempt(1, { 'instance-count': '4', command: flaky() })
    writeFileSync(marker, '')
    emulator.faults.add(trimmedList)
    const second = await attempt(2, { 'instance-count': '4', command: flaky() })
    expect(emulator.allTasks()[1].body.advancedRanges).toBe('1,3')
    expect(second.outputs).toMatchObject({ 'qarnot-outcome': 'success', 'succeeded-count': '4' })
    expect(emulator.requestCount('GET /tasks/{uuid}')).toBeGreaterThan(0)
  })

  it("passes over tasks of other steps when the server ignores the list's tag filter", async () => {
    await attempt(1, { 'instance-count': '2', command: flaky() })
    // Another step of the same run, with other inputs: its task must not count as this step's.
    await attempt(1, { 'instance-count': '2', command: 'echo other ${INSTANCE_ID}' })
    writeFileSync(marker, '')
    const everyTask = (await (
      await fetch(`${emulator.url}/tasks`, { headers: { Authorization: emulator.token } })
    ).json()) as Record<string, unknown>[]
    expect(everyTask).toHaveLength(2)
    emulator.faults.add({
      endpoint: 'GET /tasks',
      fault: {
        type: 'transform',
        transform: answer => ({
          ...answer,
          body: JSON.stringify(everyTask.map(task => ({ ...task, tags: null })))
        })
      }
    })
    await attempt(2, { 'instance-count': '2', command: flaky() })
    expect(emulator.allTasks()[2].body.advancedRanges).toBe('1')
  })

  it('tells matrix legs apart when they differ only by their files', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'rerun-legs-'))
    writeFileSync(join(workspace, 'a.txt'), 'a')
    writeFileSync(join(workspace, 'b.txt'), 'b')
    const legEnv = { GITHUB_WORKSPACE: workspace }
    await attempt(1, { 'instance-count': '2', command: flaky(), resources: 'a.txt' }, legEnv)
    await attempt(1, { 'instance-count': '2', command: flaky(), resources: 'b.txt' }, legEnv)
    writeFileSync(marker, '')
    const legA = await attempt(2, { 'instance-count': '2', command: flaky(), resources: 'a.txt' }, legEnv)
    expect(emulator.allTasks()[2].body.advancedRanges).toBe('1')
    expect(legA.summary).not.toMatch(/cannot be told apart/)
  })
})

describe('the range a re-run builds', () => {
  it('computes everything, saying why, when Qarnot refuses the built range as too long', async () => {
    await attempt(1, { 'instance-count': '4', command: flaky() })
    writeFileSync(marker, '')
    emulator.faults.add({
      endpoint: 'POST /tasks',
      fault: { type: 'status', status: 400, message: 'Invalid task file. Invalid fields: range-length' }
    })
    const second = await attempt(2, { 'instance-count': '4', command: flaky() })
    const created = emulator.allTasks()
    expect(created).toHaveLength(2)
    expect(created[1].body.instanceCount).toBe(4)
    expect(created[1].body.advancedRanges).toBeUndefined()
    expect(second.failures).toEqual([])
    expect(second.outputs).toMatchObject({ 'qarnot-outcome': 'success', 'succeeded-count': '4' })
    expect(second.summary).toMatch(/Every instance is computed: Qarnot refused the range/)
    expect(second.summary).not.toContain("'instance-range'")
  })

  it('is bounded: every other instance of 1,000 failing computes everything', () => {
    const plan: RerunPlan = {
      kind: 'some',
      rerun: Array.from({ length: 500 }, (_, i) => ({ first: 2 * i, last: 2 * i })),
      kept: [],
      warnings: []
    }
    const bounded = boundRerun(plan, 0)
    expect(bounded.kind).toBe('all')
    expect(bounded.kind === 'all' && bounded.reason).toMatch(
      /500 instances that did not succeed before form a range of 1944 characters, longer than the 1024/
    )
    // A range no longer than the user's own, which Qarnot took in the first attempt, is sent as built.
    expect(boundRerun(plan, 2000)).toBe(plan)
    const short: RerunPlan = { ...plan, rerun: [{ first: 1, last: 3 }] }
    expect(boundRerun(short, 0)).toBe(short)
  })
})

describe('rerun: all', () => {
  it('computes every instance again', async () => {
    await attempt(1, { 'instance-count': '4', command: flaky() })
    writeFileSync(marker, '')
    const second = await attempt(2, { 'instance-count': '4', command: flaky(), rerun: 'all' })
    expect(emulator.allTasks()[1].body.instanceCount).toBe(4)
    expect(second.outputs['qarnot-outcome']).toBe('success')
  })
})

describe('planRerun and the step tag', () => {
  it('takes each instance from the latest attempt that ran it', () => {
    const first: EarlierTask = {
      uuid: 'a',
      attempt: 1,
      ids: [{ first: 0, last: 3 }],
      document: {
        uuid: 'a',
        state: 'Failure',
        instanceCount: 4,
        status: { succeededRange: '0,2', failedOnlyRange: '1,3' }
      }
    }
    const second: EarlierTask = {
      uuid: 'b',
      attempt: 2,
      ids: [
        { first: 1, last: 1 },
        { first: 3, last: 3 }
      ],
      document: {
        uuid: 'b',
        state: 'Failure',
        advancedRanges: '1,3',
        status: { succeededRange: '1', failedOnlyRange: '3' }
      }
    }
    const plan = planRerun([{ first: 0, last: 3 }], [second, first], 3)
    expect(plan.kind).toBe('some')
    if (plan.kind !== 'some') return
    expect(plan.rerun).toEqual([{ first: 3, last: 3 }])
    const kept = Object.fromEntries(plan.kept.map(k => [k.task.uuid, k.instances.map(i => i.id)]))
    expect(kept).toEqual({ a: [0, 2], b: [1] })
  })

  it('is the same across attempts and differs between steps and legs', () => {
    const place = { repository: 'o/r', workflow: 'w', runId: '1', attempt: 1, job: 'j', action: 'a' }
    expect(stepTag({ ...place, attempt: 2 }, { range: '0-1' })).toBe(stepTag(place, { range: '0-1' }))
    expect(stepTag(place, { range: '2-3' })).not.toBe(stepTag(place, { range: '0-1' }))
    expect(stepTag({ ...place, action: 'b' }, { range: '0-1' })).not.toBe(stepTag(place, { range: '0-1' }))
    expect(stepTag({ ...place, runId: undefined }, {})).toBeUndefined()
    expect(stepTag(place, {})).toMatch(/^gha-step-[0-9a-f]{24}$/)
  })
})
