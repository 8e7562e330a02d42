/**
 * Files, re-runs and the timeout attacked: a followed task's team bucket, the order of earlier attempts' results,
 * a re-run with nothing left to compute, a timeout before the create and during the results, command text in API
 * messages and result names, a checkout's .git folder, and inputs that name no sane folder or send the token in
 * clear. Each was found by a hostile review of the first version and failed before its fix.
 */
import { describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { QarnotEmulator } from '../emulator/server.js'
import { run } from '../src/main.js'
import { post } from '../src/post.js'
import { listAllObjects } from '../src/storage/store.js'
import { systemClock } from '../src/task/clock.js'
import { emulatorsOfThisFile } from './helpers/emulator.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'
import { workspace, internalStore } from './helpers/storage.js'

/** Emulators of the test under way, stopped after the file (tests run side by side: each has its own). */
const start = emulatorsOfThisFile()

async function runIn(
  emulator: QarnotEmulator,
  root: string,
  inputs: Record<string, string>,
  env: Record<string, string> = {}
): Promise<RecordingIO & { ms: number }> {
  const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, ...inputs })
  const started = Date.now()
  await run({
    io,
    env: {
      RUNNER_TEMP: tmpdir(),
      GITHUB_WORKSPACE: root,
      GITHUB_REPOSITORY: 'octo-org/sim',
      GITHUB_RUN_ID: '77',
      GITHUB_JOB: 'compute',
      ...env
    },
    clock: systemClock,
    stop: new AbortController().signal
  })
  return Object.assign(io, { ms: Date.now() - started })
}

/**
 * Lines the runner would take as workflow commands, outside the action's own: each log entry is split into the
 * lines the runner reads, and what lies between a `::stop-commands::<token>` and its `::<token>::` is text.
 */
function injected(io: RecordingIO): string[] {
  const found: string[] = []
  let fence: string | undefined
  for (const line of io.log.flatMap(entry => entry.split('\n'))) {
    if (fence) {
      if (line === `::${fence}::`) fence = undefined
      continue
    }
    const opened = /^::stop-commands::(.+)$/.exec(line)
    if (opened) fence = opened[1]
    else if (/^::(?!debug::|group::|endgroup::|warning::Not every|error::The timeout)/.test(line))
      found.push(line)
  }
  return found
}

