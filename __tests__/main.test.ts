/** run() and post() in-process against the emulator, with a recording ActionIO. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { tmpdir } from 'node:os'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { QarnotEmulator } from '../emulator/server.js'
import { run } from '../src/main.js'
import { post } from '../src/post.js'
import { systemClock } from '../src/task/clock.js'
import { DEFAULT_RETRY } from '../src/qarnot/retry.js'
import { fastEmulator, waitForState } from './helpers/emulator.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'
import { readActionDefinition } from '../src/local-runner/runner.js'
import { BAD_INPUTS } from './fixtures/bad-inputs.js'

let emulator: QarnotEmulator
beforeEach(async () => {
  emulator = await fastEmulator()
})
afterEach(async () => {
  await emulator.stop()
})

async function runWith(
  inputs: Record<string, string>,
  stop = new AbortController().signal
): Promise<RecordingIO> {
  const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, ...inputs })
  await run({ io, env: { RUNNER_TEMP: tmpdir(), GITHUB_RUN_ID: '42' }, clock: systemClock, stop })
  return io
}

/** Every output action.yml declares: each exit path must set them all. */
const ALL_OUTPUTS = Object.keys(readActionDefinition().outputs)

describe('run()', () => {
  it('runs the hello world: live log per instance, every output, a summary, no failure', async () => {
    const io = await runWith({ 'instance-count': '4', command: 'echo hello world from node ${INSTANCE_ID}!' })
    expect(io.failures).toEqual([])
    expect(Object.keys(io.outputs).sort()).toEqual([...ALL_OUTPUTS].sort())
    expect(io.outputs).toMatchObject({
      state: 'Success',
      'qarnot-outcome': 'success',
      'instance-count': '4',
      'failed-instances': ''
    })
    expect(io.outputs.stdout).toBe([0, 1, 2, 3].map(i => `${i}> hello world from node ${i}!\n`).join(''))
    const log = io.log.join('\n')
    for (let i = 0; i < 4; i++) {
      expect(log).toContain(`${i}> hello world from node ${i}!`)
      expect(readFileSync(join(io.outputs['logs-dir'], `${i}.stdout.log`), 'utf8')).toBe(
        `hello world from node ${i}!\n`
      )
    }
    expect(io.summary).toContain('✅ Qarnot task succeeded: 4/4 instances')
    expect(io.summary).toContain(`https://tasq.qarnot.com/tasks/${io.outputs['task-uuid']}`)
    expect(io.state).toMatchObject({ taskUuid: io.outputs['task-uuid'], taskEnded: 'true' })
    expect(emulator.allTasks()).toHaveLength(1)
  })

  it('fails the step naming the failed instances, and still writes every output', async () => {
    const io = await runWith({ 'instance-count': '4', command: "sh -c 'exit $((INSTANCE_ID % 2))'" })
    expect(io.failures).toHaveLength(1)
    expect(io.failures[0]).toMatch(
      /ended in state Failure: instances 1, 3 failed: The instance execution failed \(exit code 1\)/
    )
    expect(Object.keys(io.outputs).sort()).toEqual([...ALL_OUTPUTS].sort())
    expect(io.outputs).toMatchObject({
      'qarnot-outcome': 'failure',
      'failed-instances': '1,3',
      'failed-count': '2',
      'succeeded-count': '2'
    })
    const results = JSON.parse(io.outputs.instances) as { id: number; state: string }[]
    expect(results.map(r => r.state)).toEqual(['Success', 'Failure', 'Success', 'Failure'])
    // The failures are grouped again at the end of the log.
    expect(io.log).toContain(
      '::group::Instance 1: Failure (The instance execution failed (exit code 1) (instance-failure))'
    )
    expect(io.log).toContain(
      '::group::Instance 3: Failure (The instance execution failed (exit code 1) (instance-failure))'
    )
  })

  it('runs exactly the 14 instances of 1-6,15,20,25-30', async () => {
    const io = await runWith({
      'instance-range': '1-6,15,20,25-30',
      command: 'echo ${INSTANCE_ID} of ${INSTANCE_COUNT}'
    })
    expect(io.failures).toEqual([])
    expect(io.outputs['instance-count']).toBe('14')
    const ids = (JSON.parse(io.outputs.instances) as { id: number }[]).map(r => r.id)
    expect(ids).toEqual([1, 2, 3, 4, 5, 6, 15, 20, 25, 26, 27, 28, 29, 30])
    expect(io.outputs.stdout).toContain('25> 25 of 14\n')
    expect(emulator.allTasks()[0].body.advancedRanges).toBe('1-6,15,20,25-30')
  })

  it(`refuses each of ${BAD_INPUTS.length} bad inputs with one error naming it, and no request`, async () => {
    for (const [inputs, input, fix] of BAD_INPUTS) {
      const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, command: 'echo', ...inputs })
      await run({ io, env: {}, clock: systemClock, stop: new AbortController().signal })
      expect(io.failures).toHaveLength(1)
      expect(io.failures[0]).toMatch(new RegExp(`^Input '${input}': .*${fix.source}`))
      expect(io.outputs).toEqual({
        'qarnot-outcome': 'failure',
        'instance-count': '0',
        'succeeded-count': '0',
        'failed-count': '0'
      })
      // A short summary: what was refused, and the fix; the annotation has a title.
      expect(io.summary).toContain('## ❌ Input refused: no Qarnot task was created')
      expect(io.summary).toContain(`Input '${input}'`)
      expect(io.summary).toContain("Fix what the message names in the step's `with:`")
      expect(io.failureTitles).toEqual(['❌ Input refused: no Qarnot task was created'])
    }
    expect(emulator.requestCount()).toBe(0)
  })

  it('a refused input with summary: false writes no summary, and no secret reaches one', async () => {
    const quiet = recordingIO({
      token: emulator.token,
      'api-url': emulator.url,
      command: 'echo',
      summary: 'false',
      'instance-count': 'x'
    })
    await run({ io: quiet, env: {}, clock: systemClock, stop: new AbortController().signal })
    expect(quiet.failures).toHaveLength(1)
    expect(quiet.summary).toBe('')
  })

  it.each([
    [
      'a secret pasted over several lines',
      'QARNOT_SECRET__KEY=-----BEGIN KEY-----\nMIIEvTOPSECRETLINE\n-----END KEY-----'
    ],
    ['a secret line holding "="', 'QARNOT_SECRET__KEY=a\nMIIE+TOPSECRETLINE/x=='],
    ['a secret line with a bad key', 'QARNOT_SECRET__KEY=a\nMIIE+TOPSECRETLINE=x']
  ])(
    'a refused constants input with %s shows none of it in the summary or the failure',
    async (_, constants) => {
      const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, command: 'echo', constants })
      await run({ io, env: {}, clock: systemClock, stop: new AbortController().signal })
      expect(io.failures).toHaveLength(1)
      expect(io.failures[0]).toMatch(/^Input 'constants': /)
      expect([io.summary, ...io.failures, ...io.log].join('\n')).not.toContain('TOPSECRETLINE')
    }
  )

  it("reports each instance's real peak memory, and the summary's line from it", async () => {
    // 2 and 3 take 160 MiB, filled so that the pages are resident; 0 and 1 next to nothing.
    const io = await runWith({
      'instance-count': '4',
      command:
        "node -e 'const b = Buffer.alloc(process.env.INSTANCE_ID >= 2 ? 160 * 1048576 : 1, 1); setTimeout(() => b, 400)'"
    })
    expect(io.failures).toEqual([])
    const peaks = (JSON.parse(io.outputs.instances) as { peakMemoryMB: number }[]).map(r => r.peakMemoryMB)
    expect(peaks[2]).toBeGreaterThanOrEqual(160)
    expect(peaks[3]).toBeGreaterThanOrEqual(160)
    for (const small of [peaks[0], peaks[1]]) {
      expect(small).toBeGreaterThan(0)
      expect(small).toBeLessThan(peaks[2] - 100)
    }
    expect(io.summary).toMatch(/\*\*Peak memory\*\*: median \d+ MB, largest \d+ MB \(instance [23]\)\./)
  })

  it('titles the failure annotation with the summary title', async () => {
    const io = await runWith({ 'instance-count': '2', command: 'false' })
    expect(io.failureTitles).toEqual(['❌ Qarnot task failed: 2 of 2 instances did not succeed'])
  })

  it('keeps task output as text: workflow commands printed by an instance are fenced', async () => {
    const io = await runWith({ command: "sh -c 'echo ::add-mask::leak; echo ::error::fake'" })
    const start = io.log.findIndex(line => line.startsWith('::stop-commands::'))
    const token = io.log[start].slice('::stop-commands::'.length)
    expect(io.log[start + 1]).toBe('0> ::add-mask::leak\n0> ::error::fake')
    expect(io.log[start + 2]).toBe(`::${token}::`)
  })

  it('with wait: false, creates the task and ends at once', async () => {
    const io = await runWith({ command: 'sleep 5', wait: 'false' })
    expect(io.failures).toEqual([])
    expect(io.outputs).toMatchObject({ 'qarnot-outcome': 'submitted' })
    expect(io.outputs['task-uuid']).toBe(emulator.allTasks()[0].uuid)
    expect(emulator.allTasks()[0].isFinal).toBe(false)
    expect(io.summary).toContain('## 📤 Qarnot task submitted')
    expect(io.summary).not.toContain('followed for')
  })

  it('aborts the task when the timeout expires, and says so', async () => {
    const io = await runWith({ 'instance-count': '2', command: 'sleep 30', timeout: '1500ms' })
    expect(io.outputs).toMatchObject({
      'qarnot-outcome': 'timed-out',
      state: 'Cancelled',
      'failed-instances': '0-1'
    })
    expect(io.failures[0]).toMatch(/was aborted after the timeout of 1.5s/)
    expect(emulator.requestCount('POST /tasks/{uuid}/abort')).toBe(1)
    expect(emulator.allTasks()[0].state).toBe('Cancelled')
  })

  it('aborts the task when stopped by a signal, and reports cancelled', async () => {
    const stop = new AbortController()
    const running = runWith({ 'instance-count': '2', command: 'sleep 30' }, stop.signal)
    const deadline = Date.now() + 5000
    while (emulator.allTasks().length === 0 || emulator.allTasks()[0].state !== 'FullyExecuting') {
      if (Date.now() > deadline) throw new Error('the task never ran')
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    const stoppedAt = Date.now()
    stop.abort()
    const io = await running
    expect(Date.now() - stoppedAt).toBeLessThan(6000)
    expect(io.outputs).toMatchObject({ 'qarnot-outcome': 'cancelled', state: 'Cancelled' })
    expect(io.failures[0]).toMatch(/cancelled; Qarnot task .* was aborted/)
    expect(io.state.taskEnded).toBe('true')
  })

  it('leaves the task running when stopped with abort-on-cancel: false', async () => {
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 300)
    const io = await runWith({ command: 'sleep 30', 'abort-on-cancel': 'false' }, stop.signal)
    expect(io.log.join('\n')).toMatch(/abort-on-cancel is false, so task .* goes on running/)
    expect(emulator.requestCount('POST /tasks/{uuid}/abort')).toBe(0)
    expect(emulator.allTasks()[0].isFinal).toBe(false)
  })

  it('explains refusals: a wrong token, and the task quota', async () => {
    const wrong = recordingIO({ token: 'not-the-token', 'api-url': emulator.url, command: 'echo' })
    await run({ io: wrong, env: {}, clock: systemClock, stop: new AbortController().signal })
    expect(wrong.failures[0]).toMatch(/answered 401.*The token was refused: check the 'token' input/)
    emulator.faults.add({
      endpoint: 'POST /tasks',
      fault: { type: 'status', status: 403, message: 'Maximum number of tasks reached' }
    })
    const io = await runWith({ command: 'echo' })
    expect(io.failures[0]).toMatch(/Maximum number of tasks reached.*'auto-delete: true'/)
  })

  it('explains credits and invalid fields, naming the input to fix', async () => {
    emulator.faults.add({
      endpoint: 'POST /tasks',
      fault: { type: 'status', status: 402, message: 'Not enough credits' }
    })
    const poor = await runWith({ command: 'echo' })
    expect(poor.failures[0]).toMatch(
      /answered 402: Not enough credits\. The Qarnot account has not enough credits/
    )
    emulator.faults.add({
      endpoint: 'POST /tasks',
      fault: { type: 'status', status: 400, message: 'Invalid task file. Invalid fields: range-length' }
    })
    const long = await runWith({ command: 'echo', 'instance-range': '0-3' })
    expect(long.failures[0]).toMatch(/Invalid fields: range-length\. Check the input 'instance-range'/)
    expect(emulator.allTasks()).toHaveLength(0)
  })

  it('aborts the task it cannot follow any more, so nothing runs unwatched', async () => {
    const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, command: 'sleep 30' })
    emulator.faults.add({
      endpoint: 'GET /tasks/{uuid}',
      fault: { type: 'status', status: 500 },
      times: 1000,
      after: 1
    })
    await run({
      io,
      env: { RUNNER_TEMP: tmpdir() },
      clock: systemClock,
      stop: new AbortController().signal,
      retry: { ...DEFAULT_RETRY, maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20, maxTotalMs: 1000 },
      badReadBudgetMs: 500
    })
    expect(io.failures[0]).toMatch(
      /could no longer be followed and was asked to abort \(the post step checks it again\): .*answered 500.*gave up after 3 attempts/
    )
    expect(io.log.join('\n')).toMatch(/can no longer be followed .*: aborting task/)
    expect(io.outputs['qarnot-outcome']).toBe('failure')
    expect(io.summary).toContain('❌ Qarnot task could not be followed')
    emulator.faults.clear()
    await waitForState(emulator, emulator.allTasks()[0].uuid, ['Cancelled'])
  })

  it('never shows the token or secret constants in outputs, summary, state or log', async () => {
    const io = await runWith({ command: 'echo ${INSTANCE_ID}', constants: 'QARNOT_SECRET__PW=s3cr3t-value' })
    expect(io.secrets).toEqual(expect.arrayContaining([emulator.token, 's3cr3t-value']))
    const everything = [...io.log, io.summary, ...Object.values(io.outputs), ...Object.values(io.state)].join(
      '\n'
    )
    expect(everything).not.toContain(emulator.token)
    expect(everything).not.toContain('s3cr3t-value')
  })
})

