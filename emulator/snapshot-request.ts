/**
 * `POST /tasks/{uuid}/snapshot/periodic` as the OpenAPI document describes it (schema PeriodicSnapshot): an
 * `interval` in seconds (0 stops the snapshots; the API may clamp it), and optional `whitelist`, `blacklist`,
 * `bucket` and `bucketPrefix` that override any given before; a null body keeps the filters given before.
 */
import type { ResultSpec } from './storage/instance.js'

export interface PeriodicSnapshotRequest {
  readonly intervalSec: number
  /** Fields the request names (absent: keep what was given before). */
  readonly whitelist?: string | null
  readonly blacklist?: string | null
  readonly bucket?: string | null
  readonly bucketPrefix?: string | null
}

export class SnapshotRequestError extends Error {}

const FIELDS = ['interval', 'whitelist', 'blacklist', 'bucket', 'bucketPrefix']

/** The request, or a SnapshotRequestError (a 400 "Invalid snapshot configuration"). */
export function parsePeriodicSnapshot(rawBody: string): PeriodicSnapshotRequest {
  let body: unknown
  try {
    body = rawBody.trim() === '' ? null : JSON.parse(rawBody)
  } catch {
    throw new SnapshotRequestError('Invalid snapshot configuration: the body is not valid JSON')
  }
  if (body === null) return { intervalSec: 0 }
  if (typeof body !== 'object' || Array.isArray(body))
    throw new SnapshotRequestError('Invalid snapshot configuration')
  const fields = body as Record<string, unknown>
  // additionalProperties: false
  const unknown = Object.keys(fields).find(key => !FIELDS.includes(key))
  if (unknown) throw new SnapshotRequestError(`Invalid snapshot configuration: unknown field ${unknown}`)
  const interval = fields.interval ?? 0
  if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 0 || interval > 2 ** 31 - 1)
    throw new SnapshotRequestError(
      'Invalid snapshot configuration: interval must be a whole number of seconds'
    )
  const request: Record<string, unknown> = { intervalSec: interval }
  for (const key of ['whitelist', 'blacklist', 'bucket', 'bucketPrefix']) {
    const value = fields[key]
    if (value === undefined) continue
    if (value !== null && typeof value !== 'string')
      throw new SnapshotRequestError(`Invalid snapshot configuration: ${key} must be a string`)
    request[key] = value
  }
  return request as unknown as PeriodicSnapshotRequest
}

/**
 * Where a snapshot goes and what it takes: the request's fields, else the task's snapshot fields, else its results
 * bucket and filters (an emulator choice: no source says what a snapshot takes when nothing is given).
 */
export function snapshotSpec(
  request: PeriodicSnapshotRequest,
  task: Readonly<Record<string, unknown>>,
  results: ResultSpec
): ResultSpec {
  const pick = (given: string | null | undefined, field: string, fallback: string | null | undefined) =>
    given !== undefined ? given : typeof task[field] === 'string' ? task[field] : (fallback ?? null)
  return {
    resultBucket: pick(request.bucket, 'snapshotBucket', results.resultBucket || results.resultsBucket),
    resultsBucketPrefix: pick(request.bucketPrefix, 'snapshotBucketPrefix', results.resultsBucketPrefix),
    resultsWhitelist: pick(request.whitelist, 'snapshotWhitelist', results.resultsWhitelist),
    resultsBlacklist: pick(request.blacklist, 'snapshotBlacklist', results.resultsBlacklist)
  }
}
