/**
 * The only module that loads the AWS SDK (docs/storage.md, "Client"). It is imported lazily (`await import`), so
 * the bundler puts it in a chunk of its own and a run without files never loads it. Qarnot's storage speaks S3:
 * access key = the account's email, secret = the API token, path-style URLs, checksums only when an operation
 * requires one (S3-compatible stores refuse the SDK's default trailers).
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { Readable, Transform } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { StoreError, abortReason, isAbort } from './errors.js'
import type { BucketInfo, ListPage, ObjectInfo, ObjectStore, StoreCounters, UploadSource } from './store.js'

export interface S3StoreOptions {
  /** Storage URL from Qarnot's `GET /settings` (`storage`). */
  readonly endpoint: string
  /** The account's email (`GET /info` `email`): the access key. */
  readonly email: string
  /** The Qarnot API token: the secret key. */
  readonly token: string
  readonly region?: string
  /** Connections kept alive per host (default 64). */
  readonly maxSockets?: number
  /** Files up to this size go in one PUT; larger ones in parts of at least this size (default 8 MiB). */
  readonly partSize?: number
  /** Parts of one file in flight at once (default 4): the file's buffered bytes stay under partSize x this. */
  readonly partsInFlight?: number
}

type HandleArgs = Parameters<NodeHttpHandler['handle']>
type HandleResult = Awaited<ReturnType<NodeHttpHandler['handle']>>

/** The signal of the operation under way, for requests the SDK sends on its own (multipart parts). */
const ambientSignal = new AsyncLocalStorage<AbortSignal>()

function bodyLength(body: unknown): number {
  if (typeof body === 'string') return Buffer.byteLength(body)
  if (body instanceof Uint8Array) return body.byteLength
  return 0
}

/** Counts every attempt and its bytes, and aborts it with the operation's signal (lib-storage passes none). */
class CountingHandler extends NodeHttpHandler {
  constructor(
    options: ConstructorParameters<typeof NodeHttpHandler>[0],
    private readonly counters: StoreCounters
  ) {
    super(options)
  }

  override async handle(request: HandleArgs[0], options: HandleArgs[1] = {}): Promise<HandleResult> {
    const ambient = ambientSignal.getStore()
    const own = options.abortSignal as AbortSignal | undefined
    const abortSignal = ambient && own && ambient !== own ? AbortSignal.any([ambient, own]) : (own ?? ambient)
    this.counters.requests++
    this.counters.bytesSent += bodyLength(request.body)
    const result = await super.handle(request, { ...options, abortSignal })
    const length = Number(result.response.headers['content-length'] ?? 0)
    if (request.method === 'GET' && Number.isFinite(length)) this.counters.bytesReceived += length
    return result
  }
}

const MiB = 1024 * 1024

export function createS3Client(options: S3StoreOptions, counters: StoreCounters): S3Client {
  const maxSockets = options.maxSockets ?? 64
  return new S3Client({
    endpoint: options.endpoint,
    region: options.region ?? 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: options.email, secretAccessKey: options.token },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
    requestHandler: new CountingHandler(
      {
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
        connectionTimeout: 10_000,
        requestTimeout: 120_000
      },
      counters
    )
  })
}

/** Any SDK failure as a StoreError with S3's code; aborts stay aborts. */
function storeError(error: unknown, what: string): Error {
  if (isAbort(error)) return error as Error
  const e = error as {
    name?: string
    Code?: string
    message?: string
    $metadata?: { httpStatusCode?: number }
  }
  const status = e.$metadata?.httpStatusCode
  const code = e.Code ?? (e.name && e.name !== 'Error' ? e.name : status ? `Http${status}` : 'NetworkError')
  return new StoreError(code, status, `${what}: ${code}${e.message ? ` (${e.message})` : ''}`, {
    cause: error
  })
}