describe('text from outside stays text', () => {
  /** Log lines the runner would read as commands, outside the fences around task output. */
  function commandLines(io: RecordingIO): string[] {
    const lines = io.log.flatMap(entry => entry.split('\n'))
    const found: string[] = []
    let fence: string | undefined
    for (const line of lines) {
      if (fence) {
        if (line === `::${fence}::`) fence = undefined
        continue
      }
      const start = /^::stop-commands::(.+)$/.exec(line)
      if (start) fence = start[1]
      else if (line.startsWith('::')) found.push(line)
    }
    return found
  }

  it('a name carrying a workflow command is echoed on one line, never as a command', async () => {
    const io = await runWith({ command: 'echo ok', name: 'fix\n::error::injected\n::add-mask::x' })
    const commands = commandLines(io).filter(line => !/^::(debug|group|endgroup)/.test(line))
    expect(commands).toEqual([])
    expect(io.summary).not.toMatch(/\n::error::injected/)
  })

  it('never shows the user name and password of an api-url in the log', async () => {
    const url = emulator.url.replace('http://', 'http://user:hunter2@')
    const io = recordingIO({ token: emulator.token, 'api-url': url, command: 'echo ok' })
    await run({ io, env: { RUNNER_TEMP: tmpdir() }, clock: systemClock, stop: new AbortController().signal })
    expect(io.failures).toEqual([])
    expect(io.log.join('\n')).not.toContain('hunter2')
    expect(io.log.join('\n')).toContain('http://***@127.0.0.1')
  })
})

