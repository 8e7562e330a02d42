/** The cache key: everything that decides what an instance computes goes in, nothing else, and no secret shows. */
import { describe, expect, it } from '@jest/globals'
import { instanceCacheKey, stepCacheDigest, type CacheKeyParts } from '../src/cache/key.js'
import {
  idInEntryKey,
  entryKey,
  parseEntry,
  storedBytes,
  ENTRY_FORMAT,
  INLINE_BYTES
} from '../src/cache/entry.js'

const BASE: CacheKeyParts = {
  profile: 'docker-batch',
  pool: undefined,
  hardware: [],
  constants: [
    { key: 'DOCKER_REPO', value: 'library/python' },
    { key: 'DOCKER_TAG', value: '3.12-slim' },
    { key: 'DOCKER_CMD', value: 'python sim.py --shard ${INSTANCE_ID}' },
    { key: 'QARNOT_SECRET__DB', value: 'hunter2-password' }
  ],
  isSecret: key => key.startsWith('QARNOT_SECRET__'),
  secretKey: 'the-token',
  imageDigest: `sha256:${'a'.repeat(64)}`,
  resourcesTree: 'b'.repeat(64),
  results: { prefix: 'out/' },
  salt: ''
}

describe('the cache key', () => {
  const base = stepCacheDigest(BASE)

  it('is the same whatever the order of the constants', () => {
    expect(stepCacheDigest({ ...BASE, constants: [...BASE.constants].reverse() })).toBe(base)
  })

  it.each<[string, Partial<CacheKeyParts>]>([
    ['the profile', { profile: 'docker-batch-gpu' }],
    ['a pool instead', { profile: undefined, pool: 'p-1' }],
    ['the hardware', { hardware: [{ discriminator: 'GpuHardware' } as never] }],
    [
      'the command',
      {
        constants: [
          ...BASE.constants.slice(0, 2),
          { key: 'DOCKER_CMD', value: 'python sim2.py' },
          BASE.constants[3]
        ]
      }
    ],
    ['a constant added', { constants: [...BASE.constants, { key: 'SEED', value: '1' }] }],
    [
      'a secret constant',
      { constants: [...BASE.constants.slice(0, 3), { key: 'QARNOT_SECRET__DB', value: 'other' }] }
    ],
    ['the image digest', { imageDigest: `sha256:${'c'.repeat(64)}` }],
    ['the image keyed by name', { imageDigest: undefined }],
    ['a resource', { resourcesTree: 'd'.repeat(64) }],
    ['no resources', { resourcesTree: undefined }],
    ['the results folder', { results: { prefix: 'output/' } }],
    ['a results filter', { results: { prefix: 'out/', whitelist: '\\.csv$' } }],
    ['no results', { results: undefined }],
    ['the cache-key salt', { salt: 'v2' }]
  ])('changes with %s', (_, change) => {
    expect(stepCacheDigest({ ...BASE, ...change })).not.toBe(base)
  })

  it('reveals no secret: the value goes in through a keyed hash only', () => {
    // The same secret under another token gives another key; the key itself is a bare digest.
    expect(stepCacheDigest({ ...BASE, secretKey: 'another-token' })).not.toBe(base)
    expect(base).toMatch(/^[0-9a-f]{64}$/)
    expect(entryKey(base, 3)).not.toContain('hunter2')
  })

  it('differs per instance, and entry keys give their id back', () => {
    expect(instanceCacheKey(base, 0)).not.toBe(instanceCacheKey(base, 1))
    expect(idInEntryKey(base, entryKey(base, 42))).toBe(42)
    expect(idInEntryKey(base, entryKey(base, 42).replace('42', '042'))).toBeUndefined()
    expect(idInEntryKey('e'.repeat(64), entryKey(base, 42))).toBeUndefined()
  })
})

describe('a cache entry', () => {
  const digest = 'f'.repeat(64)
  const key = instanceCacheKey(digest, 7)
  const entry = {
    format: ENTRY_FORMAT,
    key,
    id: 7,
    task: 'uuid',
    createdAt: '2026-12-06T00:00:00Z',
    wallTimeSec: 12,
    stdout: storedBytes(Buffer.from('seven\n')),
    stderr: storedBytes(Buffer.alloc(INLINE_BYTES + 1, 1)),
    results: [['7/frame.png', 'a'.repeat(64), 10]]
  }

  it('reads back what was written, small outputs inline and large ones by hash', () => {
    expect(parseEntry(JSON.stringify(entry), key, 7)).toEqual(entry)
    expect(entry.stdout.inline).toBe(Buffer.from('seven\n').toString('base64'))
    expect(entry.stderr.inline).toBeUndefined()
  })

  it.each<[string, unknown]>([
    ['another key', { ...entry, key: instanceCacheKey(digest, 8) }],
    ['another id', { ...entry, id: 8 }],
    ['another format', { ...entry, format: 'qarnot-action-cache-entry/0' }],
    [
      'an inline output that does not match its hash',
      { ...entry, stdout: { ...entry.stdout, inline: 'AAAA' } }
    ],
    ['a result path out of the folder', { ...entry, results: [['../../.git/config', 'a'.repeat(64), 1]] }],
    ['an absolute result path', { ...entry, results: [['/etc/passwd', 'a'.repeat(64), 1]] }],
    ['a result named twice', { ...entry, results: [entry.results[0], entry.results[0]] }],
    ['a negative time', { ...entry, wallTimeSec: -1 }]
  ])('is a miss with %s', (_, value) => {
    expect(parseEntry(JSON.stringify(value), key, 7)).toBeUndefined()
  })

  it('is a miss when it is not JSON', () => {
    expect(parseEntry('{"format":', key, 7)).toBeUndefined()
  })
})
