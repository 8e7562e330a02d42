/**
 * `npm run bench`: figures for the action's cost, measured on the bundled action (dist/index.js) run as the runner
 * runs it, against the emulator. Not a test: it prints figures, medians where a scenario is repeated.
 *
 *   npm run bench                 every scenario
 *   npm run bench -- hello 10k    only the named ones (hello, 1k, 10k, 10k-lost, line100mb, 200mib, 1gb, long,
 *                                 cancel, cold, render, files, cache, poll)
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { startEmulator, type EmulatorOptions, type QarnotEmulator } from '../emulator/server.js'
import { benchStorage, printReport } from './bench-storage.js'
import { POLL_CASES, runPollCase, type PollRun } from './bench-poll.js'
import { PROJECT_ROOT, stepEnvironment } from '../src/local-runner/runner.js'
import type { OutputStream } from '../src/qarnot/client.js'
import type { TaskOutputWire } from '../src/qarnot/types.js'
import { Outcome } from '../src/constants.js'
import { renderSummary } from '../src/report/summary.js'
import { InstanceOutputFiles } from '../src/task/output-files.js'
import { OutputFollower } from '../src/task/output-follower.js'
import { decideVerdict } from '../src/task/verdict.js'
import type { Clock } from '../src/task/clock.js'
import { watchTask } from '../src/task/watch.js'

interface RunFigures {
  exitCode: number | null
  wallMs: number
  endToExitMs: number
  /** From the status read that answered the final state to the exit: the action's own finishing work. */
  seenToExitMs: number
  firstRequestMs: number
  peakRssMB: number
  summaryBytes: number
  logBytes: number
  requests: Map<string, number>
  statusReads: number
  /** Requests between the first status read and the task's end, per status read in that window. */
  perPoll: number
  afterEnd: number
  /** Where the run's summary, outputs and state files are. */
  workDir: string
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Peak resident memory of a process so far (Linux VmHWM), in MB. */
function peakRssMB(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) / 1024 : 0
  } catch {
    return 0
  }
}

