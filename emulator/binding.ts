/**
 * Reads a JSON body as Qarnot's ASP.NET server binds it: property names match ignoring case, so the C# SDK's
 * PascalCase bodies (`"Name"`, `"RetrySettings": {"MaxPerInstanceRetries": 2}`) mean what the camelCase ones do
 * (docs/qarnot-api.md §3 and §11). Names are rewritten to the documented spelling; the keys of maps (labels) are
 * data and stay as sent; unknown properties are kept as sent, and ignored, as the API ignores them.
 */

/** The shape of a body: an object's known properties, an array's items, or a leaf (values, maps). */
export type Shape = { readonly object: Readonly<Record<string, Shape>> } | { readonly array: Shape } | 'leaf'

const leaf = 'leaf' as const
const object = (fields: Record<string, Shape>): Shape => ({ object: fields })
const array = (item: Shape): Shape => ({ array: item })

const KEY_VALUE = object({ key: leaf, value: leaf })
const RETRY_SETTINGS = object({ maxTotalRetries: leaf, maxPerInstanceRetries: leaf })
const HARDWARE_CONSTRAINT = object({
  discriminator: leaf,
  coreCount: leaf,
  minimumMemoryMB: leaf,
  maximumMemoryMB: leaf,
  minimumMemoryGBCoreRatio: leaf,
  maximumMemoryGBCoreRatio: leaf,
  specificationKey: leaf,
  cpuModel: leaf
})
const RESOURCES_BUCKET = object({
  bucketName: leaf,
  filtering: object({ prefixFiltering: object({ prefix: leaf }) }),
  resourcesTransformation: object({ stripPrefix: object({ prefix: leaf }) }),
  cacheTTLSec: leaf
})
const COMMON: Record<string, Shape> = {
  name: leaf,
  shortname: leaf,
  profile: leaf,
  instanceCount: leaf,
  constants: array(KEY_VALUE),
  forcedConstants: array(
    object({ constantName: leaf, forcedValue: leaf, forceExportInEnvironment: leaf, access: leaf })
  ),
  hardwareConstraints: array(HARDWARE_CONSTRAINT),
  secretsAccessRights: object({
    bySecret: array(object({ key: leaf })),
    byPrefix: array(object({ prefix: leaf }))
  }),
  tags: leaf,
  labels: leaf,
  resourceBuckets: leaf,
  advancedResourceBuckets: array(RESOURCES_BUCKET),
  autoDeleteOnCompletion: leaf,
  completionTimeToLive: leaf,
  schedulingType: leaf,
  targetedReservedMachineKey: leaf,
  defaultResourcesCacheTTLSec: leaf,
  privileges: object({ exportApiAndStorageCredentialsInEnvironment: leaf })
}

/** `TaskCreationInput` of the OpenAPI document (docs/qarnot-api.md §3). */
export const TASK_CREATE_SHAPE = object({
  ...COMMON,
  poolUuid: leaf,
  jobUuid: leaf,
  maxRetriesPerInstance: leaf,
  advancedRanges: leaf,
  resultBucket: leaf,
  snapshotInterval: leaf,
  snapshotWhitelist: leaf,
  snapshotBlacklist: leaf,
  snapshotBucket: leaf,
  snapshotBucketPrefix: leaf,
  resultsWhitelist: leaf,
  resultsBlacklist: leaf,
  resultsBucket: leaf,
  resultsBucketPrefix: leaf,
  dependencies: object({ dependsOn: leaf }),
  waitForPoolResourcesSynchronization: leaf,
  uploadResultsOnCancellation: leaf,
  resultsCacheTTLSec: leaf,
  retrySettings: RETRY_SETTINGS
})

/** `PoolCreationInput` of the OpenAPI document (docs/qarnot-api.md §10). */
export const POOL_CREATE_SHAPE = object({
  ...COMMON,
  taskDefaultWaitForPoolResourcesSynchronization: leaf,
  defaultRetrySettings: RETRY_SETTINGS
})

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The value with the names `shape` knows spelt as documented, matched ignoring case. */
export function bindIgnoringCase(shape: Shape, value: unknown): unknown {
  if (shape === leaf) return value
  if ('array' in shape)
    return Array.isArray(value) ? value.map(item => bindIgnoringCase(shape.array, item)) : value
  if (!isRecord(value)) return value
  const known = new Map(Object.keys(shape.object).map(name => [name.toLowerCase(), name]))
  const bound: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    const name = known.get(key.toLowerCase())
    if (name === undefined) bound[key] = item
    // A documented spelling sent beside another spelling of the same name: the documented one wins.
    else if (key === name || !(name in value)) bound[name] = bindIgnoringCase(shape.object[name], item)
  }
  return bound
}
