/** The emulated platform's S3 client (platform-store.ts), over the AWS SDK: loaded when storage starts. */
import { open, readFile } from 'node:fs/promises'
import { Agent } from 'node:http'
import type { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand
} from '@aws-sdk/client-s3'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import type { PlatformObject, PlatformStore } from './platform-store.js'

/** Files above this go up in parts of this size. */
const PART_SIZE = 8 * 1024 * 1024

/** An S3 error's status, whichever way it is carried. */
function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
}

export class SdkPlatformStore implements PlatformStore {
  private readonly client: S3Client
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 })

  constructor(endpoint: string, accessKey: string, secret: string) {
    this.client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: accessKey, secretAccessKey: secret },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      // A thousand instances finishing at once queue behind the 64 sockets by design: no warning for that.
      requestHandler: new NodeHttpHandler({
        httpAgent: this.agent,
        socketAcquisitionWarningTimeout: 10 * 60_000
      })
    })
  }

  async headBucket(bucket: string, signal: AbortSignal): Promise<'exists' | 'missing' | 'forbidden'> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal })
      return 'exists'
    } catch (error) {
      if (statusOf(error) === 404) return 'missing'
      if (statusOf(error) === 403) return 'forbidden'
      throw error
    }
  }

  async createBucket(bucket: string, signal: AbortSignal): Promise<void> {
    await this.client.send(new CreateBucketCommand({ Bucket: bucket }), { abortSignal: signal })
  }

  async listPage(
    bucket: string,
    prefix: string,
    from: { continuationToken?: string; startAfter?: string },
    signal: AbortSignal
  ): Promise<{ objects: PlatformObject[]; next?: { continuationToken?: string } }> {
    const out = await this.client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix || undefined,
        ContinuationToken: from.continuationToken,
        StartAfter: from.continuationToken ? undefined : from.startAfter
      }),
      { abortSignal: signal }
    )
    const objects = (out.Contents ?? []).map(o => ({
      key: o.Key ?? '',
      size: o.Size ?? 0,
      lastModified: o.LastModified ?? new Date(0)
    }))
    const token = out.IsTruncated ? out.NextContinuationToken : undefined
    return token ? { objects, next: { continuationToken: token } } : { objects }
  }

  async getObjectStream(
    bucket: string,
    key: string,
    signal: AbortSignal
  ): Promise<{ body: Readable; size: number }> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: signal
    })
    return { body: out.Body as Readable, size: out.ContentLength ?? 0 }
  }

  /**
   * A file from disk: one PUT up to PART_SIZE, multipart above (parts read one at a time, so memory stays at one
   * part). Bodies are buffers, so the SDK can retry any request.
   */
  async uploadFile(
    bucket: string,
    key: string,
    source: { path: string; size: number },
    signal: AbortSignal
  ): Promise<void> {
    const options = { abortSignal: signal }
    if (source.size <= PART_SIZE) {
      const body = await readFile(source.path, { signal })
      await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }), options)
      return
    }
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
      options
    )
    const file = await open(source.path, 'r')
    try {
      const parts: { ETag?: string; PartNumber: number }[] = []
      for (let offset = 0, number = 1; offset < source.size; offset += PART_SIZE, number++) {
        const length = Math.min(PART_SIZE, source.size - offset)
        const body = Buffer.alloc(length)
        const { bytesRead } = await file.read(body, 0, length, offset)
        if (bytesRead !== length) throw new Error(`${source.path} changed while it was uploaded`)
        const { ETag } = await this.client.send(
          new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: number, Body: body }),
          options
        )
        parts.push({ ETag, PartNumber: number })
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: parts }
        }),
        options
      )
    } catch (error) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }))
        .catch(() => undefined)
      throw error
    } finally {
      await file.close()
    }
  }

  destroy(): void {
    this.client.destroy()
    this.agent.destroy()
  }
}
