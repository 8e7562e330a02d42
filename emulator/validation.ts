/**
 * The create-body checks of `POST /tasks` and `POST /pools`, answering as the API does: a list of invalid field tags
 * for `Invalid task file. Invalid fields: a, b` (docs/qarnot-api.md §3). Bodies arrive with their property names
 * already bound (binding.ts). Only what the OpenAPI document or the SDKs show as refused is refused.
 */
import { isValidRange } from './ranges.js'

/** The longest advancedRanges taken by default (the API's limit is not published; `range-length` is its tag). */
export const RANGE_LENGTH_LIMIT = 2048
const SHORTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/
const CONSTANT_KEY = /^[A-Za-z0-9_.-]+$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const SCHEDULING = new Set(['flex', 'ondemand', 'reserved'])
/** A .NET TimeSpan as it is written: `[d.]hh:mm:ss[.fffffff]`. */
const TIME_SPAN = /^(\d+\.)?\d{1,2}:\d{2}:\d{2}(\.\d{1,7})?$/

const HARDWARE_FIELDS: Record<string, [string, 'number' | 'string'] | null> = {
  MinimumCoreHardwareConstraint: ['coreCount', 'number'],
  MaximumCoreHardwareConstraint: ['coreCount', 'number'],
  MinimumRamHardwareConstraint: ['minimumMemoryMB', 'number'],
  MaximumRamHardwareConstraint: ['maximumMemoryMB', 'number'],
  MinimumRamCoreRatioHardwareConstraint: ['minimumMemoryGBCoreRatio', 'number'],
  MaximumRamCoreRatioHardwareConstraint: ['maximumMemoryGBCoreRatio', 'number'],
  SpecificHardwareConstraint: ['specificationKey', 'string'],
  CpuModelHardwareConstraint: ['cpuModel', 'string'],
  GpuHardwareConstraint: null,
  NoGpuHardwareConstraint: null,
  SSDHardwareConstraint: null,
  NoSSDHardwareConstraint: null
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Checks shared by task and pool bodies, first: name and shortname. */
function invalidNames(body: Record<string, unknown>, invalid: string[]): void {
  const { name, shortname } = body
  if (typeof name !== 'string' || name.length === 0 || name.length >= 2048) invalid.push('name')
  if (
    shortname !== undefined &&
    shortname !== null &&
    (typeof shortname !== 'string' || !SHORTNAME.test(shortname))
  ) {
    invalid.push('shortname')
  }
}

/** Checks shared by task and pool bodies, then: constants, tags, labels, hardware, scheduling, time to live. */
function invalidCommonFields(body: Record<string, unknown>, invalid: string[]): void {
  const { constants, tags, labels } = body
  if (constants !== undefined && constants !== null) {
    const valid =
      Array.isArray(constants) &&
      constants.length <= 150 &&
      constants.every(
        c =>
          isObject(c) &&
          typeof c.key === 'string' &&
          CONSTANT_KEY.test(c.key) &&
          c.key.length <= 2048 &&
          typeof c.value === 'string' &&
          c.value.length <= 2048
      )
    if (!valid) invalid.push('constants')
  }
  if (tags !== undefined && tags !== null) {
    if (
      !Array.isArray(tags) ||
      tags.length >= 10 ||
      !tags.every(t => typeof t === 'string' && t.length < 512)
    ) {
      invalid.push('tags')
    }
  }
  if (labels !== undefined && labels !== null) {
    if (!isObject(labels) || !Object.values(labels).every(v => typeof v === 'string')) invalid.push('labels')
  }
  const hardware = body.hardwareConstraints
  if (hardware !== undefined && hardware !== null) {
    const valid =
      Array.isArray(hardware) &&
      hardware.every(h => {
        if (!isObject(h) || typeof h.discriminator !== 'string' || !(h.discriminator in HARDWARE_FIELDS))
          return false
        const field = HARDWARE_FIELDS[h.discriminator]
        return field === null || typeof h[field[0]] === field[1]
      })
    if (!valid) invalid.push('hardwareConstraints')
  }
  const scheduling = body.schedulingType
  if (scheduling !== undefined && scheduling !== null) {
    // Read ignoring case: the SDKs send "Flex", "OnDemand", "Reserved" where the schema lists lower-camel values.
    if (typeof scheduling !== 'string' || !SCHEDULING.has(scheduling.toLowerCase()))
      invalid.push('schedulingType')
  }
  const ttl = body.completionTimeToLive
  if (ttl !== undefined && ttl !== null) {
    if (typeof ttl !== 'string' || !TIME_SPAN.test(ttl)) invalid.push('completionTimeToLive')
  }
}

const isText = (v: unknown) => v === undefined || v === null || typeof v === 'string'
const isPrefixHolder = (v: unknown, field: string) =>
  v === undefined ||
  v === null ||
  (isObject(v) &&
    (v[field] === undefined || v[field] === null || (isObject(v[field]) && isText(v[field].prefix))))

/**
 * The storage fields (docs/qarnot-api.md §8): bucket names as strings, `advancedResourceBuckets` shaped as
 * `ResourcesBucket`, the results filters under 2048 characters (OpenAPI) and valid regular expressions once their
 * `${NAME}` are substituted (as JavaScript reads them: an emulator choice, .NET's engine may accept more).
 */
function invalidStorageFields(body: Record<string, unknown>, invalid: string[]): void {
  const { resourceBuckets, advancedResourceBuckets } = body
  if (resourceBuckets !== undefined && resourceBuckets !== null) {
    const valid =
      Array.isArray(resourceBuckets) && resourceBuckets.every(b => typeof b === 'string' && b.length > 0)
    if (!valid) invalid.push('resourceBuckets')
  }
  if (advancedResourceBuckets !== undefined && advancedResourceBuckets !== null) {
    const valid =
      Array.isArray(advancedResourceBuckets) &&
      advancedResourceBuckets.every(
        b =>
          isObject(b) &&
          typeof b.bucketName === 'string' &&
          b.bucketName.length > 0 &&
          isPrefixHolder(b.filtering, 'prefixFiltering') &&
          isPrefixHolder(b.resourcesTransformation, 'stripPrefix') &&
          retryCount(b.cacheTTLSec)
      )
    if (!valid) invalid.push('advancedResourceBuckets')
  }
  for (const field of ['resultBucket', 'resultsBucket', 'resultsBucketPrefix'])
    if (!isText(body[field])) invalid.push(field)
  for (const field of ['resultsWhitelist', 'resultsBlacklist']) {
    const value = body[field]
    if (value === undefined || value === null) continue
    if (typeof value !== 'string' || value.length >= 2048 || !compiles(value)) invalid.push(field)
  }
  const onCancel = body.uploadResultsOnCancellation
  if (onCancel !== undefined && onCancel !== null && typeof onCancel !== 'boolean')
    invalid.push('uploadResultsOnCancellation')
}

function compiles(filter: string): boolean {
  try {
    new RegExp(filter.replace(/\$\{[A-Za-z0-9_.-]+\}/g, '0'))
    return true
  } catch {
    return false
  }
}

const retryCount = (v: unknown) =>
  v === undefined || v === null || (Number.isInteger(v) && (v as number) >= 0)
const invalidRetrySettings = (retry: unknown) =>
  retry !== undefined &&
  retry !== null &&
  (!isObject(retry) || !retryCount(retry.maxTotalRetries) || !retryCount(retry.maxPerInstanceRetries))

/** Returns the invalid field tags of a task create body (empty when valid). Shortname uniqueness is the store's. */
export function invalidCreateFields(
  body: unknown,
  knownProfiles: readonly string[],
  maxRangeLength = RANGE_LENGTH_LIMIT
): string[] {
  if (!isObject(body)) return ['body']
  const invalid: string[] = []
  const { profile, poolUuid, instanceCount, advancedRanges } = body
  invalidNames(body, invalid)

  const hasPool = poolUuid !== undefined && poolUuid !== null
  if (hasPool && (typeof poolUuid !== 'string' || !UUID.test(poolUuid))) invalid.push('poolUuid')
  // "Should not be set if the task is using a pool" (TaskCreationInput.profile).
  if (hasPool && profile !== undefined && profile !== null) invalid.push('profile')
  if (!hasPool && (typeof profile !== 'string' || !knownProfiles.includes(profile))) invalid.push('profile')

  // One of them is required; advancedRanges overrides instanceCount when both come (TaskCreationInput), and the
  // C# SDK sends InstanceCount 0 beside its ranges.
  const hasCount = instanceCount !== undefined && instanceCount !== null && instanceCount !== 0
  const hasRanges = advancedRanges !== undefined && advancedRanges !== null && advancedRanges !== ''
  if (!hasCount && !hasRanges) invalid.push('instanceCount')
  if (hasCount && !hasRanges && (!Number.isInteger(instanceCount) || (instanceCount as number) < 1))
    invalid.push('instanceCount')
  if (hasRanges) {
    if (typeof advancedRanges !== 'string') invalid.push('advancedRanges')
    else if (advancedRanges.length > maxRangeLength) invalid.push('range-length')
    else if (!isValidRange(advancedRanges)) invalid.push('advancedRanges')
  }
  invalidCommonFields(body, invalid)
  // The deprecated maxRetriesPerInstance may come with retrySettings: the C# SDK sends both on every create, so the
  // API takes both (docs/qarnot-api.md §3); the emulator applies the stricter per-instance limit.
  if (invalidRetrySettings(body.retrySettings)) invalid.push('retrySettings')
  if (!retryCount(body.maxRetriesPerInstance)) invalid.push('maxRetriesPerInstance')
  invalidStorageFields(body, invalid)
  return [...new Set(invalid)]
}

/** Returns the invalid field tags of a pool create body (`PoolCreationInput`: name and profile required). */
export function invalidPoolFields(body: unknown, knownProfiles: readonly string[]): string[] {
  if (!isObject(body)) return ['body']
  const invalid: string[] = []
  invalidNames(body, invalid)
  if (typeof body.profile !== 'string' || !knownProfiles.includes(body.profile)) invalid.push('profile')
  const count = body.instanceCount
  if (count !== undefined && count !== null && (!Number.isInteger(count) || (count as number) < 1))
    invalid.push('instanceCount')
  invalidCommonFields(body, invalid)
  if (invalidRetrySettings(body.defaultRetrySettings)) invalid.push('defaultRetrySettings')
  return [...new Set(invalid)]
}
