/**
 * A PUT is whole or not at all, as S3 has it: many PUTs of one key at once leave exactly one of them
 * (emulator/storage/atomic-put.ts; s3rver alone wrote objects in place and left bytes of several).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { EmulatedStorage } from '../emulator/storage/emulated-storage.js'
import { readObjectText } from '../src/storage/store.js'
import { clientStore, keys, startStorage } from './helpers/storage.js'

let storage: EmulatedStorage
beforeAll(async () => {
  storage = await startStorage()
})
afterAll(async () => {
  await storage.stop()
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
