/**
 * Files in, results out, end to end: the action staging a workspace's files to the emulator's S3 storage, the
 * emulated instances finding them in $TASK_PATH, and their results coming back to the workspace.
 */
import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { QarnotEmulator } from '../emulator/server.js'
import { runAction } from '../src/local-runner/runner.js'
import { run } from '../src/main.js'
import { systemClock } from '../src/task/clock.js'
import { emulatorsOfThisFile } from './helpers/emulator.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'
import { workspace, clientStore } from './helpers/storage.js'

/** Emulators of the test under way, stopped after the file (tests run side by side: each has its own). */
const start = emulatorsOfThisFile()

async function runIn(
  emulator: QarnotEmulator,
  root: string,
  inputs: Record<string, string>,
  stop = new AbortController().signal
): Promise<RecordingIO> {
  const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, ...inputs })
  const env = {
    RUNNER_TEMP: tmpdir(),
    GITHUB_WORKSPACE: root,
    GITHUB_REPOSITORY: 'octo-org/sim',
    GITHUB_RUN_ID: '9'
  }
  await run({ io, env, clock: systemClock, stop })
  return io
}

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex')
const LIST = "sh -c 'find . -type f | sort'"

describe('resources', () => {
  it('every instance finds each resource at its workspace path under $TASK_PATH, and nothing else', async () => {
    const emulator = await start()
    const root = workspace({
      'src/simulate.py': 'print(1)\n',
      'src/lib/util.py': 'x = 1\n',
      'data/a.csv': '1,2\n',
      'data/b.csv': '3,4\n',
      'data/notes.txt': 'not a csv\n',
      'params.yaml': 'n: 3\n',
      'secret.env': 'TOKEN=x\n'
    })
    const io = await runIn(emulator, root, {
      'instance-count': '3',
      command: LIST,
      resources: 'src\ndata/*.csv\nparams.yaml'
    })
    expect(io.failures).toEqual([])
    const expected = [
      './data/a.csv',
      './data/b.csv',
      './params.yaml',
      './src/lib/util.py',
      './src/simulate.py'
    ]
    for (let id = 0; id < 3; id++) {
      const listed = io.outputs.stdout
        .split('\n')
        .filter(l => l.startsWith(`${id}> `))
        .map(l => l.slice(`${id}> `.length))
      expect(listed).toEqual(expected)
    }
    expect(io.summary).toMatch(/\*\*Files\*\* 5 resource files \(\d+ B\) staged/)
  })

  it('a file deleted from the workspace is not visible to the next run, and an unchanged run sends no file body', async () => {
    const emulator = await start()
    const root = workspace({
      'in/keep.txt': 'keep\n',
      'in/gone.txt': 'gone\n',
      'in/big.bin': Buffer.alloc(256 * 1024, 7)
    })
    const first = await runIn(emulator, root, { command: LIST, resources: 'in' })
    expect(first.outputs.stdout).toBe('0> ./in/big.bin\n0> ./in/gone.txt\n0> ./in/keep.txt\n')
    const storage = await emulator.storage()
    storage.resetCounters()
    const unchanged = await runIn(emulator, root, { command: LIST, resources: 'in' })
    expect(unchanged.outputs.stdout).toBe(first.outputs.stdout)
    expect(storage.bytesReceived).toBeLessThan(1024)
    rmSync(join(root, 'in/gone.txt'))
    const after = await runIn(emulator, root, { command: LIST, resources: 'in' })
    expect(after.outputs.stdout).toBe('0> ./in/big.bin\n0> ./in/keep.txt\n')
  })

  it('two runs of the same repository at the same time each see exactly their own files', async () => {
    const emulator = await start()
    const one = workspace({ 'shared.txt': 'run one\n', 'only-one.txt': '1\n' })
    const two = workspace({ 'shared.txt': 'run two\n', 'only-two.txt': '2\n' })
    const command = "sh -c 'find . -type f | sort; cat shared.txt'"
    const [a, b] = await Promise.all([
      runIn(emulator, one, { command, resources: '*.txt' }),
      runIn(emulator, two, { command, resources: '*.txt' })
    ])
    expect(a.outputs.stdout).toBe('0> ./only-one.txt\n0> ./shared.txt\n0> run one\n')
    expect(b.outputs.stdout).toBe('0> ./only-two.txt\n0> ./shared.txt\n0> run two\n')
  })

  it('a bucket refused at the storage quota: the quota named with what to delete, and no task', async () => {
    const emulator = await start()
    const storage = await emulator.storage()
    storage.faults.push({ operation: 'CreateBucket', action: 'error', status: 400, code: 'TooManyBuckets' })
    const io = await runIn(emulator, workspace({ 'a.txt': 'a' }), { command: 'true', resources: 'a.txt' })
    expect(io.failures).toHaveLength(1)
    expect(io.failures[0]).toMatch(
      /storage quota \(its number of buckets, TooManyBuckets\); no task was created/
    )
    expect(io.failures[0]).toMatch(/qa-out-/)
    expect(emulator.allTasks()).toHaveLength(0)
  })

  it('an upload refused at the byte quota: the quota named, and no task', async () => {
    const emulator = await start()
    const storage = await emulator.storage()
    storage.faults.push({
      operation: 'PutObject',
      action: 'error',
      status: 403,
      code: 'QuotaExceeded',
      times: 100
    })
    const io = await runIn(emulator, workspace({ 'a.txt': 'a' }), { command: 'true', resources: 'a.txt' })
    expect(io.failures).toHaveLength(1)
    expect(io.failures[0]).toMatch(
      /storage quota \(the bytes it may store, QuotaExceeded\); no task was created/
    )
    expect(emulator.allTasks()).toHaveLength(0)
  })

  it('a cluster without storage: one clear error naming the input, and no task', async () => {
    const emulator = await start({ storage: false })
    const io = await runIn(emulator, workspace({ 'a.txt': 'a' }), { command: 'true', resources: 'a.txt' })
    expect(io.failures[0]).toMatch(
      /^Input 'resources': needs Qarnot storage, and this Qarnot cluster has no storage/
    )
    expect(emulator.allTasks()).toHaveLength(0)
  })

  it('a step stopped while its files go up leaves no task', async () => {
    const emulator = await start({ storage: { latencyMs: 200 } })
    const files: Record<string, string> = {}
    for (let i = 0; i < 60; i++) files[`many/${i}.txt`] = `file ${i}\n`
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 500)
    const io = await runIn(emulator, workspace(files), { command: 'true', resources: 'many' }, stop.signal)
    expect(io.outputs['qarnot-outcome']).toBe('cancelled')
    expect(emulator.allTasks()).toHaveLength(0)
    expect(emulator.requestCount('POST /tasks')).toBe(0)
  })
})

