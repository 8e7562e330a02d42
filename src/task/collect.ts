/**
 * Reading every instance's complete output once the task has ended: one whole-output read per instance and
 * stream, a few at a time. Simple and exact; its cost grows with the instance count.
 */
import type { QarnotClient } from '../qarnot/client.js'
import { QarnotApiError } from '../qarnot/errors.js'
import type { InstanceOutput } from '../report/model.js'

export const COLLECT_CONCURRENCY = 8

export async function collectOutputs(
  client: Pick<QarnotClient, 'instanceOutput'>,
  uuid: string,
  ids: readonly number[],
  concurrency = COLLECT_CONCURRENCY
): Promise<Map<number, InstanceOutput>> {
  const outputs = new Map<number, InstanceOutput>()
  const read = async (id: number, stream: 'stdout' | 'stderr'): Promise<string> => {
    try {
      return await client.instanceOutput(uuid, stream, id)
    } catch (error) {
      // 404: an instance the server does not know (never started); it printed nothing.
      if (error instanceof QarnotApiError && error.status === 404) return ''
      throw error
    }
  }
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++]
      const [stdout, stderr] = await Promise.all([read(id, 'stdout'), read(id, 'stderr')])
      outputs.set(id, { stdout, stderr })
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker))
  return outputs
}