describe('every exit goes through the one report path', () => {
  /** Every output set, and the summary written with the outcome's title. */
  function expectFullReport(io: RecordingIO, title: string): void {
    expect(Object.keys(io.outputs).sort()).toEqual([...ALL_OUTPUTS].sort())
    expect(io.summary).toContain(`## ${title}`)
  }

  it('success', async () => {
    expectFullReport(await runWith({ command: 'echo ok' }), '✅ Qarnot task succeeded: 1/1 instance')
  })

  it('failure', async () => {
    expectFullReport(
      await runWith({ command: 'false' }),
      '❌ Qarnot task failed: 1 of 1 instance did not succeed'
    )
  })

  it('wait: false', async () => {
    const io = await runWith({ command: 'sleep 5', wait: 'false' })
    expectFullReport(io, '📤 Qarnot task submitted')
    expect(io.failures).toEqual([])
  })

  it('abort-on-cancel: false after a cancel', async () => {
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 300)
    const io = await runWith({ command: 'sleep 30', 'abort-on-cancel': 'false' }, stop.signal)
    expectFullReport(io, '⛔ Step cancelled: the Qarnot task was left running')
    expect(io.outputs['qarnot-outcome']).toBe('cancelled')
    expect(io.state.taskEnded).toBe('true')
  })

  it('a timeout', async () => {
    expectFullReport(
      await runWith({ command: 'sleep 30', timeout: '1s' }),
      '⏱️ Qarnot task aborted after the timeout'
    )
  })

  it('a cancel', async () => {
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 400)
    expectFullReport(await runWith({ command: 'sleep 30' }, stop.signal), '⛔ Qarnot task cancelled')
  })

  it('a cancel while the task is being created', async () => {
    emulator.faults.add({ endpoint: 'POST /tasks', fault: { type: 'delay', ms: 1500 } })
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 200)
    const io = await runWith({ command: 'sleep 30' }, stop.signal)
    expectFullReport(io, '⛔ Qarnot task cancelled')
    expect(io.state.shortname).toMatch(/^gha-42-1-/)
  })

  it('a task that cannot be followed', async () => {
    emulator.faults.add({
      endpoint: 'GET /tasks/{uuid}',
      fault: { type: 'status', status: 500 },
      times: 1000
    })
    const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, command: 'sleep 30' })
    await run({
      io,
      env: { RUNNER_TEMP: tmpdir() },
      clock: systemClock,
      stop: new AbortController().signal,
      retry: { ...DEFAULT_RETRY, maxAttempts: 2, baseDelayMs: 10, maxTotalMs: 100 },
      badReadBudgetMs: 300
    })
    expectFullReport(io, '❌ Qarnot task could not be followed')
  })

  it('a create refused', async () => {
    emulator.faults.add({
      endpoint: 'POST /tasks',
      fault: { type: 'status', status: 402, message: 'Not enough credits' }
    })
    const io = await runWith({ command: 'echo' })
    expectFullReport(io, '❌ Qarnot task not created')
    expect(io.outputs['task-uuid']).toBe('')
    // Nothing was made: the post step has nothing to look for.
    expect(io.state.taskEnded).toBe('true')
  })

  it('a summary that cannot be written warns, and a passing step stays passing', async () => {
    const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, command: 'echo ok' })
    io.appendSummary = async () => {
      throw new Error('EACCES: permission denied')
    }
    await run({ io, env: { RUNNER_TEMP: tmpdir() }, clock: systemClock, stop: new AbortController().signal })
    expect(io.failures).toEqual([])
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(io.log.join('\n')).toMatch(/::warning::The job summary could not be written \(EACCES/)
  })
})

