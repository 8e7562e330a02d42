/**
 * The only module that loads the AWS SDK (docs/storage.md, "Client"). It is imported lazily (`await import`), so
 * the bundler puts it in a chunk of its own and a run without files never loads it. Qarnot's storage speaks S3:
 * access key = the account's email, secret = the API token, path-style URLs, checksums only when an operation
 * requires one (S3-compatible stores refuse the SDK's default trailers).
 */
import { createHash } from 'node:crypto'
import { open, readFile, type FileHandle } from 'node:fs/promises'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand
} from '@aws-sdk/client-s3'
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

function bodyLength(body: unknown): number {
  if (typeof body === 'string') return Buffer.byteLength(body)
  if (body instanceof Uint8Array) return body.byteLength
  return 0
}

/** Counts every attempt (retries included) and the payload bytes it carries each way. */
class CountingHandler extends NodeHttpHandler {
  constructor(
    options: ConstructorParameters<typeof NodeHttpHandler>[0],
    private readonly counters: StoreCounters
  ) {
    super(options)
  }

  override async handle(request: HandleArgs[0], options: HandleArgs[1] = {}): Promise<HandleResult> {
    // A request whose operation was aborted meanwhile is refused by the handler before it is sent: not counted.
    if (options.abortSignal?.aborted) return super.handle(request, options)
    this.counters.requests++
    this.counters.bytesSent += bodyLength(request.body)
    const result = await super.handle(request, options)
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

/** Reads `length` bytes at `position` into the start of `buffer`; a file that got shorter is an error. */
async function readExactly(file: FileHandle, buffer: Buffer, length: number, position: number, path: string) {
  for (let filled = 0; filled < length;) {
    const { bytesRead } = await file.read(buffer, filled, length - filled, position + filled)
    if (bytesRead === 0) {
      throw new StoreError(
        'FileChanged',
        undefined,
        `${path} got shorter while it was being sent; run the step again`
      )
    }
    filled += bytesRead
  }
  return buffer.subarray(0, length)
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
    return size <= this.partSize ? size : this.partSizeFor(size) * this.partsInFlight
  }

  private partSizeFor(size: number): number {
    return Math.max(this.partSize, Math.ceil(size / 9000))
  }

  private async send<T>(what: string, signal: AbortSignal, run: () => Promise<T>): Promise<T> {
    if (signal.aborted) throw abortReason(signal)
    try {
      return await run()
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
    const created = await this.send(`upload ${bucket}/${key}`, signal, () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }), {
        abortSignal: signal
      })
    )
    const uploadId = created.UploadId ?? ''
    try {
      const parts = await this.sendParts(bucket, key, uploadId, source, signal)
      await this.send(`complete ${bucket}/${key}`, signal, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts }
          }),
          { abortSignal: signal }
        )
      )
    } catch (error) {
      this.forgetUpload(bucket, key, uploadId)
      throw error
    }
  }

  /**
   * Reads the file once, in order, into `partsInFlight` buffers that are reused part after part (no garbage, so
   * memory stays flat whatever the file's size), hashing as it reads, and sends the parts side by side. Nothing
   * becomes visible unless the bytes have the expected sha256: the caller completes the upload only then.
   */
  private async sendParts(
    bucket: string,
    key: string,
    uploadId: string,
    source: UploadSource,
    signal: AbortSignal
  ) {
    const partSize = this.partSizeFor(source.size)
    const count = Math.ceil(source.size / partSize)
    const slots = Array.from({ length: Math.min(this.partsInFlight, count) }, () =>
      Buffer.allocUnsafe(partSize)
    )
    const inFlight: Promise<void>[] = slots.map(() => Promise.resolve())
    const parts: { PartNumber: number; ETag: string }[] = []
    const controller = new AbortController()
    const partSignal = AbortSignal.any([signal, controller.signal])
    let failure: { error: unknown } | undefined
    const hash = createHash('sha256')
    const file = await open(source.path, 'r')
    try {
      for (let index = 0; index < count && !failure; index++) {
        const slot = index % slots.length
        await inFlight[slot]
        if (failure) break
        const length = Math.min(partSize, source.size - index * partSize)
        const body = await readExactly(file, slots[slot], length, index * partSize, source.path)
        hash.update(body)
        inFlight[slot] = this.send(`part ${index + 1} of ${bucket}/${key}`, partSignal, () =>
          this.client.send(
            new UploadPartCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: index + 1,
              Body: body,
              ContentLength: length
            }),
            { abortSignal: partSignal }
          )
        ).then(
          out => void (parts[index] = { PartNumber: index + 1, ETag: out.ETag ?? '' }),
          (error: unknown) => {
            failure ??= { error }
            controller.abort(error)
          }
        )
      }
      await Promise.all(inFlight)
    } finally {
      await file.close()
    }
    if (failure) throw failure.error
    checkDigest(source.sha256, hash.digest('hex'), source.path)
    return parts
  }

  /** Best effort, with its own short deadline: drop the parts of a multipart upload that will never complete. */
  private forgetUpload(bucket: string, key: string, uploadId: string): void {
    if (!uploadId) return
    this.client
      .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), {
        abortSignal: AbortSignal.timeout(3000)
      })
      .catch(() => undefined)
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
