/**
 * The action against each way the real API may answer (the emulator's quirk modes, docs/emulator.md), and the
 * bundled action against all of them at once.
 */
import { describe, expect, it } from '@jest/globals'
import { tmpdir } from 'node:os'
import type { EmulatorOptions, EmulatorQuirks, QarnotEmulator } from '../emulator/server.js'
import { runAction } from '../src/local-runner/runner.js'
import { run } from '../src/main.js'
import { systemClock } from '../src/task/clock.js'
import { emulatorsOfThisFile } from './helpers/emulator.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'

/** Emulators of the test under way, stopped after the file (tests run side by side: each has its own). */
const start = emulatorsOfThisFile()

async function runWith(
  quirks: EmulatorQuirks,
  inputs: Record<string, string>,
  options: EmulatorOptions = {}
): Promise<{ io: RecordingIO; emulator: QarnotEmulator }> {
  const emulator = await start({ ...options, quirks })
  const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, ...inputs })
  await run({ io, env: { RUNNER_TEMP: tmpdir() }, clock: systemClock, stop: new AbortController().signal })
  return { io, emulator }
}

/** Nothing a reader should ever see in a report. */
const GARBAGE = /NaN|Invalid Date|undefined|\[object Object\]/

describe('the action against each quirk', () => {
  it.concurrent.each(['empty', 'null'] as const)(
    'a finished task listing no completed instance (%s): the status ranges decide, times shown as unknown',
    async mode => {
      const { io } = await runWith(
        { finishedWithoutInstances: mode },
        { 'instance-count': '3', command: 'echo ${INSTANCE_ID}' }
      )
      expect(io.failures).toEqual([])
      expect(io.outputs).toMatchObject({ 'qarnot-outcome': 'success', 'succeeded-count': '3' })
      expect(JSON.parse(io.outputs.instances)[0]).toMatchObject({ state: 'Success', wallTimeSec: null })
      expect(io.summary).not.toMatch(GARBAGE)
    }
  )

  it.concurrent(
    'a finished task listing no instance, with a failure in its ranges: the failure stands',
    async () => {
      const { io } = await runWith(
        { finishedWithoutInstances: 'empty' },
        { 'instance-count': '3', command: "sh -c 'exit $((INSTANCE_ID == 1))'" }
      )
      expect(io.outputs).toMatchObject({ 'qarnot-outcome': 'failure', 'failed-instances': '1' })
    }
  )

  it.concurrent(
    'a task deleted a moment after its end (auto-delete): the step passes on what was read',
    async () => {
      // Deleted a moment after its end: after the action saw it end, while it reads what is left.
      const { io } = await runWith(
        { autoDelete: { afterMs: 1500 }, pendingDelete: { ms: 100 } },
        { 'instance-count': '2', command: "sh -c 'echo printed ${INSTANCE_ID}'", 'auto-delete': 'true' }
      )
      expect(io.failures).toEqual([])
      expect(io.outputs['qarnot-outcome']).toBe('success')
      expect(io.outputs.stdout).toBe('0> printed 0\n1> printed 1\n')
    }
  )

  it.concurrent(
    'a task deleted before its end was seen: a few 404s are enough to say so, and it fails clearly',
    async () => {
      const { io } = await runWith(
        { autoDelete: { afterMs: 10 } },
        { 'instance-count': '2', command: 'echo quick', 'auto-delete': 'true', 'poll-interval': '3s' }
      )
      expect(io.outputs['qarnot-outcome']).toBe('failure')
      expect(io.failures[0]).toMatch(/disappeared while it was followed: .*auto-delete, once it ended/)
    }
  )

  it.concurrent('the legacy DownloadingResults state is waited through', async () => {
    const { io } = await runWith(
      { legacyUploadingState: true },
      { command: 'echo legacy' },
      // Long enough that a read at the one-second cadence falls in it on a loaded machine.
      { timings: { dispatchMs: 20, environmentMs: 10, uploadMs: 3000, cancelMs: 50 } }
    )
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(io.log.join('\n')).toMatch(/State: DownloadingResults/)
  })

  it.concurrent('.NET time spans and 7-digit dates: no NaN, no Invalid Date anywhere', async () => {
    const { io } = await runWith(
      { dotNetTimes: true },
      { 'instance-count': '2', command: "sh -c 'sleep 0.2'" }
    )
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect([io.summary, io.outputs.instances, ...io.log].join('\n')).not.toMatch(GARBAGE)
    expect(io.summary).toMatch(/Where the time went/)
  })

  it.concurrent('a second reader of the fresh-output cursor: what it took is read back', async () => {
    const { io, emulator } = await runWith(
      { secondReader: { intervalMs: 40 } },
      {
        'instance-count': '2',
        command: "sh -c 'for i in 1 2 3 4 5 6; do echo line $i of ${INSTANCE_ID}; sleep 0.1; done'"
      }
    )
    expect(emulator.allTasks()[0].secondReaderTook).toBeGreaterThan(0)
    for (const id of [0, 1]) {
      expect(io.outputs.stdout).toContain([1, 2, 3, 4, 5, 6].map(i => `${id}> line ${i} of ${id}\n`).join(''))
    }
    expect(io.summary).toMatch(/taken by another reader/)
  })

  it.concurrent(
    'preemption: the restarted instance is shown restarted, and its output as several runs',
    async () => {
      const { io } = await runWith(
        { preemption: { instanceIds: [1], afterMs: 150 } },
        {
          'instance-count': '2',
          command: "sh -c 'echo start ${INSTANCE_ID}; sleep 0.4; echo end ${INSTANCE_ID}'"
        }
      )
      expect(io.outputs['qarnot-outcome']).toBe('success')
      expect(JSON.parse(io.outputs.instances)[1]).toMatchObject({ id: 1, attempts: 2 })
      expect(io.summary).toContain('2 (restarted 1×)')
      expect(io.summary).toContain('Instance 1: Success (ran 2 times: the output holds every run)')
      // Both runs, in order; on a loaded machine the first may reach its end before the node is lost.
      expect(io.outputs.stdout).toMatch(/1> start 1\n(1> end 1\n)?1> start 1\n1> end 1\n/)
    }
  )

  it.concurrent.each(['snake', 'camel'] as const)(
    'credits and carbon facts in %s case: in the summary and the outputs',
    async carbonCase => {
      const { io } = await runWith({ carbonCase }, { command: "sh -c 'sleep 0.3'" })
      expect(Number(io.outputs.credits)).toBeGreaterThan(0)
      expect(Number(io.outputs['carbon-gco2eq'])).toBeGreaterThan(0)
      expect(Number(io.outputs['energy-wh'])).toBeGreaterThan(0)
      expect(Number(io.outputs['energy-reused-wh'])).toBeGreaterThan(0)
      expect(io.summary).toMatch(
        /\*\*Cost\*\* [\d.]+ credits · [\d.]+ gCO2eq \([\d.]+% less than .+\) · [\d.]+ Wh, [\d.]+ Wh reused as heat/
      )
    }
  )

  it.concurrent.each([403, 404] as const)(
    'credits and carbon refused (%s): left out, the step passes, quickly',
    async status => {
      const started = Date.now()
      const { io } = await runWith({ creditsAnswer: status, carbonAnswer: status }, { command: 'echo fine' })
      expect(io.failures).toEqual([])
      expect(io.outputs).toMatchObject({ 'qarnot-outcome': 'success', credits: '', 'carbon-gco2eq': '' })
      expect(io.summary).not.toContain('**Cost**')
      expect(io.log.join('\n')).toMatch(/::debug::The credits of the task could not be read/)
      expect(Date.now() - started).toBeLessThan(10_000)
    }
  )

  it.concurrent(
    'credits that lag the end by a moment are waited for, within the couple of seconds allowed',
    async () => {
      const { io } = await runWith(
        { creditsAnswer: { lagMs: 600 }, carbonAnswer: { lagMs: 600 } },
        { command: 'echo fine' }
      )
      expect(Number(io.outputs.credits)).toBeGreaterThan(0)
    }
  )
})

