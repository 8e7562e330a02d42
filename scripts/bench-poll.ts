/**
 * `npm run bench -- poll`: how soon the end of a long task is seen, and at what cost in requests. The action's
 * follow loop (followTask: status reads, output reads, the last reads) runs against the emulator with the tasks'
 * clock sped up (emulator option `timeScale`); the loop is given the same clock, so the durations it reads and
 * the time it waits agree. Requests are real HTTP requests to the emulator; their latency is real, so it counts
 * `scale` times over in emulated time (at 120x, 1 ms real reads as 0.12 s: about a real API's latency).
 *
 * Each task runs its instances in waves on a few slots, each instance taking the typical duration ±15%
 * (different on every run), as parameter sweeps do: the schedule learns from the first wave when the last ends.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startEmulator } from '../emulator/server.js'
import { sleepUnlessAborted, QarnotClient } from '../src/qarnot/client.js'
import { ActionsHttpTransport } from '../src/qarnot/transport.js'
import { USER_AGENT } from '../src/version.js'
import type { Clock } from '../src/task/clock.js'
import { followTask } from '../src/task/follow.js'
import { isFinalState } from '../src/task/states.js'

export interface PollCase {
  readonly label: string
  readonly instances: number
  readonly slots: number
  /** The typical instance duration (emulated ms). */
  readonly instanceMs: number
  /** How many times faster than real time the emulator's clock runs. */
  readonly scale: number
  readonly runs: number
}

/** One task of the poll bench: 4 slots, waves of instances; about 1 min, 10 min and 2 h from start to end. */
export const POLL_CASES: readonly PollCase[] = [
  {
    label: '1 min (24 instances x ~10 s, 4 at a time)',
    instances: 24,
    slots: 4,
    instanceMs: 10_000,
    scale: 10,
    runs: 5
  },
  {
    label: '10 min (40 instances x ~60 s, 4 at a time)',
    instances: 40,
    slots: 4,
    instanceMs: 60_000,
    scale: 60,
    runs: 5
  },
  {
    label: '2 h (100 instances x ~288 s, 4 at a time)',
    instances: 100,
    slots: 4,
    instanceMs: 288_000,
    scale: 120,
    runs: 3
  }
]

export interface PollRun {
  /** Emulated ms from the task's end to the status read that showed it ended. */
  readonly endToSeenMs: number
  /** Emulated ms from the task's end to the follow loop's return (its last output reads done). */
  readonly endToExitMs: number
  /** Emulated ms from the create to the follow loop's return. */
  readonly runMs: number
  readonly taskMs: number
  readonly requests: number
  readonly statusReads: number
  /** Requests by endpoint, e.g. `GET /tasks/{uuid}` -> 12. */
  readonly byEndpoint: ReadonlyMap<string, number>
  readonly state: string
}

export async function runPollCase(c: PollCase, seed: number): Promise<PollRun> {
  const emulator = await startEmulator({ maxRunningInstances: c.slots, timeScale: c.scale, storage: false })
  const transport = new ActionsHttpTransport(USER_AGENT)
  try {
    const clock: Clock = {
      now: () => emulator.clock.now(),
      sleep: (ms, signal) => sleepUnlessAborted(emulator.clock.realMs(ms), signal)
    }
    const client = new QarnotClient({
      baseUrl: emulator.url,
      token: emulator.token,
      userAgent: USER_AGENT,
      transport
    })
    // Real seconds each instance sleeps: the typical duration ±15%, from a seeded generator.
    let state = seed * 7919 + 1
    const random = () => ((state = (state * 48271) % 2147483647), state / 2147483647)
    const constants = Array.from({ length: c.instances }, (_, id) => ({
      key: `SLEEP_${id}`,
      value: ((c.instanceMs * (1 + 0.15 * (2 * random() - 1))) / c.scale / 1000).toFixed(4)
    }))
    emulator.resetCounters()
    const createdAt = clock.now()
    const { uuid } = await client.createTask({
      name: 'bench-poll',
      profile: 'docker-batch',
      instanceCount: c.instances,
      constants: [{ key: 'DOCKER_CMD', value: "sh -c 'eval sleep \\$SLEEP_$INSTANCE_ID'" }, ...constants]
    })
    let seenAt: number | undefined
    const followed = await followTask({
      client,
      uuid,
      ids: () => Array.from({ length: c.instances }, (_, id) => id),
      clock,
      stop: new AbortController().signal,
      log: { info: () => undefined, warning: message => console.log(`  warning: ${message}`) },
      logsDir: mkdtempSync(join(tmpdir(), 'qarnot-bench-poll-')),
      started: createdAt,
      timeoutMs: undefined,
      abortOnCancel: true,
      pollFloorMs: 0,
      onTask: task => void (seenAt ??= isFinalState(task.state) ? clock.now() : undefined)
    })
    const exitedAt = clock.now()
    const endedAt = emulator.allTasks().find(t => t.uuid === uuid)?.finishedAt ?? NaN
    let requests = 0
    for (const count of emulator.requests.values()) requests += count
    return {
      endToSeenMs: (seenAt ?? NaN) - endedAt,
      endToExitMs: exitedAt - endedAt,
      runMs: exitedAt - createdAt,
      taskMs: endedAt - createdAt,
      requests,
      statusReads: emulator.requestCount('GET /tasks/{uuid}'),
      byEndpoint: new Map(emulator.requests),
      state: followed.task?.state ?? 'unknown'
    }
  } finally {
    transport.close()
    await emulator.stop()
  }
}
