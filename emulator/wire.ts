/**
 * The emulator's own wire types of the Qarnot compute API, after the OpenAPI document (TaskCreationInput,
 * TaskOutput, CompletedInstanceOutput, QErrorPublic, KeyValue) and docs/qarnot-api.md §3-§4. Declared here, not
 * taken from the action's src/qarnot/types.ts: the emulator describes what the API sends, the action what it
 * expects, and a test is only worth something while the two are written apart.
 */

/** `KeyValue`: a constant of a task, pool or profile. */
export interface KeyValue {
  key: string
  value: string
}

/** `QErrorPublic`: a task-level or instance error. */
export interface QError {
  code?: string | null
  message?: string | null
  debug?: string | null
}

/** A hardware constraint of a create body, told apart by `discriminator` (HardwareConstraint). */
export interface HardwareConstraint {
  discriminator: string
  [field: string]: unknown
}

/** The fields of `TaskCreationInput` the emulator reads; the rest is kept as sent. */
export interface TaskCreationInput {
  name: string
  shortname?: string | null
  profile?: string | null
  poolUuid?: string | null
  instanceCount?: number | null
  advancedRanges?: string | null
  constants?: KeyValue[] | null
  tags?: string[] | null
  labels?: Record<string, string> | null
  hardwareConstraints?: HardwareConstraint[] | null
  retrySettings?: { maxTotalRetries?: number | null; maxPerInstanceRetries?: number | null } | null
  schedulingType?: string | null
  autoDeleteOnCompletion?: boolean | null
  completionTimeToLive?: string | null
}

/** `CompletedInstanceOutput`. */
export interface CompletedInstance {
  instanceId: number
  state: string | null
  error: QError | null
  wallTimeSec: number | null
  execTimeSec: number | null
  execTimeSecGHz: number | null
  peakMemoryMB: number | null
  cpuModel: string | null
  coreCount: number | null
  clockRatio: number | null
  averageGHz: number | null
  specificationKey: string | null
  executionAttemptCount: number | null
  results: unknown
}

/** `TaskOutput` as the emulator answers it: the fields it may rewrite by name, and every other one. */
export interface TaskOutput {
  uuid: string
  state: string
  instanceCount?: number | null
  advancedRanges?: string | null
  totalInstanceCount?: number | null
  errors?: QError[] | null
  completedInstances?: CompletedInstance[] | null
  status?: Record<string, unknown> | null
  constants?: KeyValue[] | null
  tags?: string[] | null
  [field: string]: unknown
}
