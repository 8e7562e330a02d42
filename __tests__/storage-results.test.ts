import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { EmulatedStorage } from '../emulator/storage/emulated-storage.js'
import { uploadResults } from '../emulator/storage/instance.js'
import { collectResults, deleteResultsBucket, planDownloads } from '../src/storage/collect.js'
import { resultsBucketName } from '../src/storage/layout.js'
import { bringResults, resultsFolderFilter } from '../src/storage/session.js'
import type { FileSettings } from '../src/inputs/settings.js'
import type { ObjectStore } from '../src/storage/store.js'
import {
  EMAIL,
  keys,
  never,
  removeTempDirs,
  startStorage,
  tempDir,
  writeBigFile,
  writeFiles,
  clientStore,
  internalStore
} from './helpers/storage.js'

const MiB = 1024 * 1024
const BUCKET = resultsBucketName({ repository: 'octo/sim', account: EMAIL, shortname: 'gha-42-1-0123abcd' })

let storage: EmulatedStorage
beforeEach(async () => {
  storage = await startStorage()
})
afterEach(async () => {
  await storage.stop()
})
afterAll(removeTempDirs)

const digest = (path: string) => {
  const bytes = readFileSync(path)
  return `${bytes.length}:${createHash('sha256').update(bytes).digest('hex')}`
}

/** An instance leaves results (one large enough for ranged downloads); they go to the results bucket. */
async function taskWithResults(): Promise<string> {
  const instance = tempDir('instance')
  writeFiles(instance, {
    'out/0/summary.json': '{"ok":true}',
    'out/0/été 1.csv': 'a,b\n',
    'log.txt': 'done\n',
    empty: ''
  })
  await writeBigFile(join(instance, 'out/0/big.bin'), 11 * MiB)
  await uploadResults(internalStore(storage), instance, { resultBucket: BUCKET }, new Map())
  return instance
}

/** A store whose listings also show keys a hostile or broken storage could return. */
function withExtraKeys(store: ObjectStore, extra: string[]): ObjectStore {
  return Object.assign(Object.create(store) as ObjectStore, {
    listPage: async (...args: Parameters<ObjectStore['listPage']>) => {
      const page = await store.listPage(...args)
      const at = new Date()
      return {
        ...page,
        objects: [...page.objects, ...extra.map(key => ({ key, size: 1, lastModified: at }))]
      }
    }
  })
}