describe('results', () => {
  it('what instances write under the results folder comes back byte for byte, multipart-sized files too', async () => {
    const emulator = await start()
    const root = workspace({})
    const command =
      "sh -c 'mkdir -p out/${INSTANCE_ID} tmp && echo result of ${INSTANCE_ID} > out/${INSTANCE_ID}/r.txt && head -c 20000000 /dev/urandom > out/${INSTANCE_ID}/big.bin && echo scratch > tmp/x && sha256sum out/${INSTANCE_ID}/big.bin'"
    const io = await runIn(emulator, root, { 'instance-count': '2', command, results: 'out' })
    expect(io.failures).toEqual([])
    expect(io.outputs['results-dir']).toBe(join(root, 'out'))
    for (const id of [0, 1]) {
      expect(readFileSync(join(root, 'out', String(id), 'r.txt'), 'utf8')).toBe(`result of ${id}\n`)
      const big = readFileSync(join(root, 'out', String(id), 'big.bin'))
      expect(big.length).toBe(20_000_000)
      expect(io.outputs.stdout).toContain(`${id}> ${sha(big)}  out/${id}/big.bin`)
    }
    // Only the results folder comes back; the results bucket is removed once the step passed.
    expect(existsSync(join(root, 'tmp'))).toBe(false)
    expect(existsSync(join(root, 'out', 'out'))).toBe(false)
    const store = clientStore(await emulator.storage())
    expect(
      (await store.listBuckets(AbortSignal.timeout(5000))).filter(b => b.name.startsWith('qa-out-'))
    ).toEqual([])
    expect(io.summary).toMatch(/4 result files \([\d.]+ MiB\) back into `out`/)
  })

  it('results-exclude keeps files from coming back; keep-results keeps the bucket', async () => {
    const emulator = await start()
    const root = workspace({})
    const command = "sh -c 'mkdir -p out && echo a > out/a.txt && echo b > out/b.log'"
    const io = await runIn(emulator, root, {
      command,
      results: 'out',
      'results-exclude': '\\.log$',
      'keep-results': 'true'
    })
    expect(readFileSync(join(root, 'out', 'a.txt'), 'utf8')).toBe('a\n')
    expect(existsSync(join(root, 'out', 'b.log'))).toBe(false)
    expect(io.failures).toEqual([])
    const store = clientStore(await emulator.storage())
    expect(
      (await store.listBuckets(AbortSignal.timeout(5000))).some(b => b.name.startsWith('qa-keep-'))
    ).toBe(true)
  })
})

