/**
 * Long runs (docs/long-runs.md): hand-off-after ends the step on time with the task running and nothing aborted
 * (main and post), continue-with dispatches the named workflow (against a local stand-in of GitHub's API), and a
 * collector step with `task:` reports the handed-off task whole.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { QarnotEmulator } from '../emulator/server.js'
import { run } from '../src/main.js'
import { post } from '../src/post.js'
import { systemClock } from '../src/task/clock.js'
import { call, emulatorsOfThisFile, waitForState } from './helpers/emulator.js'
import { FakeGitHub } from './helpers/fake-github.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'
import { internalStore, keys } from './helpers/storage.js'
import { resourceBucketName } from '../src/storage/layout.js'

/** The repository's resource bucket in the emulator's account (where the collector keeps its marks). */
function storageBucketOf(emulator: QarnotEmulator): string {
  return resourceBucketName({ repository: RUN_ENV.GITHUB_REPOSITORY, account: emulator.email })
}

const start = emulatorsOfThisFile()
let github: FakeGitHub
beforeAll(async () => {
  github = await new FakeGitHub().start()
})
afterAll(async () => {
  await github.stop()
})

const RUN_ENV = {
  RUNNER_TEMP: tmpdir(),
  GITHUB_REPOSITORY: 'octo-org/sim',
  GITHUB_WORKFLOW: 'Nightly',
  GITHUB_RUN_ID: '77',
  GITHUB_JOB: 'simulate',
  GITHUB_REF: 'refs/heads/main'
}

async function runStep(
  emulator: QarnotEmulator,
  inputs: Record<string, string>,
  env: Record<string, string> = {}
): Promise<{ io: RecordingIO; ms: number }> {
  const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, ...inputs })
  const began = Date.now()
  await run({
    io,
    env: { ...RUN_ENV, GITHUB_API_URL: github.url, ...env },
    clock: systemClock,
    stop: new AbortController().signal
  })
  return { io, ms: Date.now() - began }
}

/** Six lines per instance over about 3 s: longer than the hand-off, short enough to collect. */
const SLOW_LINES = "sh -c 'for i in 1 2 3 4 5 6; do echo line $i of ${INSTANCE_ID}; sleep 0.5; done'"

describe('hand-off-after', () => {
  it('ends the step on time with outcome handed-off, the task running, nothing aborted by main or post', async () => {
    const emulator = await start()
    const { io, ms } = await runStep(emulator, {
      'instance-count': '2',
      command: 'sleep 30',
      'hand-off-after': '2s'
    })
    expect(io.failures).toEqual([])
    expect(ms).toBeGreaterThanOrEqual(1900)
    expect(ms).toBeLessThan(5000)
    const uuid = io.outputs['task-uuid']
    expect(io.outputs).toMatchObject({
      'qarnot-outcome': 'handed-off',
      'task-url': `https://tasq.qarnot.com/tasks/${uuid}`
    })
    expect(io.summary).toContain('🔁 Qarnot task handed off, still running: 0/2 instances ended so far')
    expect(io.summary).toContain(`a step with task: ${uuid}`)
    expect(io.state).toMatchObject({ taskUuid: uuid, handedOff: 'true' })
    expect(io.state.mustAbort).toBeUndefined()
    // abort-on-cancel is true (the default): the post step still leaves a handed-off task alone.
    await post({ io, env: {} })
    expect(io.log.join('\n')).toContain(
      'was handed off (hand-off-after); it goes on running, and is not aborted'
    )
    expect(emulator.requestCount('POST /tasks/{uuid}/abort')).toBe(0)
    const task = (await call(emulator, 'GET', `/tasks/${uuid}`)).json() as { state: string }
    expect(task.state).toBe('FullyExecuting')
    // The task carries the tag the collector finds it by.
    const tags = emulator.allTasks()[0].body.tags ?? []
    expect(tags.some(tag => tag.startsWith('gha-handoff-'))).toBe(true)
  })

  it('does not hand off a task that ends first: it is reported as ever', async () => {
    const emulator = await start()
    const { io } = await runStep(emulator, { command: 'echo quick', 'hand-off-after': '30s' })
    expect(io.failures).toEqual([])
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(io.state.handedOff).toBeUndefined()
  })

  it.each([
    [{ 'hand-off-after': '1h', wait: 'false' }, 'hand-off-after', /wait is false/],
    [{ 'hand-off-after': '1h', timeout: '1h' }, 'hand-off-after', /shorter than timeout/],
    [{ 'hand-off-after': '2h', timeout: '1h' }, 'hand-off-after', /not before the timeout/],
    [{ 'hand-off-after': '1h', 'auto-delete': 'true' }, 'hand-off-after', /remove auto-delete/],
    [{ 'hand-off-after': '10d' }, 'hand-off-after', /over 7d/],
    [{ 'hand-off-after': '5' }, 'hand-off-after', /has no unit/],
    [{ 'continue-with': 'collect.yml' }, 'continue-with', /hand-off-after is not set/],
    [{ 'hand-off-after': '1h', 'continue-with': '../x.yml' }, 'continue-with', /not a workflow file name/],
    [
      { 'hand-off-after': '1h', 'continue-with': 'collect.yml', 'github-token': '' },
      'continue-with',
      /actions: write/
    ],
    [{ 'snapshot-interval': '15m' }, 'snapshot-interval', /results is not set/],
    [{ tags: 'a,b,c,d,e,f,g', 'hand-off-after': '1h' }, 'tags', /remove a tag/]
  ])('refuses %j before any request (%s)', async (inputs, input, why) => {
    const emulator = await start()
    const { io } = await runStep(emulator, { command: 'echo', 'github-token': 'ghs_test', ...inputs })
    expect(io.failures).toHaveLength(1)
    expect(io.failures[0]).toMatch(new RegExp(`^Input '${input}': `))
    expect(io.failures[0]).toMatch(why)
    expect(emulator.requestCount()).toBe(0)
  })

  it("refuses continue-with on a pull request's ref, which GitHub cannot dispatch on", async () => {
    const emulator = await start()
    const { io } = await runStep(
      emulator,
      { command: 'echo', 'hand-off-after': '1h', 'continue-with': 'collect.yml', 'github-token': 'ghs_test' },
      { GITHUB_REF: 'refs/pull/3/merge' }
    )
    expect(io.failures[0]).toMatch(/^Input 'continue-with': .*refs\/pull\/3\/merge.*scheduled workflow/)
    expect(emulator.requestCount()).toBe(0)
  })
})