describe('bringing results down', () => {
  it('writes every result byte for byte, large ones as parallel ranges', async () => {
    const instance = await taskWithResults()
    const folder = join(tempDir('workspace'), 'results')
    const result = await collectResults({
      store: clientStore(storage),
      bucket: BUCKET,
      directory: folder,
      signal: never,
      rangedFrom: 4 * MiB,
      rangeSize: 3 * MiB
    })
    expect(result).toMatchObject({
      files: 5,
      bytes: 11 * MiB + 11 + 4 + 5,
      rejected: [],
      bucketMissing: false
    })
    for (const path of ['out/0/summary.json', 'out/0/été 1.csv', 'log.txt', 'empty', 'out/0/big.bin']) {
      expect(digest(join(folder, path))).toBe(digest(join(instance, path)))
    }
    expect(storage.requestCount('GetObject')).toBe(4 + 4)
    expect(readdirSync(join(folder, 'out/0')).some(name => name.endsWith('.part'))).toBe(false)
  })

  it('refuses keys that would land outside the folder, and writes nothing there', async () => {
    await taskWithResults()
    const parent = tempDir('workspace')
    const folder = join(parent, 'results')
    const hostile = ['../x', '../../x', '/etc/x', 'a/../../x', '..', 'ok/../../x', 'C:/x', 'a\\..\\..\\x']
    const result = await collectResults({
      store: withExtraKeys(clientStore(storage), hostile),
      bucket: BUCKET,
      directory: folder,
      signal: never
    })
    expect(result.files).toBe(5)
    expect(result.rejected.map(r => r.key).sort()).toEqual([...hostile].sort())
    expect(readdirSync(parent)).toEqual(['results'])
    expect(existsSync('/etc/x')).toBe(false)
  })

  it('does not follow a symbolic link in the results folder that leads outside it', async () => {
    await taskWithResults()
    const outside = tempDir('outside')
    const folder = join(tempDir('workspace'), 'results')
    mkdirSync(join(folder), { recursive: true })
    symlinkSync(outside, join(folder, 'out'))
    const result = await collectResults({
      store: clientStore(storage),
      bucket: BUCKET,
      directory: folder,
      signal: never
    })
    expect(result.rejected.map(r => r.key).sort()).toEqual([
      'out/0/big.bin',
      'out/0/summary.json',
      'out/0/été 1.csv'
    ])
    expect(readdirSync(outside)).toEqual([])
  })

  it('never writes through a results folder that is a link, or is reached through one (out -> .git)', async () => {
    await taskWithResults()
    const root = tempDir('workspace')
    writeFiles(root, { '.git/config': '[core]\n', 'real/keep': 'k' })
    symlinkSync(join(root, '.git'), join(root, 'out'))
    symlinkSync(join(root, 'real'), join(root, 'via'))
    const cases: [string, string | undefined][] = [
      [join(root, 'out'), undefined],
      [join(root, 'out'), root],
      [join(root, 'via', 'run'), root]
    ]
    for (const [directory, workspace] of cases) {
      const collecting = collectResults({
        store: clientStore(storage),
        bucket: BUCKET,
        directory,
        workspace,
        signal: never
      })
      await expect(collecting).rejects.toThrow(
        /is reached through the symbolic link "(out|via)"; results are never written through a link/
      )
    }
    expect(readdirSync(join(root, '.git'))).toEqual(['config'])
    expect(readFileSync(join(root, '.git', 'config'), 'utf8')).toBe('[core]\n')
    expect(readdirSync(join(root, 'real'))).toEqual(['keep'])
  })

  it('inside the results folder, a folder link refuses its files and a file link is replaced, never written through', async () => {
    const store = internalStore(storage)
    await store.createBucket(BUCKET, never)
    for (const key of ['a/x.txt', 'config', 'hooks/pre-commit', 'b/y.txt'])
      await store.putObject(BUCKET, key, `new ${key}`, never)
    const root = tempDir('workspace')
    writeFiles(root, { '.git/config': '[core]\n', 'results/b/old': 'o' })
    const folder = join(root, 'results')
    symlinkSync(join(folder, 'b'), join(folder, 'a'))
    symlinkSync(join(root, '.git', 'config'), join(folder, 'config'))
    symlinkSync(join(root, '.git'), join(folder, 'hooks'))
    const result = await collectResults({
      store: clientStore(storage),
      bucket: BUCKET,
      directory: folder,
      workspace: root,
      signal: never
    })
    expect(result.rejected).toEqual(
      ['a/x.txt', 'hooks/pre-commit'].map(key => ({
        key,
        reason: expect.stringMatching(
          /is a symbolic link, and results are never written through a link/
        ) as unknown as string
      }))
    )
    expect(readFileSync(join(root, '.git', 'config'), 'utf8')).toBe('[core]\n')
    expect(readdirSync(join(root, '.git'))).toEqual(['config'])
    expect(readFileSync(join(folder, 'config'), 'utf8')).toBe('new config')
    expect(readdirSync(join(folder, 'b')).sort()).toEqual(['old', 'y.txt'])
  })

  it('refuses keys that leave the folder through the prefix, absolute or with .. after it', () => {
    const at = new Date()
    const keys = [
      'out/ok.txt',
      'out/../../.git/config',
      'out/../x',
      'out//etc/x',
      'out/a/./b',
      '/out/x',
      'out/.git/hooks/x'
    ]
    const { planned, rejected } = planDownloads(
      keys.map(key => ({ key, size: 1, lastModified: at })),
      'out/'
    )
    expect(planned.map(p => p.path)).toEqual(['ok.txt'])
    // `/out/x` is not under the prefix: it is not brought back at all.
    expect(rejected.map(r => r.key)).toEqual([
      'out/../../.git/config',
      'out/../x',
      'out//etc/x',
      'out/a/./b',
      'out/.git/hooks/x'
    ])
  })

  it('never writes a .git folder from results (hooks would run in the workspace)', () => {
    const at = new Date()
    const objects = ['a.txt', '.git/hooks/pre-commit', 'sub/.git/config', 'x.gitignore'].map(key => ({
      key,
      size: 1,
      lastModified: at
    }))
    const { planned, rejected } = planDownloads(objects)
    expect(planned.map(p => p.path)).toEqual(['a.txt', 'x.gitignore'])
    expect(rejected.map(r => r.key)).toEqual(['.git/hooks/pre-commit', 'sub/.git/config'])
  })

  it('reports a file and a folder of the same name instead of failing', async () => {
    const store = internalStore(storage)
    await store.createBucket(BUCKET, never)
    await store.putObject(BUCKET, 'a/b', 'file in a folder', never)
    const folder = join(tempDir('workspace'), 'results')
    writeFiles(folder, { a: 'a file already there' })
    const result = await collectResults({
      store: clientStore(storage),
      bucket: BUCKET,
      directory: folder,
      signal: never
    })
    expect(result.files).toBe(0)
    expect(result.rejected).toEqual([
      { key: 'a/b', reason: expect.stringMatching(/in the way/) as unknown as string }
    ])
  })

  it('is fine with a task that made no results bucket', async () => {
    const folder = join(tempDir('workspace'), 'results')
    const result = await collectResults({
      store: clientStore(storage),
      bucket: BUCKET,
      directory: folder,
      signal: never
    })
    expect(result).toMatchObject({ files: 0, bucketMissing: true })
  })

  it('stops at once when cancelled and leaves no partial file', async () => {
    await taskWithResults()
    storage.faults.push({ operation: 'GetObject', action: 'delay', delayMs: 2000 })
    const folder = join(tempDir('workspace'), 'results')
    const controller = new AbortController()
    const collecting = collectResults({
      store: clientStore(storage),
      bucket: BUCKET,
      directory: folder,
      signal: controller.signal
    })
    const outcome = collecting.then(
      () => 'finished',
      (error: Error) => error.name
    )
    while (storage.requestCount('GetObject') < 3) await new Promise(resolve => setTimeout(resolve, 5))
    const abortedAt = Date.now()
    controller.abort()
    expect(await outcome).toBe('AbortError')
    expect(Date.now() - abortedAt).toBeLessThan(500)
    const left = readdirSync(folder, { recursive: true }) as string[]
    expect(left.filter(name => name.endsWith('.part') || name.endsWith('.bin'))).toEqual([])
  })

  it('removes the results bucket afterwards; removing it again is fine', async () => {
    await taskWithResults()
    const store = clientStore(storage)
    expect(await deleteResultsBucket({ store, bucket: BUCKET, signal: never })).toBe(5)
    expect(await store.headBucket(BUCKET, never)).toBe('missing')
    expect(await deleteResultsBucket({ store, bucket: BUCKET, signal: never })).toBe(0)
    expect(dirname(BUCKET)).toBe('.')
    expect(await keys(internalStore(storage), BUCKET).catch(() => 'gone')).toBe('gone')
  })
})