describe('results buckets', () => {
  it("following a task made elsewhere never deletes that task's bucket (a team's)", async () => {
    const emulator = await start()
    const store = internalStore(await emulator.storage())
    const signal = AbortSignal.timeout(10_000)
    await store.createBucket('team-archive', signal)
    for (const key of ['2023/report.pdf', 'out/old.txt'])
      await store.putObject('team-archive', key, 'keep', signal)
    const created = await fetch(`${emulator.url}/tasks`, {
      method: 'POST',
      headers: { Authorization: emulator.token, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'made by the SDK',
        profile: 'docker-batch',
        instanceCount: 1,
        resultBucket: 'team-archive',
        constants: [{ key: 'DOCKER_CMD', value: "sh -c 'mkdir -p out && echo new > out/new.txt'" }]
      })
    })
    const { uuid } = (await created.json()) as { uuid: string }
    const root = workspace()
    const io = await runIn(emulator, root, { task: uuid, results: 'out' })
    expect(io.failures).toEqual([])
    expect(readFileSync(join(root, 'out', 'new.txt'), 'utf8')).toBe('new\n')
    const left = (await listAllObjects(store, 'team-archive', '', signal)).map(o => o.key).sort()
    expect(left).toEqual(['2023/report.pdf', 'out/new.txt', 'out/old.txt'])
  })

  it('a re-run brings earlier results back oldest first, so each file is the latest attempt’s', async () => {
    const emulator = await start()
    const root = workspace()
    const attempt = async (n: number, failing: string) => {
      writeFileSync(
        join(root, 'job.sh'),
        `mkdir -p out\necho from-attempt-${n} > out/$1.txt\ncase $1 in ${failing}) exit 1;; esac\n`
      )
      return runIn(
        emulator,
        root,
        { 'instance-count': '3', resources: 'job.sh', results: 'out', command: 'sh job.sh ${INSTANCE_ID}' },
        { GITHUB_RUN_ATTEMPT: String(n) }
      )
    }
    expect((await attempt(1, '0|2')).outputs['failed-instances']).toBe('0,2')
    expect((await attempt(2, '2')).outputs['failed-instances']).toBe('2')
    const third = await attempt(3, 'none')
    expect(third.failures).toEqual([])
    const read = (id: number) => readFileSync(join(root, 'out', `${id}.txt`), 'utf8').trim()
    // 1 succeeded in attempt 1, 0 in attempt 2, 2 in attempt 3: older attempts' failed copies never win.
    expect([read(0), read(1), read(2)]).toEqual(['from-attempt-2', 'from-attempt-1', 'from-attempt-3'])
  })

  it('a re-run with nothing to compute brings kept results back, and says when they are gone', async () => {
    const emulator = await start()
    const root = workspace()
    const inputs = {
      'instance-count': '2',
      results: 'out',
      command: "sh -c 'mkdir -p out && echo r > out/r${INSTANCE_ID}.txt; exit ${INSTANCE_ID}'"
    }
    expect(
      (await runIn(emulator, root, inputs, { GITHUB_RUN_ATTEMPT: '1' })).outputs['failed-instances']
    ).toBe('1')
    // Attempt 2 computes instance 1 again (now passing) and keeps the bucket of attempt 1 until the whole passes.
    const passing = { ...inputs, command: "sh -c 'mkdir -p out && echo r > out/r${INSTANCE_ID}.txt'" }
    expect((await runIn(emulator, root, passing, { GITHUB_RUN_ATTEMPT: '2' })).failures).toEqual([])
    // Attempt 3 (a later step failed): nothing to compute; the buckets went when attempt 2 passed.
    const fresh = workspace()
    const third = await runIn(emulator, fresh, passing, { GITHUB_RUN_ATTEMPT: '3' })
    expect(third.failures).toEqual([])
    expect(third.log.join('\n')).toMatch(/The result files of attempt \d \(bucket qa-out-[^)]+\) are gone/)
    expect(third.log).toContainEqual(expect.stringMatching(/^::warning::Not every result file came back/))
    expect(third.summary).toMatch(/not all of them: see the notes/)
  })

  it('a re-run with nothing to compute brings back the results of a kept bucket', async () => {
    const emulator = await start()
    const root = workspace()
    const inputs = {
      'instance-count': '2',
      results: 'out',
      'keep-results': 'true',
      command: "sh -c 'mkdir -p out && echo r${INSTANCE_ID} > out/r${INSTANCE_ID}.txt'"
    }
    expect((await runIn(emulator, root, inputs, { GITHUB_RUN_ATTEMPT: '1' })).failures).toEqual([])
    const fresh = workspace()
    const second = await runIn(emulator, fresh, inputs, { GITHUB_RUN_ATTEMPT: '2' })
    expect(second.failures).toEqual([])
    expect(emulator.allTasks()).toHaveLength(1)
    expect(readFileSync(join(fresh, 'out', 'r1.txt'), 'utf8')).toBe('r1\n')
    expect(second.outputs['results-dir']).toBe(join(fresh, 'out'))
  })
})