describe('continue-with', () => {
  it("dispatches the named workflow on the run's branch with the task UUID, with the job's token", async () => {
    const emulator = await start()
    const before = github.dispatches.length
    const { io } = await runStep(emulator, {
      command: 'sleep 30',
      'hand-off-after': '1s',
      'continue-with': '.github/workflows/collect.yml',
      'github-token': 'ghs_dispatch'
    })
    expect(io.failures).toEqual([])
    const uuid = io.outputs['task-uuid']
    expect(github.dispatches.slice(before)).toEqual([
      {
        repository: 'octo-org/sim',
        workflow: 'collect.yml',
        body: { ref: 'main', inputs: { 'task-uuid': uuid } }
      }
    ])
    const sent = github.requests.filter(r => r.path.endsWith('/dispatches')).at(-1)
    expect(sent?.authorization).toBe('Bearer ghs_dispatch')
    expect(io.outputs['qarnot-outcome']).toBe('handed-off')
    expect(io.summary).toContain(
      `workflow collect.yml was dispatched on refs/heads/main with task-uuid ${uuid}`
    )
    expect((await waitForState(emulator, uuid, ['FullyExecuting'])).state).toBe('FullyExecuting')
  })

  it('explains a 403 (no actions: write), fails the step, and still leaves the task running', async () => {
    const emulator = await start()
    const refusing = await new FakeGitHub().start()
    refusing.refuseWith = 403
    try {
      const { io } = await runStep(
        emulator,
        {
          command: 'sleep 30',
          'hand-off-after': '1s',
          'continue-with': 'collect.yml',
          'github-token': 'ghs_ro'
        },
        { GITHUB_API_URL: refusing.url }
      )
      expect(io.outputs['qarnot-outcome']).toBe('handed-off')
      expect(io.failures).toHaveLength(1)
      expect(io.failures[0]).toMatch(
        /may not dispatch workflows \(403: Resource not accessible by integration\)/
      )
      expect(io.failures[0]).toMatch(/permissions: actions: write/)
      expect(io.failures[0]).toMatch(
        new RegExp(`run collect.yml by hand with task-uuid ${io.outputs['task-uuid']}`)
      )
      expect(io.state.handedOff).toBe('true')
      expect(emulator.requestCount('POST /tasks/{uuid}/abort')).toBe(0)
    } finally {
      await refusing.stop()
    }
  })

  it('a cancel while GitHub stalls on the dispatch ends the step at once; the task is left running', async () => {
    const emulator = await start()
    const stalling = await new FakeGitHub().start()
    stalling.stall = true
    const stop = new AbortController()
    try {
      const io = recordingIO({
        token: emulator.token,
        'api-url': emulator.url,
        command: 'sleep 30',
        'hand-off-after': '1s',
        'continue-with': 'collect.yml',
        'github-token': 'ghs_x'
      })
      const began = Date.now()
      // The dispatch is sent once the hand-off time has come: the cancel lands while GitHub holds it.
      const cancel = setTimeout(() => stop.abort(), 2500)
      await run({
        io,
        env: { ...RUN_ENV, GITHUB_API_URL: stalling.url },
        clock: systemClock,
        stop: stop.signal
      })
      clearTimeout(cancel)
      expect(stalling.requests.some(r => r.path.endsWith('/dispatches'))).toBe(true)
      expect(Date.now() - began).toBeLessThan(6000)
      expect(io.outputs['qarnot-outcome']).toBe('handed-off')
      expect(io.failures[0]).toMatch(/cancelled before GitHub took the dispatch/)
      expect(io.state.handedOff).toBe('true')
      expect(emulator.requestCount('POST /tasks/{uuid}/abort')).toBe(0)
    } finally {
      await stalling.stop()
    }
  })

  it('explains a workflow GitHub does not know (404)', async () => {
    const emulator = await start()
    github.workflows.add('other.yml')
    try {
      const { io } = await runStep(emulator, {
        command: 'sleep 30',
        'hand-off-after': '1s',
        'continue-with': 'collect.yml',
        'github-token': 'ghs_x'
      })
      expect(io.failures[0]).toMatch(/found no workflow collect.yml in octo-org\/sim \(404/)
    } finally {
      github.workflows.clear()
    }
  })
})

describe('collecting a handed-off task', () => {
  it('a step with task: reports it whole: every line of every instance, the verdict, the cost', async () => {
    const emulator = await start()
    const first = await runStep(emulator, {
      'instance-count': '3',
      command: SLOW_LINES,
      'hand-off-after': '1s'
    })
    expect(first.io.outputs['qarnot-outcome']).toBe('handed-off')
    const uuid = first.io.outputs['task-uuid']
    // The first step read part of the output already (its fresh reads moved the cursor).
    expect(first.io.outputs.stdout).toContain('line 1 of 0')
    const { io } = await runStep(emulator, { task: uuid })
    expect(io.failures).toEqual([])
    expect(io.outputs).toMatchObject({ 'qarnot-outcome': 'success', state: 'Success', 'instance-count': '3' })
    for (let id = 0; id < 3; id++) {
      const whole = [1, 2, 3, 4, 5, 6].map(i => `line ${i} of ${id}\n`).join('')
      expect(readFileSync(join(io.outputs['logs-dir'], `${id}.stdout.log`), 'utf8')).toBe(whole)
      expect(io.outputs.stdout).toContain([1, 2, 3, 4, 5, 6].map(i => `${id}> line ${i} of ${id}\n`).join(''))
    }
    expect(Number(io.outputs.credits)).toBeGreaterThan(0)
    expect(io.summary).toContain('✅ Qarnot task succeeded: 3/3 instances')
  })

  it('a scheduled collector with task: handed-off reports each ended task of the repository whole, names those still running', async () => {
    const emulator = await start()
    const ending = await runStep(emulator, {
      'instance-count': '2',
      command: SLOW_LINES,
      'hand-off-after': '1s'
    })
    const long = await runStep(emulator, { command: 'sleep 30', 'hand-off-after': '1s' })
    // Created with hand-off-after but followed to its end by its own step: already reported, never collected.
    const followed = await runStep(emulator, { command: 'echo quick', 'hand-off-after': '1h' })
    expect(followed.io.outputs['qarnot-outcome']).toBe('success')
    const elsewhere = await runStep(
      emulator,
      { command: SLOW_LINES, 'hand-off-after': '1s' },
      { GITHUB_REPOSITORY: 'someone/else' }
    )
    const endingUuid = ending.io.outputs['task-uuid']
    await waitForState(emulator, endingUuid, ['Success'])
    await waitForState(emulator, elsewhere.io.outputs['task-uuid'], ['Success'])
    const { io } = await runStep(emulator, { task: 'handed-off', 'auto-delete': 'true' })
    expect(io.failures).toEqual([])
    const log = io.log.join('\n')
    expect(log).toContain('2 handed-off tasks found: 1 ended, collected now; 1 still running.')
    expect(log).toContain(`Task ${long.io.outputs['task-uuid']} ("`)
    expect(io.summary).toContain('✅ Qarnot task succeeded: 2/2 instances')
    expect(io.summary).not.toContain(elsewhere.io.outputs['task-uuid'])
    expect(io.summary).not.toContain(followed.io.outputs['task-uuid'])
    expect((await call(emulator, 'GET', `/tasks/${followed.io.outputs['task-uuid']}`)).status).toBe(200)
    expect(io.outputs['task-uuid']).toBe(endingUuid)
    for (let id = 0; id < 2; id++)
      expect(readFileSync(join(io.outputs['logs-dir'], `${id}.stdout.log`), 'utf8')).toBe(
        [1, 2, 3, 4, 5, 6].map(i => `line ${i} of ${id}\n`).join('')
      )
    expect(io.outputs['qarnot-outcome']).toBe('success')
    // Deleted once reported: the next run finds only the task still running.
    expect((await call(emulator, 'GET', `/tasks/${endingUuid}`)).status).toBe(404)
    const again = await runStep(emulator, { task: 'handed-off' })
    expect(again.io.log.join('\n')).toContain(
      '1 handed-off task found: 0 ended, collected now; 1 still running.'
    )
    expect(again.io.outputs['qarnot-outcome']).toBe('handed-off')
    expect(emulator.requestCount('POST /tasks/{uuid}/abort')).toBe(0)
  })

  it('without auto-delete, a task reported is marked in storage: a failed one fails one collector run, not every run', async () => {
    const emulator = await start()
    const failing = await runStep(emulator, {
      'instance-count': '2',
      command: "sh -c 'sleep 1.5; test ${INSTANCE_ID} != 1'",
      'hand-off-after': '1s'
    })
    const uuid = failing.io.outputs['task-uuid']
    await waitForState(emulator, uuid, ['Failure'])
    const first = await runStep(emulator, { task: 'handed-off' })
    expect(first.io.outputs['qarnot-outcome']).toBe('failure')
    expect(first.io.log.join('\n')).toContain(
      `Task ${uuid} was reported and marked as collected: later runs leave it out.`
    )
    const storage = await emulator.storage()
    expect(await keys(internalStore(storage), storageBucketOf(emulator), 'collected/')).toEqual([
      `collected/${uuid}`
    ])
    // The task is still on Qarnot, ended: the next runs leave it out and pass.
    const second = await runStep(emulator, { task: 'handed-off' })
    expect(second.io.failures).toEqual([])
    expect(second.io.outputs['qarnot-outcome']).toBe('success')
    expect(second.io.log.join('\n')).toContain(
      '1 handed-off task found: 0 ended, collected now; 0 still running; 1 collected by an earlier run, left out.'
    )
    expect(second.io.summary).not.toContain(uuid)
    // A step that names the task still reports it, marked or not.
    const named = await runStep(emulator, { task: uuid })
    expect(named.io.outputs['qarnot-outcome']).toBe('failure')
  })

  it('when the mark cannot be written, the collector warns that the next run reports the task again', async () => {
    const emulator = await start()
    const ending = await runStep(emulator, { command: SLOW_LINES, 'hand-off-after': '1s' })
    const uuid = ending.io.outputs['task-uuid']
    await waitForState(emulator, uuid, ['Success'])
    const storage = await emulator.storage()
    storage.faults.push({ operation: 'PutObject', action: 'error', status: 403, code: 'AccessDenied' })
    const first = await runStep(emulator, { task: 'handed-off' })
    expect(first.io.outputs['qarnot-outcome']).toBe('success')
    expect(first.io.log.join('\n')).toMatch(
      new RegExp(
        `Task ${uuid} was reported, but it could not be marked as collected \\(.*\\): the next run reports it again`
      )
    )
    storage.faults.length = 0
    const second = await runStep(emulator, { task: 'handed-off' })
    expect(second.io.summary).toContain('✅ Qarnot task succeeded: 1/1 instance')
    const third = await runStep(emulator, { task: 'handed-off' })
    expect(third.io.log.join('\n')).toContain('1 collected by an earlier run, left out')
  })
})