/** `bucket/key` as x-amz-copy-source wants it: every segment URL-encoded. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`
}

function checkDigest(expected: string | undefined, actual: string, path: string): void {
  if (expected && expected !== actual) {
    throw new StoreError(
      'FileChanged',
      undefined,
      `${path} changed while it was being sent; run the step again`
    )
  }
}

export class S3ObjectStore implements ObjectStore {
  readonly counters: StoreCounters = { requests: 0, bytesSent: 0, bytesReceived: 0 }
  readonly client: S3Client
  private readonly partSize: number
  private readonly partsInFlight: number

  constructor(readonly options: S3StoreOptions) {
    this.client = createS3Client(options, this.counters)
    this.partSize = Math.max(options.partSize ?? 8 * MiB, 5 * MiB)
    this.partsInFlight = options.partsInFlight ?? 4
  }

  get endpoint(): string {
    return this.options.endpoint
  }

  uploadMemory(size: number): number {
    return size <= this.partSize ? size : this.partSizeFor(size) * (this.partsInFlight + 1)
  }

  private partSizeFor(size: number): number {
    return Math.max(this.partSize, Math.ceil(size / 9000))
  }

  private async send<T>(what: string, signal: AbortSignal, run: () => Promise<T>): Promise<T> {
    if (signal.aborted) throw abortReason(signal)
    try {
      return await ambientSignal.run(signal, run)
    } catch (error) {
      throw signal.aborted ? abortReason(signal) : storeError(error, what)
    }
  }

  async listBuckets(signal: AbortSignal): Promise<BucketInfo[]> {
    const out = await this.send('list buckets', signal, () =>
      this.client.send(new ListBucketsCommand({}), { abortSignal: signal })
    )
    return (out.Buckets ?? []).map(b => ({ name: b.Name ?? '', created: b.CreationDate ?? new Date(0) }))
  }

  async headBucket(bucket: string, signal: AbortSignal): Promise<'exists' | 'missing' | 'forbidden'> {
    try {
      await this.send(`bucket ${bucket}`, signal, () =>
        this.client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal })
      )
      return 'exists'
    } catch (error) {
      if (error instanceof StoreError && error.status === 404) return 'missing'
      if (error instanceof StoreError && error.status === 403) return 'forbidden'
      throw error
    }
  }

  async createBucket(bucket: string, signal: AbortSignal): Promise<void> {
    await this.send(`create bucket ${bucket}`, signal, () =>
      this.client.send(new CreateBucketCommand({ Bucket: bucket }), { abortSignal: signal })
    )
  }

  async deleteBucket(bucket: string, signal: AbortSignal): Promise<void> {
    await this.send(`delete bucket ${bucket}`, signal, () =>
      this.client.send(new DeleteBucketCommand({ Bucket: bucket }), { abortSignal: signal })
    )
  }

  async headObject(bucket: string, key: string, signal: AbortSignal): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.send(`${bucket}/${key}`, signal, () =>
        this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal })
      )
      return { key, size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0) }
    } catch (error) {
      if (error instanceof StoreError && error.status === 404) return undefined
      throw error
    }
  }

  async putObject(bucket: string, key: string, body: Buffer | string, signal: AbortSignal): Promise<void> {
    await this.send(`put ${bucket}/${key}`, signal, () =>
      this.client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: bodyLength(body) }),
        { abortSignal: signal }
      )
    )
  }

  async uploadFile(bucket: string, key: string, source: UploadSource, signal: AbortSignal): Promise<void> {
    if (source.size <= this.partSize) {
      const body = await readFile(source.path, { signal })
      checkDigest(source.sha256, createHash('sha256').update(body).digest('hex'), source.path)
      return this.putObject(bucket, key, body, signal)
    }
    const hash = createHash('sha256')
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk)
        callback(null, chunk)
      }
    })
    const file = createReadStream(source.path, { highWaterMark: MiB })
    file.on('error', error => hashing.destroy(error))
    const body = file.pipe(hashing)
    const upload = new Upload({
      client: this.client,
      params: { Bucket: bucket, Key: key, Body: body, ContentLength: source.size },
      partSize: this.partSizeFor(source.size),
      queueSize: this.partsInFlight
    })
    const onAbort = () => void upload.abort().catch(() => undefined)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await this.send(`upload ${bucket}/${key}`, signal, () => upload.done())
    } catch (error) {
      this.forgetUpload(bucket, key, upload)
      throw error
    } finally {
      signal.removeEventListener('abort', onAbort)
      file.destroy()
    }
    const digest = hash.digest('hex')
    if (source.sha256 && digest !== source.sha256) {
      await this.deleteObjects(bucket, [key], signal).catch(() => undefined)
      checkDigest(source.sha256, digest, source.path)
    }
  }

  /** Best effort, outside the aborted operation: drop the parts of a multipart upload that will never complete. */
  private forgetUpload(bucket: string, key: string, upload: Upload): void {
    const uploadId = (upload as unknown as { uploadId?: string }).uploadId
    if (!uploadId) return
    ambientSignal.exit(() => {
      this.client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), {
          abortSignal: AbortSignal.timeout(3000)
        })
        .catch(() => undefined)
    })
  }

  async copyObject(bucket: string, sourceKey: string, key: string, signal: AbortSignal): Promise<void> {
    await this.send(`copy ${bucket}/${sourceKey} to ${key}`, signal, () =>
      this.client.send(
        new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: copySource(bucket, sourceKey) }),
        {
          abortSignal: signal
        }
      )
    )
  }

  async listPage(
    bucket: string,
    prefix: string,
    from: { continuationToken?: string; startAfter?: string },
    signal: AbortSignal
  ): Promise<ListPage> {
    const out = await this.send(`list ${bucket}/${prefix}`, signal, () =>
      this.client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix || undefined,
          ContinuationToken: from.continuationToken,
          StartAfter: from.continuationToken ? undefined : from.startAfter,
          MaxKeys: 1000
        }),
        { abortSignal: signal }
      )
    )
    const objects = (out.Contents ?? []).map(o => ({
      key: o.Key ?? '',
      size: o.Size ?? 0,
      lastModified: o.LastModified ?? new Date(0)
    }))
    if (!out.IsTruncated || objects.length === 0) return { objects }
    const next = out.NextContinuationToken
      ? { continuationToken: out.NextContinuationToken }
      : { startAfter: objects[objects.length - 1].key }
    return { objects, next }
  }

  async getObjectStream(
    bucket: string,
    key: string,
    signal: AbortSignal,
    range?: { start: number; end: number }
  ): Promise<{ body: Readable; size: number }> {
    const out = await this.send(`get ${bucket}/${key}`, signal, () =>
      this.client.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          Range: range && `bytes=${range.start}-${range.end}`
        }),
        { abortSignal: signal }
      )
    )
    const body = out.Body instanceof Readable ? out.Body : Readable.from([])
    return { body, size: out.ContentLength ?? 0 }
  }

  async deleteObjects(bucket: string, keys: string[], signal: AbortSignal): Promise<string[]> {
    if (keys.length === 0) return []
    const out = await this.send(`delete ${keys.length} objects in ${bucket}`, signal, () =>
      this.client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: keys.map(Key => ({ Key })), Quiet: true }
        }),
        { abortSignal: signal }
      )
    )
    return (out.Errors ?? []).filter(e => e.Code !== 'NoSuchKey').map(e => e.Key ?? '')
  }

  async listMultipartUploads(
    bucket: string,
    signal: AbortSignal
  ): Promise<{ key: string; uploadId: string; initiated: Date }[]> {
    try {
      const out = await this.send(`list uploads in ${bucket}`, signal, () =>
        this.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }), { abortSignal: signal })
      )
      return (out.Uploads ?? []).map(u => ({
        key: u.Key ?? '',
        uploadId: u.UploadId ?? '',
        initiated: u.Initiated ?? new Date()
      }))
    } catch (error) {
      if (error instanceof StoreError && [405, 501].includes(error.status ?? 0)) return []
      if (error instanceof StoreError && error.code === 'NotImplemented') return []
      throw error
    }
  }

  async abortMultipartUpload(
    bucket: string,
    key: string,
    uploadId: string,
    signal: AbortSignal
  ): Promise<void> {
    await this.send(`abort upload of ${bucket}/${key}`, signal, () =>
      this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), {
        abortSignal: signal
      })
    )
  }

  /** Closes the kept-alive connections. */
  destroy(): void {
    this.client.destroy()
  }
}

export function createObjectStore(options: S3StoreOptions): S3ObjectStore {
  return new S3ObjectStore(options)
}
