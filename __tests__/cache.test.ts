/** The cache of instance results across runs, end to end against the emulator (docs/cache.md). */
import { describe, expect, it } from '@jest/globals'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { QarnotEmulator } from '../emulator/server.js'
import { run } from '../src/main.js'
import { systemClock } from '../src/task/clock.js'
import { emulatorsOfThisFile } from './helpers/emulator.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'
import { internalStore, keys, workspace } from './helpers/storage.js'

const start = emulatorsOfThisFile()

/** A registry that says the image's tag points at `digest` (the registry protocol itself: image-digest.test.ts). */
function registry(state: { digest: string }): typeof fetch {
  return async () =>
    new Response(null, {
      status: 200,
      headers: { 'docker-content-digest': `sha256:${state.digest.repeat(64)}` }
    })
}

interface Run {
  io: RecordingIO
  tasks: number
}

async function runIn(
  emulator: QarnotEmulator,
  root: string,
  inputs: Record<string, string>,
  image = { digest: 'a' }
): Promise<Run> {
  const before = emulator.allTasks().length
  const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, ...inputs })
  const env = {
    RUNNER_TEMP: tmpdir(),
    GITHUB_WORKSPACE: root,
    GITHUB_REPOSITORY: 'octo-org/sim',
    GITHUB_RUN_ID: '9'
  }
  await run({
    io,
    env,
    clock: systemClock,
    stop: new AbortController().signal,
    registryFetch: registry(image)
  })
  return { io, tasks: emulator.allTasks().length - before }
}

/** Each instance prints, writes a result file of its own, and fails when told to. */
const SHARD =
  "sh -c 'cat params.txt; echo shard $INSTANCE_ID; mkdir -p out/$INSTANCE_ID; echo result $INSTANCE_ID > out/$INSTANCE_ID/r.txt; test ! -e fail-$INSTANCE_ID'"

function inputs(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'instance-count': '4',
    'docker-image': 'python:3.12-slim',
    command: SHARD,
    resources: 'params.txt',
    results: 'out',
    cache: 'true',
    ...extra
  }
}

/** An instance's output file in logs-dir ('' when the stream was empty and so has no file). */
function logOf(io: RecordingIO, id: number, stream: string): string {
  const path = join(io.outputs['logs-dir'], `${id}.${stream}.log`)
  return existsSync(path) ? readFileSync(path, 'utf8') : ''
}

function resultFiles(root: string): Record<string, string> {
  const files: Record<string, string> = {}
  for (const id of readdirSync(join(root, 'out')))
    for (const name of readdirSync(join(root, 'out', id)))
      files[`${id}/${name}`] = readFileSync(join(root, 'out', id, name), 'utf8')
  return files
}

/** Every object of the cache, as bucket/key. */
async function cacheObjects(emulator: QarnotEmulator): Promise<string[]> {
  const store = internalStore(await emulator.storage())
  const never = new AbortController().signal
  const found: string[] = []
  for (const bucket of await store.listBuckets(never))
    for (const key of await keys(store, bucket.name, 'cache/')) found.push(`${bucket.name}/${key}`)
  return found
}

/** The credits the summary's cache line says the hits saved. */
function savedCreditsIn(summary: string): number {
  const found = /\*\*Cache\*\*[^\n]*saved [^\n]*about ([\d.]+) credits/.exec(summary)
  expect(found).not.toBeNull()
  return Number(found?.[1])
}

