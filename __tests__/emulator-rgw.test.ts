/**
 * The emulated storage answers as Qarnot's Ceph RGW does (docs/qarnot-api.md, "Storage is Ceph RGW"), seen through
 * the AWS SDK as any client sees it; and the account's storage quotas hold (docs/emulator.md, "Storage").
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand
} from '@aws-sdk/client-s3'
import {
  startEmulatedStorage,
  type EmulatedStorage,
  type StorageQuota
} from '../emulator/storage/emulated-storage.js'
import { EMAIL } from './helpers/storage.js'

let storage: EmulatedStorage | undefined
let client: S3Client | undefined
afterEach(async () => {
  client?.destroy()
  client = undefined
  await storage?.stop()
  storage = undefined
})

async function start(quota?: StorageQuota): Promise<S3Client> {
  storage = await startEmulatedStorage({ email: EMAIL, token: 'the-token', quota })
  client = new S3Client({
    endpoint: storage.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: EMAIL, secretAccessKey: 'the-token' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1
  })
  return client
}

const MiB = 1024 * 1024
const md5 = (data: Buffer) => createHash('md5').update(data).digest()

/** The S3 error a promise rejects with: its code and status. */
async function failure(promise: Promise<unknown>): Promise<{ name?: string; status?: number }> {
  try {
    await promise
  } catch (error) {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } }
    return { name: e.name, status: e.$metadata?.httpStatusCode }
  }
  throw new Error('expected a refusal')
}

describe('storage as Ceph RGW answers', () => {
  it('CreateBucket on one of our own buckets succeeds (200), again and again', async () => {
    const s3 = await start()
    await s3.send(new CreateBucketCommand({ Bucket: 'mine-1' }))
    const again = await s3.send(new CreateBucketCommand({ Bucket: 'mine-1' }))
    expect(again.$metadata.httpStatusCode).toBe(200)
    await s3.send(new PutObjectCommand({ Bucket: 'mine-1', Key: 'a.txt', Body: 'kept' }))
    await s3.send(new CreateBucketCommand({ Bucket: 'mine-1' }))
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'mine-1' }))
    expect(listed.Contents?.map(o => o.Key)).toEqual(['a.txt'])
  })

  it.each([
    'ab',
    'a'.repeat(64),
    'Upper-case',
    'under_score',
    '-starts',
    'ends-',
    '.dot',
    'dot.',
    '192.168.1.1',
    'two..dots'
  ])('refuses the bucket name %j with 400 InvalidBucketName', async name => {
    const s3 = await start()
    expect(await failure(s3.send(new CreateBucketCommand({ Bucket: name })))).toEqual({
      name: 'InvalidBucketName',
      status: 400
    })
  })

  it.each(['abc', 'a'.repeat(63), 'my.bucket-1', '1-2', '192.168.1.1a'])(
    'takes the bucket name %j',
    async name => {
      const s3 = await start()
      const made = await s3.send(new CreateBucketCommand({ Bucket: name }))
      expect(made.$metadata.httpStatusCode).toBe(200)
    }
  )

  it('lists object versions: each object one version, null, the latest; pages by key marker', async () => {
    const s3 = await start()
    await s3.send(new CreateBucketCommand({ Bucket: 'versions-1' }))
    for (const key of ['a.txt', 'b/c.txt', 'd e+f.txt'])
      await s3.send(new PutObjectCommand({ Bucket: 'versions-1', Key: key, Body: key }))
    const all = await s3.send(new ListObjectVersionsCommand({ Bucket: 'versions-1' }))
    expect(all.Versions?.map(v => [v.Key, v.VersionId, v.IsLatest, v.Size])).toEqual([
      ['a.txt', 'null', true, 5],
      ['b/c.txt', 'null', true, 7],
      ['d e+f.txt', 'null', true, 9]
    ])
    expect(all.IsTruncated).toBe(false)
    expect(all.DeleteMarkers ?? []).toEqual([])
    const first = await s3.send(new ListObjectVersionsCommand({ Bucket: 'versions-1', MaxKeys: 2 }))
    expect(first.Versions?.map(v => v.Key)).toEqual(['a.txt', 'b/c.txt'])
    expect(first.IsTruncated).toBe(true)
    expect(first.NextKeyMarker).toBe('b/c.txt')
    const rest = await s3.send(
      new ListObjectVersionsCommand({ Bucket: 'versions-1', KeyMarker: first.NextKeyMarker })
    )
    expect(rest.Versions?.map(v => v.Key)).toEqual(['d e+f.txt'])
    const prefixed = await s3.send(new ListObjectVersionsCommand({ Bucket: 'versions-1', Prefix: 'b/' }))
    expect(prefixed.Versions?.map(v => v.Key)).toEqual(['b/c.txt'])
    expect(await failure(s3.send(new ListObjectVersionsCommand({ Bucket: 'nope-1' })))).toMatchObject({
      status: 404
    })
    expect(storage?.requestCount('ListObjectVersions')).toBe(5)
  })

  it('lists the multipart uploads in progress, and forgets completed and aborted ones', async () => {
    const s3 = await start()
    await s3.send(new CreateBucketCommand({ Bucket: 'uploads-1' }))
    const none = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'uploads-1' }))
    expect(none.Uploads ?? []).toEqual([])
    const begin = (Key: string) => s3.send(new CreateMultipartUploadCommand({ Bucket: 'uploads-1', Key }))
    const a = await begin('a/big.bin')
    const b = await begin('b/big.bin')
    const c = await begin('c.bin')
    const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'uploads-1' }))
    expect(listed.Uploads?.map(u => [u.Key, u.UploadId])).toEqual([
      ['a/big.bin', a.UploadId],
      ['b/big.bin', b.UploadId],
      ['c.bin', c.UploadId]
    ])
    expect(listed.Uploads?.[0].Initiated).toBeInstanceOf(Date)
    const onlyB = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'uploads-1', Prefix: 'b/' }))
    expect(onlyB.Uploads?.map(u => u.Key)).toEqual(['b/big.bin'])
    await s3.send(
      new AbortMultipartUploadCommand({ Bucket: 'uploads-1', Key: 'a/big.bin', UploadId: a.UploadId })
    )
    const part = await s3.send(
      new UploadPartCommand({
        Bucket: 'uploads-1',
        Key: 'c.bin',
        UploadId: c.UploadId,
        PartNumber: 1,
        Body: 'x'
      })
    )
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'uploads-1',
        Key: 'c.bin',
        UploadId: c.UploadId,
        MultipartUpload: { Parts: [{ ETag: part.ETag, PartNumber: 1 }] }
      })
    )
    const left = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'uploads-1' }))
    expect(left.Uploads?.map(u => u.Key)).toEqual(['b/big.bin'])
  })

  it('gives a multipart object the ETag "<md5 of the parts\' md5s>-N", everywhere', async () => {
    const s3 = await start()
    await s3.send(new CreateBucketCommand({ Bucket: 'etags-1' }))
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1234)]
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'etags-1', Key: 'm.bin' }))
    const sent = []
    for (const [i, body] of parts.entries()) {
      const part = await s3.send(
        new UploadPartCommand({ Bucket: 'etags-1', Key: 'm.bin', UploadId, PartNumber: i + 1, Body: body })
      )
      expect(part.ETag).toBe(`"${md5(body).toString('hex')}"`)
      sent.push({ ETag: part.ETag, PartNumber: i + 1 })
    }
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'etags-1',
        Key: 'm.bin',
        UploadId,
        MultipartUpload: { Parts: sent }
      })
    )
    const expected = `"${createHash('md5')
      .update(Buffer.concat(parts.map(md5)))
      .digest('hex')}-3"`
    expect(done.ETag).toBe(expected)
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'etags-1', Key: 'm.bin' }))
    expect(head.ETag).toBe(expected)
    expect(head.ContentLength).toBe(10 * MiB + 1234)
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'etags-1' }))
    expect(listed.Contents?.[0].ETag).toBe(expected)
    // A plain PUT keeps its plain md5.
    const plain = await s3.send(new PutObjectCommand({ Bucket: 'etags-1', Key: 'p.txt', Body: 'plain' }))
    expect(plain.ETag).toBe(`"${md5(Buffer.from('plain')).toString('hex')}"`)
  })
})

