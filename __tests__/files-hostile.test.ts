/**
 * Files, re-runs and the timeout attacked: a followed task's team bucket, the order of earlier attempts' results,
 * a re-run with nothing left to compute, a timeout before the create and during the results, command text in API
 * messages and result names, a checkout's .git folder, and inputs that name no sane folder or send the token in
 * clear. Each was found by a hostile review of the first version and failed before its fix.
 */
import { describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
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

  it("a re-run takes a recomputed instance's files (out/<id>/...) from its new attempt only", async () => {
    const emulator = await start()
    const inputs = {
      'instance-count': '3',
      resources: 'job.sh',
      results: 'out',
      command: 'sh job.sh ${INSTANCE_ID}'
    }
    const first = workspace({
      // Instance 2 fails in attempt 1, after writing a partial file and a stale result.
      'job.sh':
        'mkdir -p out/$1\necho a1 > out/$1/r.txt\nif [ $1 = 2 ]; then echo half > out/2/partial.txt; exit 1; fi\n'
    })
    const one = await runIn(emulator, first, inputs, { GITHUB_RUN_ATTEMPT: '1' })
    expect(one.outputs['failed-instances']).toBe('2')
    expect(readFileSync(join(first, 'out', '2', 'partial.txt'), 'utf8')).toBe('half\n')
    // The re-run is a fresh runner: only instance 2 is computed, and it writes no partial file this time.
    const second = workspace({ 'job.sh': 'mkdir -p out/$1\necho a2 > out/$1/r.txt\n' })
    const two = await runIn(emulator, second, inputs, { GITHUB_RUN_ATTEMPT: '2' })
    expect(two.failures).toEqual([])
    const read = (path: string) => readFileSync(join(second, 'out', path), 'utf8').trim()
    expect([read('0/r.txt'), read('1/r.txt'), read('2/r.txt')]).toEqual(['a1', 'a1', 'a2'])
    expect(existsSync(join(second, 'out', '2', 'partial.txt'))).toBe(false)
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

describe('results that did not come back', () => {
  const inputs = {
    'instance-count': '2',
    results: 'out',
    command: "sh -c 'mkdir -p out && echo r > out/r${INSTANCE_ID}.txt'"
  }

  it('fail a step whose task succeeded, with outcome results-incomplete naming what is missing', async () => {
    const emulator = await start()
    const storage = await emulator.storage()
    storage.faults.push({ operation: 'GetObject', action: 'error', status: 403, code: 'AccessDenied' })
    const io = await runIn(emulator, workspace(), inputs)
    expect(io.outputs['qarnot-outcome']).toBe('results-incomplete')
    expect(io.outputs['succeeded-count']).toBe('2')
    expect(io.failures).toEqual([
      expect.stringMatching(
        /^Qarnot task \S+ succeeded, but not every result file came back into out: The results of bucket qa-out-\S+ could not all be brought back \(.*\)\. Set results-incomplete: warn to pass anyway\.$/
      )
    ])
    expect(io.summary).toMatch(
      /❌ Qarnot task succeeded \(2\/2 instances\), but not every result file came back/
    )
    expect(io.summary).toMatch(/could not all be brought back/)
  })

  it('with results-incomplete: warn, pass with a warning', async () => {
    const emulator = await start()
    const storage = await emulator.storage()
    storage.faults.push({ operation: 'GetObject', action: 'error', status: 403, code: 'AccessDenied' })
    const io = await runIn(emulator, workspace(), { ...inputs, 'results-incomplete': 'warn' })
    expect(io.failures).toEqual([])
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(io.log).toContainEqual(expect.stringMatching(/^::warning::Not every result file came back/))
  })

  it('none at all from instances that succeeded: a warning names the likely cause', async () => {
    const emulator = await start()
    const io = await runIn(emulator, workspace(), {
      ...inputs,
      command: "sh -c 'mkdir -p elsewhere && echo r > elsewhere/r'"
    })
    expect(io.failures).toEqual([])
    expect(io.log).toContainEqual(
      expect.stringMatching(
        /^::warning::No result file came back into out, though 2 instances succeeded\. Likely causes: .*Qarnot does not document/
      )
    )
    expect(io.summary).toMatch(/No result file came back into out/)
  })

  it('an unknown results-incomplete is refused before any request', async () => {
    const emulator = await start()
    const io = await runIn(emulator, workspace(), { ...inputs, 'results-incomplete': 'maybe' })
    expect(io.failures).toEqual([`Input 'results-incomplete': "maybe" is not a choice; write fail or warn`])
    expect(emulator.requestCount()).toBe(0)
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
    expect(io.outputs['qarnot-outcome']).toBe('timed-out')
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

describe('the timeout bounds the look at the files too', () => {
  it('a walk of resources through a lattice of folder links stops at the timeout, and no task is made', async () => {
    const emulator = await start()
    // Nine folders each linking to every other: about a million paths without a cycle, far more than a second's walk.
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']
    const root = workspace(Object.fromEntries(names.map(n => [`${n}/${n}.txt`, n])))
    for (const from of names)
      for (const to of names) if (to !== from) symlinkSync(join(root, to), join(root, from, `to-${to}`))
    const io = await runIn(emulator, root, { command: 'true', resources: '.', timeout: '1s' })
    expect(io.ms).toBeLessThan(5_000)
    expect(io.outputs['qarnot-outcome']).toBe('timed-out')
    expect(io.failures).toEqual([
      'The timeout of 1s passed while the files named by resources were being looked at; no task was created.'
    ])
    expect(emulator.requestCount()).toBe(0)
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
    expect(io.outputs['qarnot-outcome']).toBe('timed-out')
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
    expect(io.outputs['qarnot-outcome']).toBe('timed-out')
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

  it('links into .git (a folder link, a file link) do not take .git along, and the log names them', async () => {
    const emulator = await start()
    const root = workspace({
      'run.sh': 'echo run',
      '.git/config': '[http] extraheader = AUTHORIZATION: basic c2VjcmV0',
      '.git/hooks/post-checkout': 'echo hook'
    })
    symlinkSync(join(root, '.git'), join(root, 'g'))
    symlinkSync(join(root, '.git', 'config'), join(root, 'c'))
    const io = await runIn(emulator, root, { resources: '.', command: "sh -c 'find . -type f | sort'" })
    expect(io.failures).toEqual([])
    expect(io.outputs.stdout).toContain('./run.sh')
    expect(io.outputs.stdout).not.toMatch(/config|hooks|\.\/g\/|\.\/c$/m)
    expect(io.log).toContainEqual(
      expect.stringMatching(
        /^::warning::Input 'resources': "c" and "g" are symbolic links leading into \.git, left out/
      )
    )
  })

  it('a committed link out -> .git with results: out is refused before any request; .git is untouched', async () => {
    const emulator = await start()
    const root = workspace({ '.git/config': '[core]\n' })
    symlinkSync(join(root, '.git'), join(root, 'out'))
    const command =
      "sh -c 'mkdir -p out/hooks && echo fsmonitor = evil > out/config && echo x > out/hooks/post-checkout'"
    const io = await runIn(emulator, root, { results: 'out', command })
    expect(io.failures).toEqual([
      expect.stringMatching(
        /^Input 'results': "out" is a symbolic link \(to .*\.git\); results are never written through a link/
      )
    ])
    expect(emulator.requestCount()).toBe(0)
    expect(readFileSync(join(root, '.git', 'config'), 'utf8')).toBe('[core]\n')
    expect(existsSync(join(root, '.git', 'hooks'))).toBe(false)
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
