/**
 * S3 makes a PUT visible whole or not at all: a reader sees the old object or the new one, and two PUTs of one
 * key at once leave one of them. s3rver 3.7 writes the object file in place (truncate, then stream) and answers a
 * buffered PUT before the bytes are on disk, so two runs writing one cache entry at once could leave bytes of
 * both. This puts each object in a file of its own beside the target and renames it into place when whole.
 *
 * s3rver's multipart parts had the same early answer, and their file stream no error handler: a part still
 * arriving when stop() removed the folder threw ENOENT out of the process. Parts are written the same careful
 * way here, and once `close()` is called no write starts and the ones under way are waited for, so nothing
 * writes into (or makes again) a folder that stop() removed.
 */
import { randomBytes, createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'

/** The part of s3rver's FilesystemStore and S3Object this needs. */
export interface S3rverObject {
  readonly bucket: string
  readonly key: string
  readonly content: Buffer | Readable
  readonly metadata: Record<string, string>
}
export interface S3rverFilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>
  putPart(
    bucket: string,
    uploadId: string,
    partNumber: number,
    content: Readable
  ): Promise<{ size: number; md5: string }>
}

/** What stop() needs: no write starts after `close()`, which resolves when the ones under way let go. */
export interface GuardedWrites {
  close(timeoutMs: number): Promise<void>
}

export function makePutsAtomic(store: S3rverFilesystemStore): GuardedWrites {
  const underWay = new Set<Promise<unknown>>()
  let closed = false
  const guarded = <T>(write: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new Error('the storage is stopping'))
    const done = write()
    underWay.add(done)
    const forget = (): void => void underWay.delete(done)
    done.then(forget, forget)
    return done
  }
  store.putObject = object =>
    guarded(async () => {
      const target = store.getResourcePath(object.bucket, object.key, 'object')
      const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content
      const written = await writeWhole(source, target, () => closed)
      await store.putMetadata(object.bucket, object.key, object.metadata, written.md5)
      return written
    })
  store.putPart = (bucket, uploadId, partNumber, content) =>
    guarded(async () => {
      const part = join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber))
      const written = await writeWhole(content, part, () => closed)
      await writeFile(`${part}.md5`, written.md5)
      return written
    })
  return {
    async close(timeoutMs) {
      closed = true
      await Promise.race([Promise.allSettled([...underWay]), sleep(timeoutMs, undefined, { ref: false })])
    }
  }
}

/** Streams `source` into a file of its own beside `target`, then renames it into place: whole or not at all. */
async function writeWhole(
  source: Readable,
  target: string,
  isClosed: () => boolean
): Promise<{ size: number; md5: string }> {
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
  try {
    await pipeline(source, counting, createWriteStream(partial))
    if (isClosed()) throw new Error('the storage is stopping')
    await rename(partial, target)
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  }
  return { size, md5: md5.digest('hex') }
}
