/**
 * snapshot-interval (docs/long-runs.md): the emulator's periodic snapshots upload what running instances wrote,
 * and a step that times out or hands off brings those files back and says whose are partial.
 */
import { describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { QarnotEmulator } from '../emulator/server.js'
import { run } from '../src/main.js'
import { systemClock } from '../src/task/clock.js'
import { call, emulatorsOfThisFile, helloBody, waitForState } from './helpers/emulator.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'
import { workspace } from './helpers/storage.js'

const start = emulatorsOfThisFile()

async function runIn(
  emulator: QarnotEmulator,
  root: string,
  inputs: Record<string, string>
): Promise<RecordingIO> {
  const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, ...inputs })
  const env = {
    RUNNER_TEMP: tmpdir(),
    GITHUB_WORKSPACE: root,
    GITHUB_REPOSITORY: 'octo-org/sim',
    GITHUB_RUN_ID: '5'
  }
  await run({ io, env, clock: systemClock, stop: new AbortController().signal })
  return io
}

/** Instance 0 ends at once; the others write a progress file, then run on for long. */
const PROGRESS =
  "sh -c 'mkdir -p out/$INSTANCE_ID; echo step 1 > out/$INSTANCE_ID/progress.txt; if [ $INSTANCE_ID -eq 0 ]; then echo done > out/0/progress.txt; exit 0; fi; sleep 30'"

describe('snapshot-interval', () => {
  it('asks Qarnot once for periodic snapshots, which the emulator takes, and sets uploadResultsOnCancellation', async () => {
    const emulator = await start()
    const root = workspace({})
    await runIn(emulator, root, {
      'instance-count': '2',
      command: PROGRESS,
      results: 'out',
      'snapshot-interval': '1s',
      'hand-off-after': '2500ms'
    })
    const [task] = emulator.allTasks()
    expect(task.body.uploadResultsOnCancellation).toBe(true)
    const wire = task.toWire()
    expect(wire.snapshotInterval).toBe(1)
    expect(emulator.requestCount('POST /tasks/{uuid}/snapshot/periodic')).toBe(1)
    expect(task.snapshotsTaken).toBeGreaterThan(0)
  })

  it('a hand-off brings back what the running instances had written, and says whose files are partial', async () => {
    const emulator = await start()
    const root = workspace({})
    const io = await runIn(emulator, root, {
      'instance-count': '3',
      command: PROGRESS,
      results: 'out',
      'snapshot-interval': '1s',
      'hand-off-after': '3s'
    })
    expect(io.outputs['qarnot-outcome']).toBe('handed-off')
    expect(io.failures).toEqual([])
    expect(readFileSync(join(root, 'out/0/progress.txt'), 'utf8')).toBe('done\n')
    for (const id of [1, 2])
      expect(readFileSync(join(root, `out/${id}/progress.txt`), 'utf8')).toBe('step 1\n')
    expect(io.log.join('\n')).toContain(
      'Result files of instances 1-2 are partial: they had not ended when the step stopped following the task; the step that collects the task brings back their final files.'
    )
    // Nothing was aborted, and the results bucket stays for the collector.
    expect(emulator.requestCount('POST /tasks/{uuid}/abort')).toBe(0)
  })

  it('a timeout brings back the partial files and names the partial instances', async () => {
    const emulator = await start()
    const root = workspace({})
    const io = await runIn(emulator, root, {
      'instance-count': '2',
      command: PROGRESS,
      results: 'out',
      'snapshot-interval': '1s',
      timeout: '3s'
    })
    expect(io.outputs['qarnot-outcome']).toBe('timed-out')
    expect(readFileSync(join(root, 'out/1/progress.txt'), 'utf8')).toBe('step 1\n')
    expect(io.log.join('\n')).toMatch(/Result files of instances 1 are partial: .*the timeout stopped them/)
  })

  it('without snapshot-interval a timeout brings no file of an unfinished task back (as before)', async () => {
    const emulator = await start({
      timings: { dispatchMs: 20, environmentMs: 10, uploadMs: 20, cancelMs: 20_000 }
    })
    const root = workspace({})
    const io = await runIn(emulator, root, {
      'instance-count': '2',
      command: PROGRESS,
      results: 'out',
      timeout: '2s'
    })
    expect(io.outputs['qarnot-outcome']).toBe('timed-out')
    expect(existsSync(join(root, 'out/1/progress.txt'))).toBe(false)
  })
})

describe('the emulated periodic snapshot endpoint', () => {
  it('takes {interval}, refuses a bad one (400), and a task that has ended (403)', async () => {
    const emulator = await start()
    const { uuid } = (await call(emulator, 'POST', '/tasks', helloBody({ instanceCount: 1 }))).json() as {
      uuid: string
    }
    expect((await call(emulator, 'POST', `/tasks/${uuid}/snapshot/periodic`, { interval: -1 })).status).toBe(
      400
    )
    expect((await call(emulator, 'POST', `/tasks/${uuid}/snapshot/periodic`, { interval: 1.5 })).status).toBe(
      400
    )
    expect((await call(emulator, 'POST', `/tasks/${uuid}/snapshot/periodic`, { every: 3 })).status).toBe(400)
    expect(
      (await call(emulator, 'POST', `/v1/tasks/${uuid}/snapshot/periodic`, { interval: 30 })).status
    ).toBe(200)
    expect(
      ((await call(emulator, 'GET', `/tasks/${uuid}`)).json() as { snapshotInterval: number })
        .snapshotInterval
    ).toBe(30)
    await waitForState(emulator, uuid, ['Success'])
    expect((await call(emulator, 'POST', `/tasks/${uuid}/snapshot/periodic`, { interval: 30 })).status).toBe(
      403
    )
  })
})
