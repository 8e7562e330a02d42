/**
 * Infrastructure failures are retried, command failures never: the classifier on its own, the emulator's platform
 * failures over HTTP, and run() against the emulator (follow-up tasks over exactly the failed ids).
 */
import { describe, expect, it } from '@jest/globals'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EmulatorOptions, QarnotEmulator } from '../emulator/server.js'
import type { PlatformFailureQuirk } from '../emulator/platform-failures.js'
import { run } from '../src/main.js'
import type { CompletedInstanceWire, TaskOutputWire } from '../src/qarnot/types.js'
import { systemClock } from '../src/task/clock.js'
import { failureCauses, platformFailures } from '../src/task/failure-cause.js'
import type { Settings } from '../src/inputs/settings.js'
import { followUpRangeProblem } from '../src/step/infrastructure-retry.js'
import { call, createTask, emulatorsOfThisFile, helloBody, waitForState } from './helpers/emulator.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'
import { workspace } from './helpers/storage.js'

const startEmulator = emulatorsOfThisFile()

function entry(id: number, fields: Partial<CompletedInstanceWire> = {}): CompletedInstanceWire {
  return { instanceId: id, state: 'Success', error: null, executionAttemptCount: 1, ...fields }
}

function taskOf(
  completed: CompletedInstanceWire[],
  status: TaskOutputWire['status'] = {},
  count = completed.length
): TaskOutputWire {
  return { uuid: 'u', state: 'Failure', instanceCount: count, completedInstances: completed, status }
}

const all = (count: number) => [{ first: 0, last: count - 1 }]

describe('failureCauses (pure)', () => {
  it('a command that exited non-zero is the command’s failure, whatever else is known', () => {
    const task = taskOf(
      [
        entry(0),
        entry(1, { state: 'Failure', error: { code: 'instance-failure', message: 'exit code 1' } }),
        entry(2, { state: 'Failure', error: null, executionAttemptCount: 3 })
      ],
      { succeededRange: '0', failedOnlyRange: '1-2', startedOnceRange: '0-2' }
    )
    const causes = failureCauses(task, all(3))
    expect([...causes.keys()]).toEqual([1, 2])
    expect(causes.get(1)).toEqual({
      cause: 'command',
      reason: 'error code instance-failure is not one that names the platform'
    })
    expect(causes.get(2)).toEqual({ cause: 'command', reason: 'the API does not say the platform failed it' })
    expect(platformFailures(task, all(3)).size).toBe(0)
  })

  it.each([
    ['instance-preempted', /its node was preempted \(error code instance-preempted\)/],
    ['NODE-LOST', /its node was lost/],
    [' image-pull-failed ', /its image could not be pulled/]
  ])('a platform error code (%j) makes it the platform’s', (code, reason) => {
    const task = taskOf([entry(0), entry(1, { state: 'Failure', error: { code, message: 'x' } })])
    expect(platformFailures(task, all(2)).get(1)).toMatch(reason)
  })

  it('two entries for one id: the platform’s only when every failing entry says so', () => {
    const task = taskOf([
      entry(0, { state: 'Failure', error: { code: 'node-lost' } }),
      entry(0, { state: 'Failure', error: { code: 'instance-failure' } })
    ])
    expect(failureCauses(task, all(1)).get(0)?.cause).toBe('command')
  })

  it('never started (outside a startedOnceRange that holds every instance known to have run): the platform’s', () => {
    const status = { succeededRange: '0', failedOnlyRange: '1', startedOnceRange: '0' }
    const task = taskOf([entry(0), entry(1, { state: 'Failure', executionAttemptCount: 0 })], status)
    expect(platformFailures(task, all(2)).get(1)).toMatch(/before its command ever started/)
    // Known only from the failed range: no entry, never started.
    expect(platformFailures(taskOf([entry(0)], status, 2), all(2)).get(1)).toMatch(/ever started/)
  })

  it.each([
    ['absent', { succeededRange: '0', failedOnlyRange: '1' }],
    ['null', { succeededRange: '0', failedOnlyRange: '1', startedOnceRange: null }],
    [
      'missing an instance that succeeded',
      { succeededRange: '0', failedOnlyRange: '1', startedOnceRange: '' }
    ],
    ['garbled', { succeededRange: '0', failedOnlyRange: '1', startedOnceRange: '0-' }]
  ])('a startedOnceRange %s says nothing: the command’s', (_what, status) => {
    const task = taskOf([entry(0), entry(1, { state: 'Failure', executionAttemptCount: 0 })], status)
    expect(failureCauses(task, all(2)).get(1)?.cause).toBe('command')
  })

  it('nothing ran at all: an empty startedOnceRange cannot be checked, so the command’s', () => {
    const task = taskOf([entry(0, { state: 'Failure', executionAttemptCount: 0 })], {
      failedOnlyRange: '0',
      startedOnceRange: ''
    })
    expect(failureCauses(task, all(1)).get(0)?.cause).toBe('command')
  })

  it('an instance that started (attempts > 0) is not taken as never started, whatever the range', () => {
    const task = taskOf([entry(0), entry(1, { state: 'Failure', executionAttemptCount: 1 })], {
      succeededRange: '0',
      startedOnceRange: '0'
    })
    // The range misses instance 1, which ran: the range cannot be believed.
    expect(failureCauses(task, all(2)).get(1)?.cause).toBe('command')
  })

  it('cancelled and never-completed instances are failures of neither kind', () => {
    const task = taskOf([entry(0, { state: 'Cancelled', error: { code: 'node-lost' } })], {
      cancelledRange: '0',
      startedOnceRange: ''
    })
    expect(failureCauses(task, all(2)).size).toBe(0)
  })
})