describe('bad file inputs: one message, before any request', () => {
  const outside = mkdtempSync(join(tmpdir(), 'outside-'))
  writeFileSync(join(outside, 'secret'), 'x')
  it.each([
    [{ resources: 'nothing/*.csv' }, 'resources', /matches no file/],
    [{ resources: '../etc/passwd' }, 'resources', /leaves the workspace/],
    [{ resources: '/etc/passwd' }, 'resources', /absolute path/],
    [{ resources: 'link' }, 'resources', /outside the workspace/],
    [{ results: '../out' }, 'results', /leaves the workspace/],
    [{ results: 'file.txt' }, 'results', /is a file/],
    [{ results: 'out', 'results-include': '([' }, 'results-include', /not a valid regular expression/],
    [{ 'results-exclude': 'x' }, 'results-exclude', /'results', which is not set/]
  ])('%j is refused naming %s', async (inputs, input, fix) => {
    const emulator = await start()
    const root = workspace({ 'file.txt': 'x' })
    symlinkSync(join(outside, 'secret'), join(root, 'link'))
    const io = await runIn(emulator, root, { command: 'true', ...inputs })
    expect(io.failures).toHaveLength(1)
    expect(io.failures[0]).toMatch(new RegExp(`^Input '${input}': `))
    expect(io.failures[0]).toMatch(fix)
    expect(emulator.requestCount()).toBe(0)
    expect(emulator.startedStorage).toBeUndefined()
  })
})

describe('the bundled action with files', () => {
  it('runs the issue example: sources and data up, one result per shard back, as the runner runs it', async () => {
    const emulator = await start()
    const root = workspace({
      'src/simulate.sh': 'echo "shard $1 of $(cat params.yaml)" > out/shard-$1.txt\n',
      'data/a.csv': 'a\n',
      'params.yaml': 'n=4\n'
    })
    mkdirSync(join(root, 'out'))
    const { main, post } = await runAction({
      inputs: {
        token: emulator.token,
        'api-url': emulator.url,
        'instance-count': '4',
        resources: 'src\ndata/*.csv\nparams.yaml',
        command: "sh -c 'mkdir -p out && sh src/simulate.sh ${INSTANCE_ID}'",
        results: 'out'
      },
      env: { GITHUB_WORKSPACE: root }
    })
    expect(main.exitCode).toBe(0)
    expect(post.exitCode).toBe(0)
    for (let id = 0; id < 4; id++) {
      expect(readFileSync(join(root, 'out', `shard-${id}.txt`), 'utf8')).toBe(`shard ${id} of n=4\n`)
    }
    expect(main.outputs['results-dir']).toBe(join(root, 'out'))
  })
})
