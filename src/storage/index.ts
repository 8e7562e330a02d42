/**
 * Qarnot storage for the action (docs/storage.md): the `resources` input staged as an immutable tree and handed
 * to the task as advancedResourceBuckets, the `results` folder filled from the task's results bucket, and a prune
 * that keeps the repository's storage bounded. Nothing here loads the AWS SDK: `createStore` does, on first use.
 */
export { checkStorage, createStore, ensureBucket, storageEndpoint } from './connect.js'
export { collectResults, deleteResultsBucket, planDownloads } from './collect.js'
export type { CollectOptions, CollectResult, RejectedKey } from './collect.js'
export { StorageInputError, StorageUnavailableError, StoreError } from './errors.js'
export type { StorageInput, StorageUnavailableReason } from './errors.js'
export {
  advancedResourceBucket,
  isValidBucketName,
  resourceBucketName,
  resultsBucketName,
  resultsBucketPrefix,
  treeHash
} from './layout.js'
export type { AdvancedResourceBucket, BucketNaming, TreeEntry } from './layout.js'
export { pruneResources } from './prune.js'
export type { PruneOptions, PruneReport } from './prune.js'
export { DEFAULT_PRUNE_RULES } from './prune-rules.js'
export type { PruneRules } from './prune-rules.js'
export {
  parseResourcePatterns,
  resolveResources,
  resolveResultsFolder,
  validateResultFilters
} from './resource-patterns.js'
export type { ResourceFile } from './resource-patterns.js'
export type { S3StoreOptions } from './s3.js'
export { stageResources } from './stage.js'
export type { StageOptions, StageResult, StageStats } from './stage.js'
export type { ObjectStore, StoreCounters } from './store.js'
