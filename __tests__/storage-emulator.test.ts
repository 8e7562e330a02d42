import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { createHash, createHmac } from 'node:crypto'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { SignatureV4 } from '@smithy/signature-v4'
import type { EmulatedStorage } from '../emulator/storage/emulated-storage.js'
import {
  checkBucketsExist,
  materializeResources,
  snapshotDirectory,
  uploadResults
} from '../emulator/storage/instance.js'
import { asV1Listing, asV2Answer, decodeToken } from '../emulator/storage/list-v2.js'
import { verifyRequest } from '../emulator/storage/sigv4.js'
import { checkStorage } from '../src/storage/connect.js'
import { StorageUnavailableError, StoreError } from '../src/storage/errors.js'
import { listAllObjects } from '../src/storage/store.js'
import {
  EMAIL,
  keys,
  never,
  removeTempDirs,
  seedObjects,
  startStorage,
  tempDir,
  clientStore,
  internalStore
} from './helpers/storage.js'

let storage: EmulatedStorage
beforeEach(async () => {
  storage = await startStorage()
})
afterEach(async () => {
  await storage.stop()
})
afterAll(removeTempDirs)

/** The hash @smithy/signature-v4 asks for, over node:crypto. */
type SourceData = string | ArrayBuffer | ArrayBufferView
const bytes = (data: SourceData) =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data)
class Sha256 {
  private readonly hash
  constructor(secret?: SourceData) {
    this.hash = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256')
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data))
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest())
  }
}

describe('SigV4 as the emulated storage checks it', () => {
  it('accepts what @smithy/signature-v4 signs with the right secret, refuses a wrong one', async () => {
    const sign = (secret: string) =>
      new SignatureV4({
        credentials: { accessKeyId: EMAIL, secretAccessKey: secret },
        region: 'us-east-1',
        service: 's3',
        sha256: Sha256,
        uriEscapePath: false
      }).sign({
        method: 'GET',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 9000,
        path: '/bucket/a%20b/%C3%A9t%C3%A9%2Bx',
        query: { 'list-type': '2', prefix: 'a b/é+', 'max-keys': '1000', uploads: '' },
        headers: {
          host: '127.0.0.1:9000',
          'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
          'x-amz-meta-x': '  a   b '
        }
      })
    const url = '/bucket/a%20b/%C3%A9t%C3%A9%2Bx?prefix=a%20b%2F%C3%A9%2B&list-type=2&uploads&max-keys=1000'
    const accounts = new Map([[EMAIL, 'right-secret']])
    const good = await sign('right-secret')
    expect(await verifyRequest({ method: 'GET', url, headers: good.headers }, accounts)).toEqual({
      ok: true,
      accessKey: EMAIL
    })
    const bad = await sign('wrong-secret')
    expect(await verifyRequest({ method: 'GET', url, headers: bad.headers }, accounts)).toMatchObject({
      ok: false,
      status: 403,
      code: 'SignatureDoesNotMatch'
    })
    const tampered = { ...good.headers, 'x-amz-meta-x': 'changed' }
    expect(await verifyRequest({ method: 'GET', url, headers: tampered }, accounts)).toMatchObject({
      ok: false
    })
    expect(await verifyRequest({ method: 'GET', url, headers: {} }, accounts)).toMatchObject({
      code: 'AccessDenied'
    })
  })

  it('refuses a wrong token, another email and anonymous requests as S3 does (403)', async () => {
    const wrongToken = clientStore(storage, { token: 'not-the-token' })
    const otherEmail = clientStore(storage, { email: 'someone@else.org' })
    await expect(wrongToken.listBuckets(never)).rejects.toMatchObject({
      code: 'SignatureDoesNotMatch',
      status: 403
    })
    await expect(otherEmail.putObject('b-1', 'k', 'v', never)).rejects.toMatchObject({
      code: 'InvalidAccessKeyId',
      status: 403
    })
    const anonymous = await fetch(`${storage.url}/`)
    expect(anonymous.status).toBe(403)
    expect(await anonymous.text()).toContain('<Code>AccessDenied</Code>')
    await expect(checkStorage(wrongToken, never)).rejects.toMatchObject({ reason: 'credentials' })
    await expect(checkStorage(clientStore(storage), never)).resolves.toBeUndefined()
    expect(storage.requestCount('ListBuckets')).toBe(4)
  })

  it('says storage cannot be reached when nothing answers', async () => {
    const url = storage.url
    await storage.stop()
    const store = clientStore(storage)
    const error = await checkStorage(store, never, 5000).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StorageUnavailableError)
    expect((error as StorageUnavailableError).reason).toBe('unreachable')
    expect((error as Error).message).toContain(url)
    storage = await startStorage()
  })
})