describe('the timeout bounds the whole step', () => {
  it('a rate-limited look-up of earlier attempts outlasting the timeout creates no task', async () => {
    const emulator = await start()
    const root = workspace()
    const inputs = { 'instance-count': '2', command: "sh -c 'exit ${INSTANCE_ID}'", timeout: '3s' }
    await runIn(emulator, root, inputs, { GITHUB_RUN_ATTEMPT: '1' })
    emulator.faults.add({
      endpoint: 'GET /tasks',
      fault: { type: 'status', status: 429, retryAfter: '20' },
      times: 2
    })
    const io = await runIn(emulator, root, inputs, { GITHUB_RUN_ATTEMPT: '2' })
    expect(io.ms).toBeLessThan(10_000)
    expect(io.outputs.outcome).toBe('timed-out')
    expect(io.failures[0]).toMatch(
      /timeout of 3s passed before the task could be created; no task was created/
    )
    expect(emulator.allTasks()).toHaveLength(1)
    expect(io.summary).toMatch(/Timeout reached before the Qarnot task ran/)
  })

  it('results that come down too slowly stop at the timeout and its grace, and the step says they are incomplete', async () => {
    const emulator = await start()
    const storage = await emulator.storage()
    storage.faults.push({ operation: 'GetObject', action: 'delay', delayMs: 30_000, times: 2 })
    const io = await runIn(emulator, workspace(), {
      'instance-count': '2',
      results: 'out',
      timeout: '4s',
      command: "sh -c 'mkdir -p out && echo r > out/r${INSTANCE_ID}.txt'"
    })
    expect(io.ms).toBeLessThan(4_000 + 10_000 + 4_000)
    expect(io.log.join('\n')).toMatch(/could not all be brought back \(.*timeout/)
    expect(io.log).toContainEqual(expect.stringMatching(/^::warning::Not every result file came back/))
  })
})

describe('the timeout and what still comes after it', () => {
  it('a task aborted at the timeout still reports its cost, and its results are looked for, not cut short', async () => {
    const emulator = await start()
    const root = workspace()
    const io = await runIn(emulator, root, {
      'instance-count': '2',
      results: 'out',
      timeout: '3s',
      command: "sh -c 'mkdir -p out && echo r > out/r${INSTANCE_ID}.txt && sleep 30'"
    })
    expect(io.outputs.outcome).toBe('timed-out')
    expect(io.ms).toBeLessThan(3_000 + 5_000 + 10_000)
    expect(Number(io.outputs.credits)).toBeGreaterThan(0)
    // Qarnot uploads nothing from a cancelled task unless asked (uploadResultsOnCancellation): none come, and
    // the results phase was not cancelled by the timeout that had just passed.
    expect(io.outputs['results-dir']).toBe(join(root, 'out'))
    expect(io.log.join('\n')).not.toMatch(/could not all be brought back|Not every result file/)
  })

  it('a timeout no timer can wait for is refused, naming the input', async () => {
    const emulator = await start()
    const io = await runIn(emulator, workspace(), { command: 'true', timeout: '25d' })
    expect(io.failures).toEqual([
      expect.stringMatching(/^Input 'timeout': 25d is over 7d; no GitHub job runs that long/)
    ])
    expect(emulator.requestCount()).toBe(0)
  })

  it('the post step aborts what a create cut by the timeout made, even with abort-on-cancel: false', async () => {
    const emulator = await start()
    const created = await fetch(`${emulator.url}/tasks`, {
      method: 'POST',
      headers: { Authorization: emulator.token, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'made as the timeout passed',
        shortname: 'gha-77-1-timedout',
        profile: 'docker-batch',
        instanceCount: 1,
        constants: [{ key: 'DOCKER_CMD', value: 'sleep 30' }]
      })
    })
    const { uuid } = (await created.json()) as { uuid: string }
    const state = { shortname: 'gha-77-1-timedout', mustAbort: 'true' }
    const io = recordingIO(
      { token: emulator.token, 'api-url': emulator.url, 'abort-on-cancel': 'false' },
      state
    )
    await post({ io, env: {} })
    expect(io.log.join('\n')).toMatch(/has been aborted/)
    const task = emulator.allTasks().find(t => t.uuid === uuid)
    expect(['PendingCancel', 'Cancelled']).toContain(task?.state)
  })
})

