/** Settings -> the body of `POST /tasks` (qarnot-api.md section 3). Pure. */
import type { Settings } from '../inputs.js'
import type { TaskCreateBody } from '../qarnot/types.js'

export function buildCreateBody(settings: Settings): TaskCreateBody {
  const body: TaskCreateBody = { name: settings.name, shortname: settings.shortname }
  if (settings.pool !== undefined) body.poolUuid = settings.pool
  else body.profile = settings.profile
  if (settings.instances.kind === 'count') body.instanceCount = settings.instances.count
  else body.advancedRanges = settings.instances.text
  if (settings.constants.length > 0)
    body.constants = settings.constants.map(({ key, value }) => ({ key, value }))
  if (settings.tags.length > 0) body.tags = [...settings.tags]
  if (Object.keys(settings.labels).length > 0) body.labels = { ...settings.labels }
  if (settings.hardware.length > 0) body.hardwareConstraints = [...settings.hardware]
  // Only the current field: the API refuses the deprecated maxRetriesPerInstance alongside it.
  body.retrySettings = { maxTotalRetries: null, maxPerInstanceRetries: settings.maxRetriesPerInstance }
  if (settings.scheduling !== undefined) body.schedulingType = settings.scheduling
  if (settings.autoDelete) body.autoDeleteOnCompletion = true
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
