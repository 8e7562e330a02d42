/**
 * Errors of the storage side of the action (docs/storage.md). A StorageInputError is the user's to fix and names
 * the input; a StorageUnavailableError means storage cannot be used at all; both are raised before any task exists.
 */

/** The inputs the storage feature reads; the caller may map them to its own names. */
export type StorageInput = 'resources' | 'results' | 'results-include' | 'results-exclude'

export class StorageInputError extends Error {
  constructor(
    readonly input: StorageInput,
    /** What is wrong and how to fix it, without the input's name. */
    readonly detail: string
  ) {
    super(`Input '${input}': ${detail}`)
    this.name = 'StorageInputError'
  }
}

export type StorageUnavailableReason = 'no-storage' | 'unreachable' | 'credentials' | 'bucket-not-ours'

export class StorageUnavailableError extends Error {
  constructor(
    readonly reason: StorageUnavailableReason,
    message: string,
    options?: { cause?: unknown }
  ) {
    super(message, options)
    this.name = 'StorageUnavailableError'
  }
}

/** A request storage refused or failed, with S3's error code (`NoSuchKey`, `SignatureDoesNotMatch`, ...). */
export class StoreError extends Error {
  constructor(
    readonly code: string,
    readonly status: number | undefined,
    message: string,
    options?: { cause?: unknown }
  ) {
    super(message, options)
    this.name = 'StoreError'
  }
}

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket', 'NoSuchUpload'])

export function isNotFound(error: unknown): boolean {
  return error instanceof StoreError && (error.status === 404 || NOT_FOUND.has(error.code))
}

export function isNoSuchBucket(error: unknown): boolean {
  return error instanceof StoreError && error.code === 'NoSuchBucket'
}

export function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')
}

/** The reason an aborted signal carries, as an Error to throw. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  // A DOMException (AbortError, TimeoutError) is an Error, though not always of this realm's Error class.
  if (
    reason instanceof Error ||
    (typeof reason === 'object' && reason !== null && 'name' in reason && 'message' in reason)
  ) {
    return reason as Error
  }
  const error = new Error(typeof reason === 'string' ? reason : 'The operation was aborted')
  error.name = 'AbortError'
  return error
}