describe('the post step finishes what the main step meant to abort', () => {
  async function runningTask(emulator: QarnotEmulator, shortname: string): Promise<string> {
    const created = await fetch(`${emulator.url}/tasks`, {
      method: 'POST',
      headers: { Authorization: emulator.token, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'left running',
        shortname,
        profile: 'docker-batch',
        instanceCount: 1,
        constants: [{ key: 'DOCKER_CMD', value: 'sleep 60' }]
      })
    })
    return ((await created.json()) as { uuid: string }).uuid
  }
  const stateOf = (emulator: QarnotEmulator, uuid: string) =>
    emulator.allTasks().find(t => t.uuid === uuid)?.state

  it('a timeout whose abort failed: the post step aborts, even with abort-on-cancel: false', async () => {
    const emulator = await start()
    emulator.faults.add({
      endpoint: 'POST /tasks/{uuid}/abort',
      fault: { type: 'status', status: 503 },
      times: 1000
    })
    const root = workspace()
    const io = await runIn(emulator, root, { command: 'sleep 60', timeout: '2s', 'abort-on-cancel': 'false' })
    expect(io.outputs.outcome).toBe('timed-out')
    expect(io.failures[0]).toMatch(/was asked to abort \(the post step checks it again\) after the timeout/)
    emulator.faults.clear()
    const postIO = recordingIO(
      { token: emulator.token, 'api-url': emulator.url, 'abort-on-cancel': 'false' },
      io.state
    )
    await post({ io: postIO, env: {} })
    expect(postIO.log.join('\n')).toMatch(/has been aborted/)
    expect(['PendingCancel', 'Cancelled']).toContain(stateOf(emulator, io.outputs['task-uuid']))
  })

  it('a status read that stalls once does not make the post step give a known task up', async () => {
    const emulator = await start()
    const uuid = await runningTask(emulator, 'gha-77-1-stalled')
    emulator.faults.add({ endpoint: 'GET /tasks/{uuid}', fault: { type: 'stall' }, times: 1 })
    const io = recordingIO({ token: emulator.token, 'api-url': emulator.url }, { taskUuid: uuid })
    await post({ io, env: {} })
    expect(io.log.join('\n')).toMatch(/has been aborted/)
    expect(['PendingCancel', 'Cancelled']).toContain(stateOf(emulator, uuid))
  }, 60_000)
})

describe('untrusted text stays text', () => {
  // The runner reads `::command::` at a line's start, and the older `##[command]` form anywhere in a line.
  it.each([
    ['at the start of a line', 'busy\n::warning title=x::INJECTED\n::add-mask::hi'],
    ['in the older form, mid-line', 'busy ##[stop-commands]x ##[add-mask]INJECTED']
  ])('an API error message carrying workflow commands %s is logged as text', async (_, message) => {
    const emulator = await start()
    emulator.faults.add({
      endpoint: 'GET /tasks/{uuid}',
      fault: { type: 'status', status: 503, message },
      times: 1
    })
    const io = await runIn(emulator, workspace(), { 'instance-count': '2', command: 'echo hi' })
    expect(io.failures).toEqual([])
    expect(io.log.some(line => line.includes('INJECTED'))).toBe(true)
    expect(injected(io)).toEqual([])
    expect(io.log.filter(line => line.includes('##['))).toEqual([])
  })
})

describe('files the user did not mean to send, folders that are not folders', () => {
  it('resources: . leaves .git out (checkout keeps a token there) unless a pattern names it', async () => {
    const emulator = await start()
    const root = workspace({
      'run.sh': 'echo run',
      '.git/config': '[http] extraheader = AUTHORIZATION: basic c2VjcmV0',
      'sub/.git/HEAD': 'ref'
    })
    const list = "sh -c 'find . -type f | sort'"
    const io = await runIn(emulator, root, { resources: '.', command: list })
    expect(io.failures).toEqual([])
    expect(io.outputs.stdout).toContain('./run.sh')
    expect(io.outputs.stdout).not.toContain('.git')
    const named = await runIn(emulator, root, { resources: '.\n.git/config', command: list })
    expect(named.outputs.stdout).toContain('./.git/config')
    expect(named.outputs.stdout).not.toContain('sub/.git')
  })

  it.each([
    [{ results: 'out, logs' }, 'results', /comma or a line break/],
    [{ results: '.git/hooks' }, 'results', /inside \.git/],
    [{ 'api-url': 'http://qarnot.example.com' }, 'api-url', /token in clear/]
  ])('%j is refused naming %s, before any request', async (inputs, input, fix) => {
    const emulator = await start()
    const root = workspace()
    const io = await runIn(emulator, root, { command: 'true', ...inputs })
    expect(io.failures).toHaveLength(1)
    expect(io.failures[0]).toMatch(new RegExp(`^Input '${input}': `))
    expect(io.failures[0]).toMatch(fix)
    expect(emulator.requestCount()).toBe(0)
    expect(existsSync(join(root, 'out, logs'))).toBe(false)
  })
})
