/** Streaming sha256 of files, read once each, a few at a time (memory does not grow with file size). */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { abortReason } from './errors.js'
import type { TreeEntry } from './layout.js'
import { mapLimit } from './pool.js'

/** Files up to this size are read in one go (fewer system calls); larger ones are streamed. */
const WHOLE_READ_MAX = 4 * 1024 * 1024
const READ_CHUNK = 1024 * 1024

export async function sha256File(
  path: string,
  signal?: AbortSignal,
  sizeHint = Infinity
): Promise<{ sha256: string; size: number }> {
  if (sizeHint <= WHOLE_READ_MAX) {
    const bytes = await readFile(path, { signal })
    return { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length }
  }
  if (signal?.aborted) throw abortReason(signal)
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256')
    let size = 0
    const stream = createReadStream(path, { highWaterMark: READ_CHUNK })
    const onAbort = () => stream.destroy(abortReason(signal as AbortSignal))
    signal?.addEventListener('abort', onAbort, { once: true })
    stream.on('data', chunk => {
      size += chunk.length
      hash.update(chunk)
    })
    stream.on('error', error => {
      signal?.removeEventListener('abort', onAbort)
      reject(error)
    })
    stream.on('end', () => {
      signal?.removeEventListener('abort', onAbort)
      resolve({ sha256: hash.digest('hex'), size })
    })
  })
}

export interface LocalFile {
  /** Relative POSIX path under the workspace. */
  readonly path: string
  readonly size: number
}

/**
 * Hashes every file (relative to `root`). The size recorded is the size hashed; an upload later checks the bytes
 * it sends against this hash, so a file that changes in between is caught.
 */
export async function hashFiles(
  root: string,
  files: readonly LocalFile[],
  options: { concurrency?: number; signal?: AbortSignal } = {}
): Promise<TreeEntry[]> {
  return mapLimit(
    files,
    options.concurrency ?? 8,
    async (file, signal) => {
      const { sha256, size } = await sha256File(join(root, file.path), signal, file.size)
      return { path: file.path, sha256, size }
    },
    options.signal
  )
}