describe('post()', () => {
  it('aborts a task that main left running, and never fails', async () => {
    const { uuid } = (await (
      await fetch(`${emulator.url}/tasks`, {
        method: 'POST',
        headers: { Authorization: emulator.token, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          name: 'x',
          profile: 'docker-batch',
          instanceCount: 1,
          constants: [{ key: 'DOCKER_CMD', value: 'sleep 30' }]
        })
      })
    ).json()) as { uuid: string }
    const io = recordingIO({ token: emulator.token, 'api-url': emulator.url }, { taskUuid: uuid })
    await post({ io, env: {} })
    expect(io.log.join('\n')).toMatch(/has been aborted/)
    expect(io.failures).toEqual([])
    await waitForState(emulator, uuid, ['Cancelled'])
  })

  it('does nothing when main saw the task end or created none', async () => {
    const ended = recordingIO(
      { token: emulator.token, 'api-url': emulator.url },
      { taskUuid: 'x', taskEnded: 'true' }
    )
    await post({ io: ended, env: {} })
    const none = recordingIO({ token: emulator.token, 'api-url': emulator.url })
    await post({ io: none, env: {} })
    expect(emulator.requestCount()).toBe(0)
    expect(none.log.join()).toMatch(/no Qarnot task was created/)
  })

  it('warns instead of failing when the API cannot be reached', async () => {
    const io = recordingIO({ token: 't', 'api-url': 'http://127.0.0.1:9' }, { taskUuid: 'abc' })
    await post({ io, env: {} })
    expect(io.failures).toEqual([])
    expect(io.log.join('\n')).toMatch(/::warning::Post: could not check or abort task abc/)
    expect(io.log.join('\n')).not.toMatch(/has been aborted/)
  })
})

describe('post() looking for a task by shortname', () => {
  it('rides out 5xx answers that outlive the client retries, finds the task, and aborts it', async () => {
    const created = await fetch(`${emulator.url}/tasks`, {
      method: 'POST',
      headers: { Authorization: emulator.token, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'x',
        shortname: 'gha-1-1-lost',
        profile: 'docker-batch',
        instanceCount: 1,
        constants: [{ key: 'DOCKER_CMD', value: 'sleep 30' }]
      })
    })
    const { uuid } = (await created.json()) as { uuid: string }
    // More 503s in a row than one call's retries allow (fault suite run #986 left a task running this way).
    emulator.faults.add({ endpoint: 'GET /tasks/{uuid}', fault: { type: 'status', status: 503 }, times: 6 })
    const io = recordingIO({ token: emulator.token, 'api-url': emulator.url }, { shortname: 'gha-1-1-lost' })
    await post({ io, env: {} })
    expect(io.log.join('\n')).toMatch(/has been aborted/)
    await waitForState(emulator, uuid, ['Cancelled'])
  })
})
