/** Streaming sha256 of files, read once each, a few at a time (memory does not grow with file size). */
import { createHash } from 'node:crypto'
import { open, readFile } from 'node:fs/promises'
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
  // One buffer read into again and again: no garbage per chunk, so memory stays flat on a file of any size.
  const hash = createHash('sha256')
  const buffer = Buffer.allocUnsafe(READ_CHUNK)
  const file = await open(path, 'r')
  let size = 0
  try {
    for (;;) {
      if (signal?.aborted) throw abortReason(signal)
      const { bytesRead } = await file.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      hash.update(buffer.subarray(0, bytesRead))
      size += bytesRead
    }
  } finally {
    await file.close()
  }
  return { sha256: hash.digest('hex'), size }
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
