/**
 * A PUT is whole or not at all, as S3 has it: many PUTs of one key at once leave exactly one of them
 * (emulator/storage/atomic-put.ts; s3rver alone wrote objects in place and left bytes of several).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import S3rver from 's3rver'
import { makePutsAtomic } from '../emulator/storage/atomic-put.js'
import type { EmulatedStorage } from '../emulator/storage/emulated-storage.js'
import { readObjectText } from '../src/storage/store.js'
import { clientStore, keys, removeTempDirs, startStorage, tempDir } from './helpers/storage.js'

let storage: EmulatedStorage
beforeAll(async () => {
  storage = await startStorage()
})
afterAll(async () => {
  await storage.stop()
  removeTempDirs()
})

const never = new AbortController().signal

describe('the emulated storage under concurrent PUTs of one key', () => {
  it('leaves exactly one of the bodies, whole, and lists no partial file', async () => {
    const store = clientStore(storage)
    await store.createBucket('atomic', never)
    // Bodies of very different lengths: bytes of a longer one left behind a shorter one would show.
    const bodies = Array.from({ length: 24 }, (_, n) =>
      JSON.stringify({ n, pad: 'x'.repeat(((n * 7919) % 23) * 4096) })
    )
    for (let round = 0; round < 5; round++) {
      await Promise.all(bodies.map(body => store.putObject('atomic', 'e/0.json', body, never)))
      const text = await readObjectText(store, 'atomic', 'e/0.json', never)
      expect(bodies).toContain(text)
    }
    expect(await keys(store, 'atomic')).toEqual(['e/0.json'])
  })
})

describe('multipart parts and stopping (s3rver alone threw ENOENT out of the process when stop() came mid-part)', () => {
  /** s3rver's own file store over a fresh folder, with the emulator's writes in place; no server is started. */
  const fileStore = () => {
    const directory = join(tempDir('atomic-parts'), 'store')
    const { store } = new S3rver({ directory, silent: true })
    return { directory, store, writes: makePutsAtomic(store) }
  }
  /** A part body that arrives in two pieces, the second when the test says. */
  const slowBody = () => {
    const body = new Readable({ read() {} })
    body.push('first half,')
    return { body, finish: () => (body.push('second half'), body.push(null)) }
  }

  it('answers a part only once it is on disk whole, with its digest beside it', async () => {
    const { directory, store } = fileStore()
    const { body, finish } = slowBody()
    let answered = false
    const part = store.putPart('b', 'upload-1', 1, body).then(result => ((answered = true), result))
    await sleep(30)
    expect(answered).toBe(false)
    finish()
    const { size, md5 } = await part
    const path = join(directory, 'b', '._S3rver_uploads', 'upload-1', '1')
    expect(readFileSync(path, 'utf8')).toBe('first half,second half')
    expect(size).toBe(22)
    expect(readFileSync(`${path}.md5`, 'utf8')).toBe(md5)
  })

  it('after close(), starts no write and waits for those under way, so a removed folder stays removed', async () => {
    const { directory, store, writes } = fileStore()
    const { body, finish } = slowBody()
    const part = store.putPart('b', 'upload-2', 1, body)
    const settled = part.catch((error: Error) => error.message)
    await sleep(30)
    let closed = false
    const closing = writes.close(5000).then(() => (closed = true))
    await sleep(30)
    expect(closed).toBe(false) // the part under way holds it
    finish()
    await closing
    expect(await settled).toBe('the storage is stopping')
    rmSync(directory, { recursive: true, force: true })
    await expect(store.putPart('b', 'upload-2', 2, Readable.from(['late']))).rejects.toThrow('stopping')
    await expect(
      store.putObject({ bucket: 'b', key: 'k', content: Buffer.from('late'), metadata: {} })
    ).rejects.toThrow('stopping')
    await sleep(50)
    expect(existsSync(directory)).toBe(false)
  })

  it('gives up waiting after the bound when a body never ends', async () => {
    const { store, writes } = fileStore()
    const { body } = slowBody()
    void store.putPart('b', 'upload-3', 1, body).catch(() => undefined)
    await sleep(20)
    const start = Date.now()
    await writes.close(100)
    expect(Date.now() - start).toBeLessThan(2000)
    body.destroy()
  })
})