describe('cache: true', () => {
  it('a second identical run creates no task, passes, replays every output byte for byte and brings every file back', async () => {
    const emulator = await start()
    const root = workspace({ 'params.txt': 'p=1\n' })
    const first = await runIn(emulator, root, inputs())
    expect(first.io.failures).toEqual([])
    expect(first.tasks).toBe(1)
    expect(first.io.outputs['cached-count']).toBe('0')
    expect(first.io.summary).toMatch(
      /\*\*Cache\*\* no instance from the cache · image keyed by its digest .* · 4 instances stored/
    )
    const files = resultFiles(root)
    rmSync(join(root, 'out'), { recursive: true })

    const second = await runIn(emulator, root, inputs())
    expect(second.tasks).toBe(0)
    expect(second.io.failures).toEqual([])
    expect(second.io.outputs).toMatchObject({
      'qarnot-outcome': 'success',
      'instance-count': '4',
      'succeeded-count': '4',
      'cached-count': '4',
      'cached-instances': '0-3',
      stdout: first.io.outputs.stdout
    })
    for (let id = 0; id < 4; id++) {
      for (const stream of ['stdout', 'stderr'])
        expect(logOf(second.io, id, stream)).toEqual(logOf(first.io, id, stream))
    }
    expect(resultFiles(root)).toEqual(files)
    expect(second.io.log).toContain('Every instance came from the cache: 4 instances, nothing computed.')
    expect(second.io.summary).toMatch(/4 instances from the cache \(0-3\), computed by task/)
    // Every instance of the first task was a hit: the saving is that task's credits.
    expect(Number(first.io.outputs.credits)).toBeGreaterThan(0)
    expect(savedCreditsIn(second.io.summary)).toBeCloseTo(Number(first.io.outputs.credits), 1)
  })

  it.each<[string, (root: string) => Record<string, string>, { digest: string }]>([
    [
      'a changed resource',
      root => (writeFileSync(join(root, 'params.txt'), 'p=2\n'), inputs()),
      { digest: 'a' }
    ],
    ['a changed command', () => inputs({ command: `${SHARD} # v2` }), { digest: 'a' }],
    ['a changed constant', () => inputs({ constants: 'SEED=2' }), { digest: 'a' }],
    ['a moved image tag', () => inputs(), { digest: 'b' }],
    ['a new cache-key', () => inputs({ 'cache-key': 'v2' }), { digest: 'a' }]
  ])('%s computes again', async (_, change, image) => {
    const emulator = await start()
    const root = workspace({ 'params.txt': 'p=1\n' })
    expect((await runIn(emulator, root, inputs())).tasks).toBe(1)
    const again = await runIn(emulator, root, change(root), image)
    expect(again.tasks).toBe(1)
    expect(again.io.outputs['cached-count']).toBe('0')
    expect(emulator.allTasks().at(-1)?.body.advancedRanges ?? null).toBeNull()
  })

  it('with half the instances cached, one task computes exactly the other half; a failed instance is never a hit', async () => {
    const emulator = await start()
    const root = workspace({ 'params.txt': 'p=1\n' })
    // Odd instances fail until the marker exists (outside the workspace: the key does not change).
    const marker = join(mkdtempSync(join(tmpdir(), 'cache-')), 'fixed')
    const command = `sh -c 'echo shard $INSTANCE_ID; mkdir -p out/$INSTANCE_ID; echo r > out/$INSTANCE_ID/r.txt; test $((INSTANCE_ID % 2)) = 0 || test -e ${marker}'`
    const first = await runIn(emulator, root, inputs({ command }))
    expect(first.io.outputs['failed-instances']).toBe('1,3')
    writeFileSync(marker, '')
    const second = await runIn(emulator, root, inputs({ command }))
    expect(second.tasks).toBe(1)
    expect(emulator.allTasks().at(-1)?.body.advancedRanges).toBe('1,3')
    expect(second.io.failures).toEqual([])
    expect(second.io.outputs).toMatchObject({
      'cached-instances': '0,2',
      'succeeded-count': '4',
      'qarnot-outcome': 'success'
    })
    for (let id = 0; id < 4; id++) expect(second.io.outputs.stdout).toContain(`${id}> shard ${id}\n`)
    // Two of the first task's four instances were hits: half its credits.
    expect(savedCreditsIn(second.io.summary)).toBeCloseTo(Number(first.io.outputs.credits) / 2, 1)
    expect(Object.keys(resultFiles(root)).sort()).toEqual(['0/r.txt', '1/r.txt', '2/r.txt', '3/r.txt'])
    const third = await runIn(emulator, root, inputs({ command }))
    expect(third.tasks).toBe(0)
  })

  it('two identical runs at once both pass and leave valid entries: the next run computes nothing', async () => {
    const emulator = await start()
    const [one, two] = [workspace({ 'params.txt': 'p=1\n' }), workspace({ 'params.txt': 'p=1\n' })]
    const both = await Promise.all([runIn(emulator, one, inputs()), runIn(emulator, two, inputs())])
    for (const { io } of both) expect(io.failures).toEqual([])
    const cacheLines = both.map(({ io }) => /\*\*Cache\*\*[^\n]*/.exec(io.summary)?.[0] ?? io.summary)
    // At least one of them stored every instance (a failure shows both lines, and why).
    expect(cacheLines).toEqual(expect.arrayContaining([expect.stringContaining('4 instances stored')]))
    const third = await runIn(emulator, workspace({ 'params.txt': 'p=1\n' }), inputs())
    expect(third.tasks).toBe(0)
    expect(third.io.outputs['cached-count']).toBe('4')
  })

  it('cache: read uses hits and writes nothing', async () => {
    const emulator = await start()
    const root = workspace({ 'params.txt': 'p=1\n' })
    const read = await runIn(emulator, root, inputs({ cache: 'read' }))
    expect(read.tasks).toBe(1)
    expect(read.io.summary).toMatch(/read only: nothing stored/)
    expect(await cacheObjects(emulator)).toEqual([])
    const again = await runIn(emulator, root, inputs({ cache: 'read' }))
    expect(again.tasks).toBe(1)
    await runIn(emulator, root, inputs())
    const hit = await runIn(emulator, root, inputs({ cache: 'read' }))
    expect(hit.tasks).toBe(0)
  })

  it('keeps secrets out of keys, logs and storage object names', async () => {
    const emulator = await start()
    const root = workspace({ 'params.txt': 'p=1\n' })
    const secret = 'cache-secret-value-42'
    await runIn(emulator, root, inputs({ constants: `QARNOT_SECRET__PW=${secret}` }))
    const second = await runIn(emulator, root, inputs({ constants: `QARNOT_SECRET__PW=${secret}` }))
    expect(second.tasks).toBe(0)
    const names = await cacheObjects(emulator)
    expect(names.length).toBeGreaterThanOrEqual(4)
    expect(names.join('\n')).not.toContain(secret)
    expect(
      [...second.io.log, second.io.summary, ...Object.values(second.io.outputs)].join('\n')
    ).not.toContain(secret)
  })
})

