/** Wire types of the Qarnot compute API (docs/qarnot-api.md §3 and §4). Fields the server may omit are optional. */

export interface KeyValueWire {
  key: string
  value: string
}

/** One hardware constraint of a create body, told apart by its `discriminator` (docs/qarnot-api.md §3). */
export type HardwareConstraintWire =
  | { discriminator: 'MinimumCoreHardwareConstraint'; coreCount: number }
  | { discriminator: 'MaximumCoreHardwareConstraint'; coreCount: number }
  | { discriminator: 'MinimumRamHardwareConstraint'; minimumMemoryMB: number }
  | { discriminator: 'MaximumRamHardwareConstraint'; maximumMemoryMB: number }
  | { discriminator: 'MinimumRamCoreRatioHardwareConstraint'; minimumMemoryGBCoreRatio: number }
  | { discriminator: 'MaximumRamCoreRatioHardwareConstraint'; maximumMemoryGBCoreRatio: number }
  | { discriminator: 'SpecificHardwareConstraint'; specificationKey: string }
  | { discriminator: 'GpuHardwareConstraint' }
  | { discriminator: 'NoGpuHardwareConstraint' }
  | { discriminator: 'SSDHardwareConstraint' }
  | { discriminator: 'NoSSDHardwareConstraint' }
  | { discriminator: 'CpuModelHardwareConstraint'; cpuModel: string }

export interface TaskCreateBody {
  name: string
  shortname?: string
  profile?: string
  poolUuid?: string
  instanceCount?: number
  advancedRanges?: string
  constants?: KeyValueWire[]
  tags?: string[]
  labels?: Record<string, string>
  hardwareConstraints?: HardwareConstraintWire[]
  retrySettings?: { maxTotalRetries: number | null; maxPerInstanceRetries: number | null }
  schedulingType?: 'Flex' | 'OnDemand' | 'Reserved'
  autoDeleteOnCompletion?: boolean
  completionTimeToLive?: string
  /** Storage (docs/qarnot-api.md §8): a tree of the workspace, and where results go. */
  advancedResourceBuckets?: AdvancedResourceBucketWire[]
  resultBucket?: string
  resultsWhitelist?: string
  resultsBlacklist?: string
  /** Results are uploaded when the task is cancelled (set with snapshot-interval, docs/long-runs.md). */
  uploadResultsOnCancellation?: boolean
}

export interface AdvancedResourceBucketWire {
  bucketName: string
  filtering?: { prefixFiltering?: { prefix: string } }
  resourcesTransformation?: { stripPrefix?: { prefix: string } }
  cacheTTLSec?: number
}

export interface ApiErrorWire {
  code?: string | null
  message?: string | null
  debug?: string | null
}

export interface CompletedInstanceWire {
  instanceId: number
  state?: string | null
  error?: ApiErrorWire | null
  wallTimeSec?: number | null
  execTimeSec?: number | null
  execTimeSecGHz?: number | null
  peakMemoryMB?: number | null
  cpuModel?: string | null
  coreCount?: number | null
  clockRatio?: number | null
  averageGHz?: number | null
  specificationKey?: string | null
  executionAttemptCount?: number | null
  results?: unknown
}

export interface RunningInstanceInfoWire {
  instanceId: number
  phase?: string | null
  progress?: number | null
  executionTimeSec?: number | null
  executionAttemptCount?: number | null
  [other: string]: unknown
}

export interface TaskStatusWire {
  succeededRange?: string | null
  executedRange?: string | null
  failedRange?: string | null
  cancelledRange?: string | null
  failedOnlyRange?: string | null
  startedOnceRange?: string | null
  executionTimeSec?: number | null
  wallTimeSec?: number | null
  downloadProgress?: number | null
  executionProgress?: number | null
  uploadProgress?: number | null
  runningInstancesInfo?: {
    perRunningInstanceInfo?: RunningInstanceInfoWire[] | null
    [other: string]: unknown
  } | null
  [other: string]: unknown
}

export interface TaskOutputWire {
  uuid: string
  name?: string | null
  shortname?: string | null
  profile?: string | null
  poolUuid?: string | null
  state: string
  previousState?: string | null
  instanceCount?: number | null
  advancedRanges?: string | null
  totalInstanceCount?: number | null
  runningInstanceCount?: number | null
  runningCoreCount?: number | null
  progress?: number | null
  executionTime?: string | null
  wallTime?: string | null
  creationDate?: string | null
  endDate?: string | null
  stateTransitionTime?: string | null
  errors?: ApiErrorWire[] | null
  completedInstances?: CompletedInstanceWire[] | null
  status?: TaskStatusWire | null
  constants?: KeyValueWire[] | null
  tags?: string[] | null
  labels?: Record<string, string> | null
  [other: string]: unknown
}
