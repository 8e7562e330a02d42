/**
 * The account's storage quotas, as `GET /info` names them (Qarnot's OpenAPI UserOutput: `maxBucket`, `quotaBytes`,
 * `usedQuotaBytes`), and when storage is near them. Each figure is optional: an answer without it, or with
 * something that is not a non-negative number, leaves it unknown and the action as it was. Pure.
 */

export interface StorageQuota {
  /** Buckets the account may have (`maxBucket`). */
  readonly maxBuckets?: number
  /** Bytes the account may store (`quotaBytes`), and the bytes it stores now (`usedQuotaBytes`). */
  readonly quotaBytes?: number
  readonly usedBytes?: number
}

/** Near a quota: at most this share of it left, or at most NEAR_BUCKETS buckets. */
export const NEAR_QUOTA_SHARE = 0.2
export const NEAR_BUCKETS = 3

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined
}

export function readStorageQuota(info: unknown): StorageQuota {
  const record = (typeof info === 'object' && info !== null ? info : {}) as Record<string, unknown>
  const quota = {
    maxBuckets: count(record.maxBucket),
    quotaBytes: count(record.quotaBytes),
    usedBytes: count(record.usedQuotaBytes)
  }
  return Object.fromEntries(Object.entries(quota).filter(([, v]) => v !== undefined))
}

/** Why storage is near its quota (e.g. `48 of 50 buckets`), or undefined when it is not, or nothing is known. */
export function nearQuota(quota: StorageQuota | undefined, bucketCount: number): string | undefined {
  const reasons: string[] = []
  const { maxBuckets, quotaBytes, usedBytes } = quota ?? {}
  if (maxBuckets !== undefined && maxBuckets > 0) {
    const left = maxBuckets - bucketCount
    if (left <= Math.max(NEAR_BUCKETS, maxBuckets * NEAR_QUOTA_SHARE))
      reasons.push(`${bucketCount} of ${maxBuckets} buckets`)
  }
  if (quotaBytes !== undefined && quotaBytes > 0 && usedBytes !== undefined) {
    if (quotaBytes - usedBytes <= quotaBytes * NEAR_QUOTA_SHARE)
      reasons.push(`${Math.round((usedBytes / quotaBytes) * 100)}% of ${formatBytes(quotaBytes)}`)
  }
  return reasons.length > 0 ? reasons.join(', ') : undefined
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${Math.round(value * 10) / 10} ${units[unit]}`
}

/** S3 codes Ceph RGW gives when a bucket or an object would go beyond the account's quota. */
const QUOTA_CODES = new Set(['TooManyBuckets', 'QuotaExceeded'])

export function isQuotaRefusal(code: string | undefined): boolean {
  return code !== undefined && QUOTA_CODES.has(code)
}

/** What a refusal beyond a quota means and what to do about it (the refusal came before any task was created). */
export function explainQuotaRefusal(code: string): string {
  const what = code === 'TooManyBuckets' ? 'its number of buckets' : 'the bytes it may store'
  return (
    `Qarnot storage refused the resources: the account is at its storage quota (${what}, ${code}); no task was created. ` +
    `Delete buckets no longer needed (results buckets qa-out-… of failed steps, qa-keep-… ones kept by keep-results) ` +
    `on Tasq or with an S3 client, or ask Qarnot for a larger quota. Later runs prune old results buckets sooner when storage is near its quota.`
  )
}