describe('cache: true with infrastructure-retries', () => {
  it('a follow-up reports the first task’s hits whole, and its recovered instance is stored like any success', async () => {
    // The quirk strikes instance 3 of the first two tasks: run one has no instance 3; run two's first task has.
    const emulator = await start({
      quirks: { platformFailures: [{ kind: 'image-pull', instanceIds: [3], tasks: 2 }] }
    })
    const root = workspace({ 'params.txt': 'p=1\n' })
    expect((await runIn(emulator, root, inputs({ 'instance-count': '2' }))).tasks).toBe(1)

    const second = await runIn(emulator, root, inputs())
    expect(second.tasks).toBe(2)
    const tasks = emulator.allTasks()
    expect(tasks[1].body.advancedRanges).toBe('2-3')
    expect(tasks[2].body.advancedRanges).toBe('3')
    expect(second.io.failures).toEqual([])
    expect(second.io.outputs).toMatchObject({
      'qarnot-outcome': 'success',
      'succeeded-count': '4',
      'cached-count': '2',
      'cached-instances': '0-1',
      'task-uuid': tasks[2].uuid
    })
    for (let id = 0; id < 4; id++) {
      expect(logOf(second.io, id, 'stdout')).toBe(`p=1\nshard ${id}\n`)
      expect(second.io.outputs.stdout).toContain(`${id}> shard ${id}\n`)
    }
    expect(second.io.summary).toMatch(/2 instances from the cache \(0-1\), computed by task/)
    // Instance 2 by the first task of this run, instance 3 by its follow-up.
    expect(second.io.summary).toMatch(/· 2 instances stored/)
    expect(second.io.summary).toMatch(/Instance 3 recovered after a platform failure/)
    expect(resultFiles(root)).toEqual({
      '0/r.txt': 'result 0\n',
      '1/r.txt': 'result 1\n',
      '2/r.txt': 'result 2\n',
      '3/r.txt': 'result 3\n'
    })

    rmSync(join(root, 'out'), { recursive: true })
    const third = await runIn(emulator, root, inputs())
    expect(third.tasks).toBe(0)
    expect(third.io.outputs).toMatchObject({ 'qarnot-outcome': 'success', 'cached-instances': '0-3' })
    expect(logOf(third.io, 3, 'stdout')).toBe('p=1\nshard 3\n')
    expect(third.io.summary).toContain(tasks[2].uuid.slice(0, 8))
    expect(resultFiles(root)['3/r.txt']).toBe('result 3\n')
  }, 30_000)
})

describe('cache inputs', () => {
  it.each([
    [{ cache: 'yes' }, /^Input 'cache': "yes" is not a choice; write true, read or false/],
    [{ cache: 'true', 'cache-key': 'has space' }, /^Input 'cache-key': may hold letters, digits/],
    [{ cache: '', 'cache-key': 'v2' }, /^Input 'cache-key': salts the cache, which is off/],
    [{ cache: 'true', wait: 'false' }, /^Input 'cache': needs the step to wait/]
  ])('%j is refused before any request', async (extra, message) => {
    const emulator = await start()
    const run = await runIn(emulator, workspace({ 'params.txt': 'p=1\n' }), inputs(extra))
    expect(run.io.failures).toHaveLength(1)
    expect(run.io.failures[0]).toMatch(message)
    expect(run.tasks).toBe(0)
  })

  it('refuses cache with task (a task made elsewhere)', async () => {
    const emulator = await start()
    const io = recordingIO({
      token: emulator.token,
      'api-url': emulator.url,
      task: 'some-task',
      cache: 'true'
    })
    await run({ io, env: { RUNNER_TEMP: tmpdir() }, clock: systemClock, stop: new AbortController().signal })
    expect(io.failures[0]).toMatch(/^Input 'cache': cannot be used with 'task'/)
  })
})
