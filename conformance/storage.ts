/**
 * The suite's own S3 client of Qarnot's storage (docs/qarnot-api.md §8): the endpoint from `GET /settings`
 * (`storage`), the account's email (`GET /info`) as access key and the API token as secret key, path-style, no
 * checksums unless required. Not the action's store (src/storage): the suite checks the platform.
 */
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client
} from '@aws-sdk/client-s3'

export interface StorageOptions {
  readonly endpoint: string
  readonly email: string
  readonly token: string
}

export class Storage {
  private readonly client: S3Client

  constructor(readonly options: StorageOptions) {
    this.client = new S3Client({
      endpoint: options.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: options.email, secretAccessKey: options.token },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3
    })
  }

  async createBucket(bucket: string): Promise<void> {
    await this.client.send(new CreateBucketCommand({ Bucket: bucket }))
  }

  async putText(bucket: string, key: string, text: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text }))
  }

  async getText(bucket: string, key: string): Promise<string> {
    const answer = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    return (await answer.Body?.transformToString('utf8')) ?? ''
  }

  /** Every key of a bucket; `undefined` when the bucket does not exist. */
  async keys(bucket: string): Promise<string[] | undefined> {
    const keys: string[] = []
    let token: string | undefined
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token })
        )
        for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key)
        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchBucket') return undefined
      throw error
    }
    return keys.sort()
  }

  /** Deletes every object of the bucket, then the bucket; a bucket already gone is fine. */
  async removeBucket(bucket: string): Promise<void> {
    const keys = await this.keys(bucket)
    if (keys === undefined) return
    for (const key of keys) await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
    await this.client.send(new DeleteBucketCommand({ Bucket: bucket }))
  }

  destroy(): void {
    this.client.destroy()
  }
}