/** Runs dist/index.js once as the runner would, its log counted (not kept), and measures it. */
async function runAction(
  emulator: QarnotEmulator,
  inputs: Record<string, string>,
  prepare: (workDir: string) => void = () => undefined
): Promise<RunFigures> {
  emulator.resetCounters()
  const workDir = mkdtempSync(join(tmpdir(), 'qarnot-bench-'))
  prepare(workDir)
  for (const file of ['output', 'state', 'env', 'path', 'summary']) writeFileSync(join(workDir, file), '')
  const env = stepEnvironment(
    { inputs: { token: emulator.token, 'api-url': emulator.url, ...inputs } },
    workDir
  )
  const before = new Set(emulator.allTasks().map(t => t.uuid))
  const started = Date.now()
  // BENCH_PROFILE=<dir> keeps a CPU profile of each run of the action there (open it in Chrome's DevTools).
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : []
  const child = spawn(process.execPath, [...profile, join(PROJECT_ROOT, 'dist', 'index.js')], {
    cwd: workDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let logBytes = 0
  child.stdout.on('data', (chunk: Buffer) => (logBytes += chunk.length))
  child.stderr.on('data', (chunk: Buffer) => (logBytes += chunk.length))
  let peak = 0
  const sampler = setInterval(() => (peak = Math.max(peak, peakRssMB(child.pid ?? 0))), 20)
  const exitCode = await new Promise<number | null>(resolve =>
    child.on('exit', code => {
      peak = Math.max(peak, peakRssMB(child.pid ?? 0))
      resolve(code)
    })
  )
  const exitedAt = Date.now()
  clearInterval(sampler)
  const task = emulator.allTasks().find(t => !before.has(t.uuid))
  const endedAt = task?.endDate?.getTime() ?? exitedAt
  const log = emulator.requestLog
  return {
    exitCode,
    wallMs: exitedAt - started,
    endToExitMs: exitedAt - endedAt,
    seenToExitMs:
      exitedAt - (log.find(r => r.endpoint === 'GET /tasks/{uuid}' && r.at > endedAt)?.at ?? endedAt),
    firstRequestMs: log.length > 0 ? log[0].at - started : NaN,
    peakRssMB: peak,
    summaryBytes: statSync(join(workDir, 'summary')).size,
    workDir,
    logBytes,
    requests: new Map(emulator.requests),
    statusReads: emulator.requestCount('GET /tasks/{uuid}'),
    afterEnd: log.filter(r => r.at > endedAt).length,
    perPoll: (() => {
      const first = log.findIndex(r => r.endpoint === 'GET /tasks/{uuid}')
      const during = log.slice(first).filter(r => r.at <= endedAt)
      const polls = during.filter(r => r.endpoint === 'GET /tasks/{uuid}').length
      return polls > 0 ? during.length / polls : NaN
    })()
  }
}

function line(label: string, value: string): void {
  console.log(`  ${label.padEnd(34)} ${value}`)
}

function report(name: string, runs: RunFigures[]): void {
  const last = runs[runs.length - 1]
  const m = (pick: (r: RunFigures) => number) => median(runs.map(pick))
  console.log(`\n## ${name}${runs.length > 1 ? ` (median of ${runs.length} runs)` : ''}`)
  line('exit code', runs.map(r => r.exitCode).join(', '))
  line('wall time', `${(m(r => r.wallMs) / 1000).toFixed(2)} s`)
  line("task's end -> action's exit", `${(m(r => r.endToExitMs) / 1000).toFixed(2)} s`)
  line(
    'final state read -> exit',
    `${(m(r => r.seenToExitMs) / 1000).toFixed(2)} s (the action's own finishing)`
  )
  line('peak RSS of the action', `${m(r => r.peakRssMB).toFixed(0)} MB`)
  line('summary', `${m(r => r.summaryBytes)} bytes (${(m(r => r.summaryBytes) / 1048576).toFixed(3)} MiB)`)
  line('log', `${(m(r => r.logBytes) / 1048576).toFixed(1)} MiB`)
  let total = 0
  for (const count of last.requests.values()) total += count
  line('status reads (polls)', String(last.statusReads))
  line('requests per poll while running', `${m(r => r.perPoll).toFixed(2)} (status + new output)`)
  line('requests after the end', String(last.afterEnd))
  line('requests in all', `${total}: ${[...last.requests].map(([e, c]) => `${c} ${e}`).join(', ')}`)
}

async function withEmulator<T>(
  options: EmulatorOptions,
  body: (emulator: QarnotEmulator) => Promise<T>
): Promise<T> {
  const emulator = await startEmulator(options)
  try {
    return await body(emulator)
  } finally {
    await emulator.stop()
  }
}

/** A command printing `bytes` of 64-byte lines (awk, so the instance itself costs little). */
function printBytes(bytes: number): string {
  const lines = Math.floor(bytes / 64)
  return `awk "BEGIN { s = sprintf(\\"%063d\\", 0); for (i = 0; i < ${lines}; i++) print s }"`
}

const scenarios: Record<string, () => Promise<void>> = {
  async hello() {
    await withEmulator({}, async emulator => {
      const runs: RunFigures[] = []
      for (let i = 0; i < 7; i++) {
        runs.push(
          await runAction(emulator, {
            'instance-count': '4',
            command: 'echo hello world from node ${INSTANCE_ID}!'
          })
        )
      }
      report('4 instances, short output', runs)
    })
  },
  async '1k'() {
    await withEmulator({ maxRunningInstances: 64 }, async emulator => {
      report('1,000 instances x 10 KiB', [
        await runAction(emulator, { 'instance-count': '1000', command: `sh -c '${printBytes(10 * 1024)}'` })
      ])
    })
  },
  async '10k'() {
    await withEmulator({ maxRunningInstances: 128, maxTasks: 10 }, async emulator => {
      report('10,000 instances x 1 KiB', [
        await runAction(emulator, { 'instance-count': '10000', command: `sh -c '${printBytes(1024)}'` })
      ])
    })
  },
  async '10k-lost'() {
    // One lost read (its answer replaced by a 503 after the server moved the cursor) on the first fresh stdout
    // read that carries output: what it held comes back from one whole read, not 20,000 per-instance reads.
    const inputs = { 'instance-count': '10000', command: `sh -c '${printBytes(1024)}'` }
    const options = { maxRunningInstances: 128, maxTasks: 10, storage: false }
    const clean = await withEmulator(options, emulator => runAction(emulator, inputs))
    let lost = false
    const faulty = await withEmulator(
      {
        ...options,
        faults: [
          {
            endpoint: 'POST /tasks/{uuid}/stdout',
            times: 1_000_000,
            fault: {
              type: 'transform',
              transform: answer =>
                lost || answer.body === ''
                  ? answer
                  : ((lost = true), { status: 503, contentType: 'text/plain', body: 'lost' })
            }
          }
        ]
      },
      emulator => runAction(emulator, inputs)
    )
    report('10,000 instances x 1 KiB, no fault', [clean])
    report('10,000 instances x 1 KiB, one lost read', [faulty])
    line(
      'lost-read time / fault-free time',
      `${(faulty.wallMs / clean.wallMs).toFixed(2)}x (target under 2x)`
    )
    line(
      'reads after the end (lost / clean)',
      `${faulty.afterEnd} / ${clean.afterEnd}; per-instance reads: ${faulty.requests.get('GET /tasks/{uuid}/stdout/{instanceId}') ?? 0}`
    )
  },
  async line100mb() {
    // One line of 100 MB without a newline until its end: linear in time, flat in memory.
    await withEmulator({ outputBufferBytes: 256 * 1024 * 1024, storage: false }, async emulator => {
      const figures = await runAction(emulator, {
        command: `sh -c 'head -c 100000000 /dev/zero | tr "\\0" x; echo'`,
        'stream-logs': 'false'
      })
      report('1 instance printing one line of 100 MB', [figures])
      line(
        'targets',
        `under 5 s (${(figures.endToExitMs / 1000).toFixed(2)} s end to exit) and 200 MB RSS (${figures.peakRssMB.toFixed(0)} MB)`
      )
    })
  },
  async files() {
    printReport(await benchStorage({ log: message => console.log(`  ${message}`) }))
  },
  async cache() {
    // 1,000 instances, each printing a line and writing one result file, at 40 ms per storage request.
    await withEmulator({ maxRunningInstances: 1000, storage: { latencyMs: 40 } }, async emulator => {
      const storage = await emulator.storage()
      const inputs = {
        'instance-count': '1000',
        command:
          "sh -c 'echo shard $INSTANCE_ID; mkdir -p out/$INSTANCE_ID; echo result $INSTANCE_ID > out/$INSTANCE_ID/r.txt'",
        resources: 'params.txt',
        results: 'out',
        'stream-logs': 'false'
      }
      const workspace = (dir: string) => writeFileSync(join(dir, 'params.txt'), 'p=1\n')
      const measure = async (extra: Record<string, string>) => {
        storage.resetCounters()
        const run = await runAction(emulator, { ...inputs, ...extra }, workspace)
        let requests = 0
        for (const count of storage.requests.values()) requests += count
        return { run, requests, bytes: storage.bytesReceived + storage.bytesSent }
      }
      const uncached = [await measure({}), await measure({})]
      const storing = await measure({ cache: 'true' })
      const cached = [
        await measure({ cache: 'true' }),
        await measure({ cache: 'true' }),
        await measure({ cache: 'true' })
      ]
      const m = (runs: typeof cached, pick: (r: (typeof cached)[number]) => number) => median(runs.map(pick))
      console.log('\n## Cache: 1,000 instances, 40 ms per storage request (medians)')
      for (const [label, runs] of [
        ['without the cache (2 runs)', uncached],
        ['cache: true, first run (stores)', [storing]],
        ['cache: true, all cached (3 runs)', cached]
      ] as const) {
        line(
          label,
          `exit ${runs.map(r => r.run.exitCode).join(',')} · ${(m([...runs], r => r.run.wallMs) / 1000).toFixed(2)} s start to exit · ${m([...runs], r => r.requests)} storage requests · ${(m([...runs], r => r.bytes) / 1024).toFixed(0)} KiB moved · ${m([...runs], r => r.run.requests.get('POST /tasks') ?? 0)} tasks created`
        )
      }
      for (const { run } of [...uncached, storing, ...cached])
        if (run.exitCode !== 0) console.log(readFileSync(join(run.workDir, 'summary'), 'utf8').slice(0, 1500))
      const ratio = m(cached, r => r.bytes) / m(uncached, r => r.bytes)
      line(
        'targets',
        `all cached under 5 s (${(m(cached, r => r.run.wallMs) / 1000).toFixed(2)} s); bytes under 1% of uncached (${(ratio * 100).toFixed(1)}%)`
      )
    })
  },
  async '200mib'() {
    await withEmulator({ outputBufferBytes: 512 * 1024 * 1024 }, async emulator => {
      report('1 instance printing 200 MiB', [
        await runAction(emulator, { command: `sh -c '${printBytes(200 * 1024 * 1024)}'` })
      ])
    })
  },
  async '1gb'() {
    await withEmulator({ outputBufferBytes: 1536 * 1024 * 1024 }, async emulator => {
      report('8 instances x 128 MiB = 1 GiB of output', [
        await runAction(emulator, {
          'instance-count': '8',
          command: `sh -c '${printBytes(128 * 1024 * 1024)}'`
        })
      ])
    })
  },
  async long() {
    // The poll loop and the output follower as run() drives them, on a virtual clock: hours pass in milliseconds.
    for (const minutes of [1, 10, 120]) {
      let now = 0
      const clock: Clock = { now: () => now, sleep: async ms => void (now += ms) }
      const endAt = minutes * 60_000
      let statusReads = 0
      let outputReads = 0
      const task = (state: string): TaskOutputWire => ({
        uuid: 'u',
        state,
        instanceCount: 1,
        completedInstances: []
      })
      const client = {
        getTask: async () => (statusReads++, task(now >= endAt ? 'Success' : 'FullyExecuting')),
        readTaskOutput: async (
          _uuid: string,
          _stream: OutputStream,
          _mode: string,
          onChunk: (c: Buffer) => void
        ) => {
          outputReads++
          onChunk(Buffer.from('0> still working\n'))
        },
        readInstanceOutput: async () => undefined
      }
      const files = new InstanceOutputFiles(mkdtempSync(join(tmpdir(), 'qarnot-bench-long-')))
      const follower = new OutputFollower({ client, uuid: 'u', files, log: () => undefined })
      const result = await watchTask({
        client,
        uuid: 'u',
        clock,
        onTask: () => follower.readNew(new Set()).then(() => undefined)
      })
      console.log(`\n## A ${minutes}-minute task (virtual clock)`)
      line(
        'status reads',
        `${statusReads} (one every ${(endAt / 1000 / statusReads).toFixed(1)} s on average)`
      )
      line('new-output reads', String(outputReads))
      line('end seen after', `${((now - endAt) / 1000).toFixed(1)} s`)
      line('final state', result.task?.state ?? 'none')
    }
  },
  async poll() {
    // The end seen at once at any length (scripts/bench-poll.ts): the follow loop on the emulator's sped-up clock.
    for (const c of POLL_CASES) {
      const runs: PollRun[] = []
      for (let seed = 1; seed <= c.runs; seed++) runs.push(await runPollCase(c, seed))
      const m = (pick: (r: PollRun) => number) => median(runs.map(pick))
      const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`
      console.log(`\n## Poll: a task of ${c.label}, clock x${c.scale}, median of ${runs.length} runs`)
      line('final state', runs.map(r => r.state).join(', '))
      line('task (create -> end)', s(m(r => r.taskMs)))
      line(
        "task's end -> final state read",
        `${s(m(r => r.endToSeenMs))} (each run: ${runs.map(r => s(r.endToSeenMs)).join(', ')})`
      )
      line("task's end -> follow loop's exit", `${s(m(r => r.endToExitMs))} (last output reads included)`)
      line(
        'requests per second, whole run',
        `${m(r => r.requests / (r.runMs / 1000)).toFixed(3)} (${m(r => r.requests)} requests)`
      )
      line(
        'status reads per second',
        `${m(r => r.statusReads / (r.runMs / 1000)).toFixed(3)} (${m(r => r.statusReads)} reads)`
      )
      const endpoints = [...new Set(runs.flatMap(r => [...r.byEndpoint.keys()]))]
      line(
        'requests by endpoint (medians)',
        endpoints.map(e => `${m(r => r.byEndpoint.get(e) ?? 0)} ${e}`).join(', ')
      )
    }
    line('targets', 'end -> exit median at most 2 s; under 0.2 requests per second')
  },
  async cancel() {
    // SIGINT as the runner sends it when a workflow is cancelled: how soon does the abort reach Qarnot?
    await withEmulator({}, async emulator => {
      const toAbort: number[] = []
      const toExit: number[] = []
      for (let i = 0; i < 7; i++) {
        emulator.resetCounters()
        const workDir = mkdtempSync(join(tmpdir(), 'qarnot-bench-cancel-'))
        for (const file of ['output', 'state', 'env', 'path', 'summary'])
          writeFileSync(join(workDir, file), '')
        const inputs = {
          token: emulator.token,
          'api-url': emulator.url,
          'instance-count': '4',
          command: 'sleep 60'
        }
        const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist', 'index.js')], {
          cwd: workDir,
          env: stepEnvironment({ inputs }, workDir),
          stdio: 'ignore'
        })
        const exited = new Promise<void>(resolve => child.on('exit', () => resolve()))
        while (!emulator.allTasks().some(t => t.state === 'FullyExecuting' && !t.isFinal)) {
          await new Promise(resolve => setTimeout(resolve, 10))
        }
        await new Promise(resolve => setTimeout(resolve, 300 + i * 150)) // land at different points of the poll cycle
        const sentAt = Date.now()
        child.kill('SIGINT')
        await exited
        const abort = emulator.requestLog.find(r => r.endpoint === 'POST /tasks/{uuid}/abort')
        toAbort.push((abort?.at ?? NaN) - sentAt)
        toExit.push(Date.now() - sentAt)
      }
      console.log('\n## Cancellation: SIGINT -> abort request, 7 runs')
      line('SIGINT -> abort request', `median ${median(toAbort)} ms (max ${Math.max(...toAbort)} ms)`)
      line(
        'SIGINT -> exit (outputs and summary written)',
        `median ${median(toExit)} ms (max ${Math.max(...toExit)} ms)`
      )
    })
  },
  async cold() {
    await withEmulator({}, async emulator => {
      const times: number[] = []
      for (let i = 0; i < 11; i++) times.push((await runAction(emulator, { command: 'true' })).firstRequestMs)
      console.log('\n## Cold start (process start -> first request), 11 runs')
      line('median', `${median(times).toFixed(0)} ms`)
      line('min / max', `${Math.min(...times)} / ${Math.max(...times)} ms`)
    })
  },
  async render() {
    const count = 10_000
    const files = new InstanceOutputFiles(mkdtempSync(join(tmpdir(), 'qarnot-bench-render-')))
    const failing = new Set([3, 17, 4242, 9999])
    for (let id = 0; id < count; id++) files.append(id, 'stdout', [Buffer.from(`${'r'.repeat(1000)}\n`)])
    const verdict = decideVerdict(
      {
        uuid: 'u',
        state: 'Failure',
        instanceCount: count,
        completedInstances: Array.from({ length: count }, (_, id) => ({
          instanceId: id,
          state: failing.has(id) ? 'Failure' : 'Success',
          error: failing.has(id) ? { message: 'exit code 1' } : null
        }))
      },
      [{ first: 0, last: count - 1 }]
    )
    const times: number[] = []
    let bytes = 0
    for (let i = 0; i < 5; i++) {
      const start = performance.now()
      const markdown = renderSummary({
        task: { uuid: 'u', url: 'https://tasq.qarnot.com/tasks/u', name: 'render' },
        outcome: Outcome.Failure,
        title: '❌ Qarnot task failed',
        state: 'Failure',
        verdict,
        requestedCount: count,
        outputs: files,
        logsDir: files.dir,
        headline: 'failed',
        elapsedMs: 1000,
        notes: []
      })
      times.push(performance.now() - start)
      bytes = Buffer.byteLength(markdown)
    }
    console.log('\n## Summary of 10,000 instances (render alone, from the output files), 5 runs')
    line('render time', `median ${median(times).toFixed(0)} ms (min ${Math.min(...times).toFixed(0)} ms)`)
    line('summary', `${bytes} bytes (${(bytes / 1048576).toFixed(3)} MiB)`)
  }
}

const chosen = process.argv.slice(2)
const unknown = chosen.filter(name => !(name in scenarios))
if (unknown.length > 0) {
  console.error(`Unknown scenario ${unknown.join(', ')}; choose from ${Object.keys(scenarios).join(', ')}`)
  process.exit(2)
}
console.log(`# npm run bench (node ${process.version}, dist/index.js against the emulator)`)
for (const name of chosen.length > 0 ? chosen : Object.keys(scenarios)) await scenarios[name]()