describe('the bundled action against every quirk at once', () => {
  it('passes, reports every instance, and shows nothing garbled', async () => {
    const emulator = await start({
      quirks: {
        jsonStringOutput: true,
        nullCollections: true,
        finishedWithoutInstances: 'null',
        shortnameClashStatus: 403,
        lookupLagMs: 1500,
        legacyUploadingState: true,
        pendingDelete: { ms: 50 },
        autoDelete: { afterMs: 3000 },
        dotNetTimes: true,
        secondReader: { intervalMs: 60 },
        preemption: { instanceIds: [2], afterMs: 150 },
        carbonCase: 'camel',
        creditsAnswer: { lagMs: 300 }
      },
      faults: [{ endpoint: 'POST /tasks', fault: { type: 'lose-answer' } }]
    })
    const { main, post } = await runAction({
      inputs: {
        token: emulator.token,
        'api-url': `${emulator.url}/v1`,
        'instance-count': '4',
        command: "sh -c 'echo begin ${INSTANCE_ID}; sleep 0.4; echo done ${INSTANCE_ID}'",
        'auto-delete': 'true'
      }
    })
    expect(main.exitCode).toBe(0)
    expect(post.exitCode).toBe(0)
    expect(emulator.requestCount('POST /tasks')).toBe(2)
    expect(main.outputs).toMatchObject({
      'qarnot-outcome': 'success',
      'instance-count': '4',
      'failed-instances': ''
    })
    for (let id = 0; id < 4; id++) expect(main.outputs.stdout).toContain(`${id}> done ${id}\n`)
    expect([main.summary, main.outputs.instances, main.log].join('\n')).not.toMatch(GARBAGE)
  })
})