describe('the S3 operations the action uses, through the proxy', () => {
  it('lists more than 1,000 objects with V2 continuation tokens (s3rver alone cannot on Node 24)', async () => {
    const store = clientStore(storage)
    await store.createBucket('many-1', never)
    const names = Array.from({ length: 2345 }, (_, i) => `p/${String(i).padStart(4, '0')} +&é`)
    seedObjects(storage, 'many-1', Object.fromEntries(names.map(name => [name, 'x'])))
    const listed = await listAllObjects(store, 'many-1', 'p/', never)
    expect(listed.map(o => o.key)).toEqual(names)
    expect(storage.requestCount('ListObjects')).toBe(3)
    const page = await store.listPage('many-1', 'p/', { startAfter: names[1199] }, never)
    expect(page.objects.map(o => o.key)).toEqual(names.slice(1200, 2200))
  })

  it('translates V2 listings to V1 and back', () => {
    const listing = asV1Listing('GET', '/b', 'list-type=2&prefix=a%20b&continuation-token=a2V5&max-keys=5')
    expect(listing?.upstreamQuery).toBe('prefix=a%20b&max-keys=5&marker=key')
    expect(asV1Listing('GET', '/b/key', 'list-type=2')).toBeUndefined()
    const xml =
      '<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a&amp;b</Key></Contents></ListBucketResult>'
    const answer = asV2Answer(xml, listing as NonNullable<typeof listing>)
    expect(answer).toContain('<KeyCount>1</KeyCount>')
    const token = /<NextContinuationToken>(.*)<\/NextContinuationToken>/.exec(answer)?.[1] ?? ''
    expect(decodeToken(token)).toBe('a&b')
  })

  it('adds the configured latency and injects faults (error, drop) on demand', async () => {
    const store = clientStore(storage)
    storage.latencyMs = 60
    let started = Date.now()
    await store.listBuckets(never)
    expect(Date.now() - started).toBeGreaterThanOrEqual(55)
    storage.latencyMs = 0
    storage.faults.push({
      operation: 'ListBuckets',
      action: 'error',
      status: 500,
      code: 'InternalError',
      times: 1
    })
    await store.listBuckets(never)
    expect(storage.requestCount('ListBuckets')).toBe(3)
    storage.faults.push({ operation: 'ListBuckets', action: 'drop', times: 10 })
    started = Date.now()
    await expect(store.listBuckets(never)).rejects.toBeInstanceOf(StoreError)
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('keeps no partial object when a client goes away in the middle of a PUT body', async () => {
    const store = clientStore(storage)
    await store.createBucket('partial-1', never)
    storage.faults.push({ operation: 'PutObject', action: 'delay', delayMs: 300 })
    const controller = new AbortController()
    const put = store.putObject('partial-1', 'k', Buffer.alloc(16 * 1024 * 1024, 1), controller.signal)
    setTimeout(() => controller.abort(), 50)
    await expect(put).rejects.toThrow()
    await new Promise(resolve => setTimeout(resolve, 400))
    expect(await keys(internalStore(storage), 'partial-1')).toEqual([])
  })
})

describe('instances: resources in, results out', () => {
  async function seed(): Promise<void> {
    const store = internalStore(storage)
    await store.createBucket('res-a', never)
    await store.createBucket('res-b', never)
    const put = (bucket: string, key: string, body: string) => store.putObject(bucket, key, body, never)
    await put('res-a', 'trees/t1/src/main.py', 'main v1')
    await put('res-a', 'trees/t1/data/in.csv', 'a,b')
    await put('res-a', 'trees/t2/src/main.py', 'main v2 (other tree)')
    await put('res-a', 'manifests/t1.json', '{}')
    await put('res-b', 'src/main.py', 'overridden by the last bucket')
    await put('res-b', 'extra.txt', 'extra')
  }

  it('lays out one tree by prefix filtering and stripping, nothing else of the bucket', async () => {
    await seed()
    const dir = tempDir('instance')
    const prefix = 'trees/t1/'
    const spec = {
      advancedResourceBuckets: [
        {
          bucketName: 'res-a',
          filtering: { prefixFiltering: { prefix } },
          resourcesTransformation: { stripPrefix: { prefix } }
        }
      ]
    }
    const done = await materializeResources(internalStore(storage), spec, dir)
    expect([...done.snapshot.keys()].sort()).toEqual(['data/in.csv', 'src/main.py'])
    expect(readFileSync(join(dir, 'src/main.py'), 'utf8')).toBe('main v1')
    expect(storage.requestCount()).toBe(0)
  })

  it('makes several buckets a union where the bucket listed last wins', async () => {
    await seed()
    const dir = tempDir('instance')
    const prefix = 'trees/t1/'
    const spec = {
      advancedResourceBuckets: [
        {
          bucketName: 'res-a',
          filtering: { prefixFiltering: { prefix } },
          resourcesTransformation: { stripPrefix: { prefix } }
        },
        { bucketName: 'res-b' }
      ]
    }
    const done = await materializeResources(internalStore(storage), spec, dir)
    expect([...done.snapshot.keys()].sort()).toEqual(['data/in.csv', 'extra.txt', 'src/main.py'])
    expect(readFileSync(join(dir, 'src/main.py'), 'utf8')).toBe('overridden by the last bucket')
    expect(done.skipped).toEqual([])
    const plain = await materializeResources(
      internalStore(storage),
      { resourceBuckets: ['res-b'] },
      tempDir('plain')
    )
    expect(plain.files).toBe(2)
  })

  it('names the buckets that do not exist, for a create-time refusal', async () => {
    await seed()
    const spec = { resourceBuckets: ['res-a', 'nope-1'], advancedResourceBuckets: [{ bucketName: 'nope-2' }] }
    expect(await checkBucketsExist(internalStore(storage), spec)).toEqual(['nope-1', 'nope-2'])
  })

  it('uploads what the instance created or changed, not untouched resources, filtered by the regexes', async () => {
    await seed()
    const dir = tempDir('instance')
    const prefix = 'trees/t1/'
    const spec = {
      advancedResourceBuckets: [
        {
          bucketName: 'res-a',
          filtering: { prefixFiltering: { prefix } },
          resourcesTransformation: { stripPrefix: { prefix } }
        }
      ]
    }
    const { snapshot } = await materializeResources(internalStore(storage), spec, dir)
    await new Promise(resolve => setTimeout(resolve, 20))
    writeFileSync(join(dir, 'data/in.csv'), 'a,b\n1,2') // a changed resource is a result
    mkdirSync(join(dir, 'out/3'), { recursive: true })
    writeFileSync(join(dir, 'out/3/result.csv'), 'r')
    writeFileSync(join(dir, 'out/3/scratch.tmp'), 't')
    writeFileSync(join(dir, 'log.txt'), 'l')
    const store = internalStore(storage)
    const results = {
      resultBucket: 'qa-out-test-1',
      resultsWhitelist: '^(out/${INSTANCE_ID}/|data/)',
      resultsBlacklist: '\\.tmp$'
    }
    const up = await uploadResults(store, dir, results, snapshot, { constants: { INSTANCE_ID: '3' } })
    expect(up.keys.sort()).toEqual(['data/in.csv', 'out/3/result.csv'])
    expect(await keys(store, 'qa-out-test-1')).toEqual(['data/in.csv', 'out/3/result.csv'])
    const all = await uploadResults(store, dir, { resultBucket: 'qa-out-test-2' }, snapshot)
    expect(all.keys.sort()).toEqual(['data/in.csv', 'log.txt', 'out/3/result.csv', 'out/3/scratch.tmp'])
    expect((await snapshotDirectory(dir)).size).toBe(5)
  })
})