describe('followUpRangeProblem', () => {
  const settingsOf = (instances: object) => ({ task: { instances } }) as unknown as Settings
  it('sends a follow-up over a range the action would build, and refuses a longer one', () => {
    const count = { kind: 'count', count: 5000, intervals: all(5000) }
    expect(followUpRangeProblem([1, 3, 5], settingsOf(count))).toBeUndefined()
    const everyOther = Array.from({ length: 2500 }, (_, i) => 2 * i + 1)
    expect(followUpRangeProblem(everyOther, settingsOf(count))).toMatch(
      /^their range is \d+ characters, longer than the 1024 the action sends/
    )
    // The user's own range was taken by Qarnot: as long is fine.
    const text = everyOther.map(String).join(',')
    expect(followUpRangeProblem(everyOther, settingsOf({ kind: 'range', text }))).toBeUndefined()
  })
})

async function stateOf(emulator: QarnotEmulator, uuid: string): Promise<TaskOutputWire> {
  return (await waitForState(emulator, uuid, ['Success', 'Failure'])) as unknown as TaskOutputWire
}

describe('emulator: platformFailures', () => {
  it('an image that cannot be pulled: the instance fails unstarted, with its code; the next task runs', async () => {
    const emulator = await startEmulator({
      quirks: { platformFailures: [{ kind: 'image-pull', instanceIds: [1] }] }
    })
    const task = await stateOf(emulator, await createTask(emulator, helloBody({ instanceCount: 3 })))
    expect(task.state).toBe('Failure')
    const failed = task.completedInstances?.find(i => i.instanceId === 1)
    expect(failed).toMatchObject({
      state: 'Failure',
      executionAttemptCount: 0,
      error: { code: 'image-pull-failed' }
    })
    expect(task.status).toMatchObject({
      startedOnceRange: '0,2',
      failedOnlyRange: '1',
      succeededRange: '0,2'
    })
    expect((await call(emulator, 'GET', `/tasks/${task.uuid}/stdout/1`)).text).toBe('')
    const next = await stateOf(emulator, await createTask(emulator, helloBody({ instanceCount: 3 })))
    expect(next.state).toBe('Success')
  })

  it.each([
    ['preempted', 'instance-preempted'],
    ['node-lost', 'node-lost']
  ] as const)(
    '%s: the running instance is killed and fails with %s, no retry spent',
    async (kind, code) => {
      const emulator = await startEmulator({
        quirks: { platformFailures: [{ kind, instanceIds: [0], afterMs: 150, tasks: 2 }] }
      })
      const body = helloBody({
        instanceCount: 2,
        constants: [
          {
            key: 'DOCKER_CMD',
            value: "sh -c 'echo started; test ${INSTANCE_ID} != 0 || sleep 5; echo ended'"
          }
        ],
        retrySettings: { maxPerInstanceRetries: 3 }
      })
      for (let n = 0; n < 2; n++) {
        const task = await stateOf(emulator, await createTask(emulator, body))
        expect(task.completedInstances?.find(i => i.instanceId === 0)).toMatchObject({
          state: 'Failure',
          executionAttemptCount: 1,
          error: { code }
        })
        expect(task.status?.startedOnceRange).toBe('0-1')
        expect((await call(emulator, 'GET', `/tasks/${task.uuid}/stdout/0`)).text).toBe('started\n')
        expect((await call(emulator, 'GET', `/tasks/${task.uuid}/stdout/1`)).text).toBe('started\nended\n')
      }
    },
    20_000
  )
})