describe('storage quotas', () => {
  it('refuses a bucket beyond maxBuckets with 400 TooManyBuckets; our own bucket is still 200', async () => {
    const s3 = await start({ maxBuckets: 2 })
    await s3.send(new CreateBucketCommand({ Bucket: 'one-1' }))
    await s3.send(new CreateBucketCommand({ Bucket: 'two-2' }))
    expect(await failure(s3.send(new CreateBucketCommand({ Bucket: 'three-3' })))).toEqual({
      name: 'TooManyBuckets',
      status: 400
    })
    const again = await s3.send(new CreateBucketCommand({ Bucket: 'two-2' }))
    expect(again.$metadata.httpStatusCode).toBe(200)
    expect(storage?.bucketCount()).toBe(2)
  })

  it('refuses a PutObject beyond quotaBytes with 403 QuotaExceeded; an overwrite counts its new size only', async () => {
    const s3 = await start({ quotaBytes: 100 })
    await s3.send(new CreateBucketCommand({ Bucket: 'quota-1' }))
    await s3.send(new PutObjectCommand({ Bucket: 'quota-1', Key: 'a', Body: Buffer.alloc(60) }))
    expect(
      await failure(s3.send(new PutObjectCommand({ Bucket: 'quota-1', Key: 'b', Body: Buffer.alloc(41) })))
    ).toEqual({ name: 'QuotaExceeded', status: 403 })
    await s3.send(new PutObjectCommand({ Bucket: 'quota-1', Key: 'b', Body: Buffer.alloc(40) }))
    expect(storage?.usedBytes()).toBe(100)
    // Replacing a (60) by 60 bytes stays within.
    await s3.send(new PutObjectCommand({ Bucket: 'quota-1', Key: 'a', Body: Buffer.alloc(60) }))
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'quota-1' }))
    expect(listed.Contents?.map(o => [o.Key, o.Size])).toEqual([
      ['a', 60],
      ['b', 40]
    ])
  })

  it('refuses a CompleteMultipartUpload beyond quotaBytes with 403 QuotaExceeded; the upload stays', async () => {
    const s3 = await start({ quotaBytes: 6 * MiB })
    await s3.send(new CreateBucketCommand({ Bucket: 'quota-2' }))
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'quota-2', Key: 'm' }))
    const sent = []
    for (const PartNumber of [1, 2]) {
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: 'quota-2',
          Key: 'm',
          UploadId,
          PartNumber,
          Body: Buffer.alloc(5 * MiB)
        })
      )
      sent.push({ ETag: part.ETag, PartNumber })
    }
    const complete = new CompleteMultipartUploadCommand({
      Bucket: 'quota-2',
      Key: 'm',
      UploadId,
      MultipartUpload: { Parts: sent }
    })
    expect(await failure(s3.send(complete))).toEqual({ name: 'QuotaExceeded', status: 403 })
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'quota-2' }))
    expect(uploads.Uploads?.map(u => u.UploadId)).toEqual([UploadId])
    expect(storage?.usedBytes()).toBe(0)
  })
})
