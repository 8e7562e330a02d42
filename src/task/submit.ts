/**
 * Creating the task exactly once. The create carries a shortname unique to this step run, so when a retry of a
 * create whose answer was lost meets `shortname-uniqueness`, the task the first attempt made is adopted.
 */
import { QarnotApiError, QarnotRetriesExhaustedError, invalidFields } from '../qarnot/errors.js'
import type { QarnotClient } from '../qarnot/client.js'
import type { TaskCreateBody } from '../qarnot/types.js'

export interface Submission {
  readonly uuid: string
  /** True when the task was found by its shortname after a create whose answer was lost. */
  readonly adopted: boolean
}

function isShortnameClash(error: unknown): boolean {
  const apiError = error instanceof QarnotRetriesExhaustedError ? error.lastError : error
  return (
    apiError instanceof QarnotApiError &&
    apiError.status === 400 &&
    invalidFields(apiError.apiMessage).includes('shortname-uniqueness')
  )
}

export async function submitTask(client: QarnotClient, body: TaskCreateBody): Promise<Submission> {
  try {
    const { uuid } = await client.createTask(body)
    return { uuid, adopted: false }
  } catch (error) {
    if (body.shortname === undefined || !isShortnameClash(error)) throw error
    // The shortname is random per step run: only our own earlier attempt can hold it. Check the name to be sure.
    const existing = await client.getTask(body.shortname)
    if (existing.name !== undefined && existing.name !== null && existing.name !== body.name) throw error
    return { uuid: existing.uuid, adopted: true }
  }
}