/** Instance 1 sleeps long enough to be struck; the others end at once; `last` decides the exit code. */
const command = (last: string) =>
  `sh -c 'echo run of \${INSTANCE_ID}; test \${INSTANCE_ID} != 1 || sleep 0.6; ${last}'`

async function runOn(
  options: EmulatorOptions,
  inputs: Record<string, string>,
  stop = new AbortController().signal,
  extra: { creditsReadMs?: number } = {}
): Promise<{ io: RecordingIO; emulator: QarnotEmulator }> {
  const emulator = await startEmulator(options)
  const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, ...inputs })
  await run({ io, env: { RUNNER_TEMP: tmpdir(), GITHUB_RUN_ID: '7' }, clock: systemClock, stop, ...extra })
  return { io, emulator }
}

const strike = (kind: PlatformFailureQuirk['kind'], tasks = 1): EmulatorOptions => ({
  quirks: { platformFailures: [{ kind, instanceIds: [1], afterMs: 200, tasks }] }
})

describe('run(): infrastructure-retries', () => {
  it.each(['preempted', 'node-lost', 'image-pull'] as const)(
    'an instance failed by the platform (%s) is recovered by a follow-up task over exactly its id',
    async kind => {
      const { io, emulator } = await runOn(strike(kind), { 'instance-count': '3', command: command('true') })
      const tasks = emulator.allTasks()
      expect(tasks).toHaveLength(2)
      expect(tasks[1].body.advancedRanges).toBe('1')
      expect(tasks[1].body.instanceCount ?? 0).toBe(0)
      expect(tasks[1].body.labels?.['qarnot-action-retry-of']).toBe(tasks[0].uuid)
      expect(tasks[1].body.shortname).not.toBe(tasks[0].body.shortname)
      expect(io.failures).toEqual([])
      expect(io.outputs).toMatchObject({
        'qarnot-outcome': 'success',
        'instance-count': '3',
        'succeeded-count': '3',
        'failed-instances': '',
        'task-uuid': tasks[1].uuid
      })
      for (const id of [0, 1, 2]) expect(io.outputs.stdout).toContain(`${id}> run of ${id}\n`)
      const said = new RegExp(
        `Instance 1 recovered after a platform failure: it failed in task ${tasks[0].uuid} .*follow-up task ${tasks[1].uuid} ran it again`
      )
      expect(io.summary).toMatch(said)
      expect(io.log.join('\n')).toMatch(said)
      expect(io.state.taskEnded).toBe('true')
    },
    20_000
  )

  it('a failing command is never re-run: one task, the step fails, the log says why', async () => {
    const { io, emulator } = await runOn(
      {},
      { 'instance-count': '3', command: command('test ${INSTANCE_ID} != 1') }
    )
    expect(emulator.allTasks()).toHaveLength(1)
    expect(io.outputs).toMatchObject({ 'qarnot-outcome': 'failure', 'failed-instances': '1' })
    expect(io.log.join('\n')).toMatch(
      /1 instance \(1\) failed, and the API does not say the platform failed it: the command's failure, never re-run/
    )
    expect(io.summary).not.toMatch(/recovered after a platform failure/)
  }, 20_000)

  it('retries are bounded: struck twice with infrastructure-retries 1, the step fails and says why', async () => {
    const { io, emulator } = await runOn(strike('node-lost', 2), {
      'instance-count': '3',
      command: command('true'),
      'infrastructure-retries': '1'
    })
    const tasks = emulator.allTasks()
    expect(tasks).toHaveLength(2)
    expect(tasks[1].body.advancedRanges).toBe('1')
    expect(io.outputs).toMatchObject({
      'qarnot-outcome': 'failure',
      'failed-instances': '1',
      'succeeded-count': '2'
    })
    expect(io.summary).toMatch(
      new RegExp(
        `Instance 1 failed in task ${tasks[1].uuid} for a reason not its command's \\(its node was lost \\(error code node-lost\\): 1\\) after 1 follow-up task; not re-run: infrastructure-retries is 1, and every retry was used`
      )
    )
    expect(io.summary).toMatch(/Instance 1 failed in task .* and did not succeed in follow-up task/)
  }, 20_000)

  it('with hand-off-after: no follow-up (one handed off would be collected without the instances it keeps)', async () => {
    const { io, emulator } = await runOn(strike('node-lost'), {
      'instance-count': '3',
      command: command('true'),
      'hand-off-after': '1h'
    })
    expect(emulator.allTasks()).toHaveLength(1)
    expect(io.outputs).toMatchObject({ 'qarnot-outcome': 'failure', 'failed-instances': '1' })
    expect(io.summary).toMatch(/not re-run: hand-off-after is set/)
  }, 20_000)

  it('under max-credits the follow-up may spend only what the first task left of the cap', async () => {
    const { io, emulator } = await runOn(
      { ...strike('node-lost'), credits: { perCoreSecond: 1 } },
      { 'instance-count': '3', command: command('sleep 2'), 'max-credits': '5.5' },
      undefined,
      { creditsReadMs: 100 }
    )
    const tasks = emulator.allTasks()
    expect(tasks).toHaveLength(2)
    // Three instances of about 2 s take most of the cap; the follow-up of one more goes past what is left.
    expect(io.outputs['qarnot-outcome']).toBe('over-budget')
    expect(tasks[1].state).toBe('Cancelled')
  }, 30_000)

  it('infrastructure-retries 0: the platform failure is reported, never re-run', async () => {
    const { io, emulator } = await runOn(strike('image-pull'), {
      'instance-count': '3',
      command: command('true'),
      'infrastructure-retries': '0'
    })
    expect(emulator.allTasks()).toHaveLength(1)
    expect(io.outputs['qarnot-outcome']).toBe('failure')
    expect(io.summary).toMatch(/its image could not be pulled.*not re-run: infrastructure-retries is 0/)
  }, 20_000)

  it.each([
    ['-1', /is not a whole number/],
    ['1.5', /is not a whole number/],
    ['two', /is not a whole number/],
    ['6', /6 is too large; the most is 5/],
    ['99999999999999999999', /too large/]
  ])('infrastructure-retries %j is refused before any request', async (value, message) => {
    const { io, emulator } = await runOn({}, { command: 'echo', 'infrastructure-retries': value })
    expect(io.failures).toHaveLength(1)
    expect(io.failures[0]).toMatch(/^Input 'infrastructure-retries': /)
    expect(io.failures[0]).toMatch(message)
    expect(emulator.allTasks()).toHaveLength(0)
    expect(emulator.requestCount('*')).toBe(0)
  })

  it('with resources and results: the follow-up gets the resources, and every instance’s files come back', async () => {
    const root = workspace({ 'in/factor.txt': '7' })
    const emulator = await startEmulator(strike('node-lost'))
    const io = recordingIO({
      token: emulator.token,
      'api-url': emulator.url,
      'instance-count': '3',
      command: `sh -c 'mkdir -p out/\${INSTANCE_ID}; echo \${INSTANCE_ID} x $(cat in/factor.txt) > out/\${INSTANCE_ID}/r.txt; test \${INSTANCE_ID} != 1 || sleep 0.6'`,
      resources: 'in',
      results: 'out'
    })
    const env = { RUNNER_TEMP: tmpdir(), GITHUB_WORKSPACE: root, GITHUB_RUN_ID: '11' }
    await run({ io, env, clock: systemClock, stop: new AbortController().signal })
    expect(emulator.allTasks()).toHaveLength(2)
    expect(io.failures).toEqual([])
    expect(io.outputs['qarnot-outcome']).toBe('success')
    for (const id of [0, 1, 2])
      expect(readFileSync(join(root, 'out', String(id), 'r.txt'), 'utf8')).toBe(`${id} x 7\n`)
  }, 30_000)

  it('Re-run failed jobs after a follow-up: the follow-up is the same leg, and only the command failure runs again', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'infra-')), 'fixed')
    const emulator = await startEmulator(strike('preempted'))
    const flaky = `sh -c 'echo run of \${INSTANCE_ID}; test \${INSTANCE_ID} != 1 || sleep 0.6; test \${INSTANCE_ID} != 3 || test -e ${marker}'`
    const attempt = async (n: number): Promise<RecordingIO> => {
      const io = recordingIO({
        token: emulator.token,
        'api-url': emulator.url,
        'instance-count': '4',
        command: flaky
      })
      const env = {
        RUNNER_TEMP: tmpdir(),
        GITHUB_RUN_ID: '9',
        GITHUB_RUN_ATTEMPT: String(n),
        GITHUB_JOB: 'j'
      }
      await run({ io, env, clock: systemClock, stop: new AbortController().signal })
      return io
    }
    const first = await attempt(1)
    expect(first.outputs['failed-instances']).toBe('3')
    expect(emulator.allTasks().map(t => t.body.advancedRanges ?? null)).toEqual([null, '1'])
    writeFileSync(marker, '')
    const second = await attempt(2)
    const tasks = emulator.allTasks()
    expect(tasks).toHaveLength(3)
    expect(tasks[2].body.advancedRanges).toBe('3')
    expect(second.outputs).toMatchObject({ 'qarnot-outcome': 'success', 'succeeded-count': '4' })
    // Instance 1 comes from the follow-up, the others from the first task.
    expect(second.summary).toMatch(
      new RegExp(`0,2 from task ${tasks[0].uuid} \\(attempt 1\\); 1 from task ${tasks[1].uuid}`)
    )
  }, 30_000)

  it('a cancel during the follow-up aborts it: nothing is left running', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'infra-')), 'second')
    const stop = new AbortController()
    // The first run of instance 0 is preempted; its follow-up (the marker there) runs until it is aborted.
    const slow = `sh -c 'if test -e ${marker}; then sleep 30; fi; touch ${marker}; sleep 5'`
    const emulatorReady = startEmulator({
      quirks: { platformFailures: [{ kind: 'preempted', instanceIds: [0], afterMs: 200 }] }
    })
    const emulator = await emulatorReady
    const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, command: slow })
    const running = run({ io, env: { RUNNER_TEMP: tmpdir() }, clock: systemClock, stop: stop.signal })
    const deadline = Date.now() + 10_000
    while (emulator.allTasks().length < 2 || emulator.allTasks()[1].state !== 'FullyExecuting') {
      if (Date.now() > deadline) throw new Error('the follow-up never ran')
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    stop.abort()
    await running
    const tasks = emulator.allTasks()
    expect(tasks).toHaveLength(2)
    expect(tasks.map(t => t.state)).toEqual(['Failure', 'Cancelled'])
    expect(io.outputs).toMatchObject({ 'qarnot-outcome': 'cancelled', 'task-uuid': tasks[1].uuid })
    expect(io.state).toMatchObject({ taskUuid: tasks[1].uuid, taskEnded: 'true' })
  }, 20_000)
})
