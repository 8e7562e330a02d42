/**
 * S3 makes a PUT visible whole or not at all: a reader sees the old object or the new one, and two PUTs of one
 * key at once leave one of them. s3rver 3.7 writes the object file in place (truncate, then stream) and answers a
 * buffered PUT before the bytes are on disk, so two runs writing one cache entry at once could leave bytes of
 * both. This puts each object in a file of its own beside the target and renames it into place when whole.
 */
import { randomBytes, createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/** The part of s3rver's FilesystemStore and S3Object this needs. */
export interface S3rverObject {
  readonly bucket: string
  readonly key: string
  readonly content: Buffer | Readable
  readonly metadata: Record<string, string>
}
export interface S3rverFilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>
}

export function makePutsAtomic(store: S3rverFilesystemStore): void {
  store.putObject = async object => {
    const target = store.getResourcePath(object.bucket, object.key, 'object')
    await mkdir(dirname(target), { recursive: true })
    // Not ending in `._S3rver_object`: a listing never shows it.
    const partial = `${target}.${randomBytes(6).toString('hex')}.partial`
    const md5 = createHash('md5')
    let size = 0
    const counting = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        md5.update(chunk)
        size += chunk.length
        callback(null, chunk)
      }
    })
    const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content
    try {
      await pipeline(source, counting, createWriteStream(partial))
      await rename(partial, target)
    } catch (error) {
      await rm(partial, { force: true })
      throw error
    }
    const digest = md5.digest('hex')
    await store.putMetadata(object.bucket, object.key, object.metadata, digest)
    return { size, md5: digest }
  }
}
