/** A task to create -> the body of `POST /tasks` (docs/qarnot-api.md §3). Pure. */
import type { TaskSpec } from '../inputs/settings.js'
import type { TaskCreateBody } from '../qarnot/types.js'
import { formatRanges, type IdInterval } from '../ranges.js'

/** `only`: the ids to run when a re-run computes only some of those asked for. */
export function buildCreateBody(spec: TaskSpec, only?: readonly IdInterval[]): TaskCreateBody {
  const body: TaskCreateBody = { name: spec.name, shortname: spec.shortname }
  if (spec.pool !== undefined) body.poolUuid = spec.pool
  else body.profile = spec.profile
  if (only) body.advancedRanges = formatRanges(only)
  else if (spec.instances.kind === 'count') body.instanceCount = spec.instances.count
  else body.advancedRanges = spec.instances.text
  if (spec.constants.length > 0) body.constants = spec.constants.map(({ key, value }) => ({ key, value }))
  if (spec.tags.length > 0) body.tags = [...spec.tags]
  if (Object.keys(spec.labels).length > 0) body.labels = { ...spec.labels }
  if (spec.hardware.length > 0) body.hardwareConstraints = [...spec.hardware]
  // Only the current field: the OpenAPI document says not to send the deprecated maxRetriesPerInstance with it.
  body.retrySettings = { maxTotalRetries: null, maxPerInstanceRetries: spec.maxRetriesPerInstance }
  if (spec.scheduling !== undefined) body.schedulingType = spec.scheduling
  if (spec.autoDelete) body.autoDeleteOnCompletion = true
  // With snapshots the user wants partial files: an aborted task uploads what its instances had (docs/long-runs.md).
  if (spec.uploadResultsOnCancellation) body.uploadResultsOnCancellation = true
  return body
}

/** The body as it may be logged: write-only secret constants shown as Qarnot shows them. */
export function redactCreateBody(body: TaskCreateBody, secretPrefix: string): TaskCreateBody {
  return {
    ...body,
    constants: body.constants?.map(c =>
      c.key.startsWith(secretPrefix) ? { key: c.key, value: '[SECRET]' } : c
    )
  }
}