describe('bringing results back for a step', () => {
  const session = () => ({
    store: clientStore(storage),
    naming: { repository: 'octo/sim', account: EMAIL },
    close: () => undefined
  })
  const prepared = (resultsDir: string) => ({
    settings: { results: 'results' } as FileSettings,
    resources: undefined,
    resultsDir,
    resultsPrefix: undefined
  })

  it('skips a name the file system refuses, names it safely, brings the rest, and keeps the bucket', async () => {
    const store = internalStore(storage)
    await store.createBucket(BUCKET, never)
    for (const key of ['ok1.txt', 'ok2.txt']) await store.putObject(BUCKET, key, 'data', never)
    // S3 takes a key of 1,024 bytes; a local file name stops at 255 (the emulator's S3 stores no such key, so the
    // listing shows it and its body is another object's).
    const hostile = `x\n::warning::INJECTED${'y'.repeat(300)}`
    const client = clientStore(storage)
    const listed = Object.assign(Object.create(client) as ObjectStore, {
      listPage: async (...args: Parameters<ObjectStore['listPage']>) => {
        const page = await client.listPage(...args)
        return { ...page, objects: [...page.objects, { key: hostile, size: 4, lastModified: new Date() }] }
      },
      getObjectStream: (bucket: string, key: string, ...rest: [AbortSignal]) =>
        client.getObjectStream(bucket, key === hostile ? 'ok1.txt' : key, ...rest)
    })
    const folder = join(tempDir('workspace'), 'results')
    const back = await bringResults(
      { ...session(), store: listed },
      [{ name: BUCKET }],
      prepared(folder),
      true,
      never
    )
    expect(readdirSync(folder).sort()).toEqual(['ok1.txt', 'ok2.txt'])
    expect(back.incomplete).toBe(true)
    expect(back.notes.join('\n')).toMatch(
      /^Result "x\\n::warning::INJECTEDy+" was not written: this file system cannot hold it \(ENAMETOOLONG\)\./m
    )
    expect(back.notes.some(note => note.includes('\n'))).toBe(false)
    expect(await store.headBucket(BUCKET, never)).not.toBe('missing')
  })

  it('deletes only buckets the action made, once every file came back', async () => {
    const store = internalStore(storage)
    for (const bucket of [BUCKET, 'team-archive']) {
      await store.createBucket(bucket, never)
      await store.putObject(bucket, 'r.txt', bucket, never)
    }
    const folder = join(tempDir('workspace'), 'results')
    const back = await bringResults(
      session(),
      [{ name: 'team-archive' }, { name: BUCKET }],
      prepared(folder),
      true,
      never
    )
    expect(back).toMatchObject({ incomplete: false, notes: [] })
    expect(readFileSync(join(folder, 'r.txt'), 'utf8')).toBe(BUCKET)
    expect(await store.headBucket(BUCKET, never)).toBe('missing')
    expect(await keys(store, 'team-archive')).toEqual(['r.txt'])
  })
})

