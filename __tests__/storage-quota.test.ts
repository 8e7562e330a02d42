import { describe, expect, it } from '@jest/globals'
import { isQuotaRefusal, nearQuota, readStorageQuota } from '../src/storage/quota.js'

describe('storage quotas from GET /info', () => {
  it('reads the OpenAPI names, and leaves unknown what is missing or not a count', () => {
    expect(readStorageQuota({ maxBucket: 100, quotaBytes: 10737418240, usedQuotaBytes: 42 })).toEqual({
      maxBuckets: 100,
      quotaBytes: 10737418240,
      usedBytes: 42
    })
    expect(readStorageQuota({ maxBucket: '5', quotaBytes: -1, usedQuotaBytes: null })).toEqual({})
    expect(readStorageQuota(null)).toEqual({})
  })

  it('is near a quota within 20% of it, or 3 buckets', () => {
    expect(nearQuota({ maxBuckets: 100 }, 79)).toBeUndefined()
    expect(nearQuota({ maxBuckets: 100 }, 80)).toBe('80 of 100 buckets')
    expect(nearQuota({ maxBuckets: 5 }, 1)).toBeUndefined()
    expect(nearQuota({ maxBuckets: 5 }, 2)).toBe('2 of 5 buckets')
    expect(nearQuota({ quotaBytes: 1024 ** 3, usedBytes: 0.9 * 1024 ** 3 }, 0)).toBe('90% of 1 GiB')
    expect(nearQuota({ quotaBytes: 1024 ** 3 }, 0)).toBeUndefined()
    expect(nearQuota(undefined, 1000)).toBeUndefined()
  })

  it('knows the codes Ceph RGW refuses with beyond a quota', () => {
    expect(isQuotaRefusal('TooManyBuckets')).toBe(true)
    expect(isQuotaRefusal('QuotaExceeded')).toBe(true)
    expect(isQuotaRefusal('AccessDenied')).toBe(false)
  })
})