describe('the default results filter', () => {
  it('matches the folder whether Qarnot tests relative or absolute paths, and nothing beside it', () => {
    const filter = new RegExp(resultsFolderFilter('out/'))
    for (const path of ['out/x', 'out/0/r.txt', '/job/out/x', '/a/b/out/x', 'out'])
      expect([path, filter.test(path)]).toEqual([path, true])
    for (const path of ['outx/y', 'about/x', 'x/output/y', 'src/main.py'])
      expect([path, filter.test(path)]).toEqual([path, false])
    const nested = new RegExp(resultsFolderFilter('res.v1/run/'))
    expect([nested.test('/job/res.v1/run/x'), nested.test('resXv1/run/x')]).toEqual([true, false])
  })
})

describe('results as instances leave them', () => {
  it('overwrite one another for the same path (instances share the bucket)', async () => {
    const store = internalStore(storage)
    for (const id of [0, 1]) {
      const instance = tempDir('instance')
      writeFiles(instance, { 'shared.txt': `from ${id}`, [`out/${id}/r.txt`]: `${id}` })
      await uploadResults(store, instance, { resultBucket: BUCKET }, new Map())
    }
    const folder = join(tempDir('workspace'), 'results')
    await collectResults({ store: clientStore(storage), bucket: BUCKET, directory: folder, signal: never })
    expect(readFileSync(join(folder, 'shared.txt'), 'utf8')).toBe('from 1')
    expect(readFileSync(join(folder, 'out/0/r.txt'), 'utf8')).toBe('0')
    writeFileSync(join(folder, 'unrelated.txt'), 'kept')
    await collectResults({ store: clientStore(storage), bucket: BUCKET, directory: folder, signal: never })
    expect(readFileSync(join(folder, 'unrelated.txt'), 'utf8')).toBe('kept')
  })
})
