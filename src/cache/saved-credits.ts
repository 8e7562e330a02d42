/**
 * What the cache's hits saved in credits: each earlier task's credits shared out evenly over the instances it ran,
 * times the hits it gave. Qarnot bills a task, not an instance, so an even share is an estimate; it is only given
 * when every task the hits came from answers with its credits (docs/cache.md, "What the summary says").
 */
import type { QarnotClient } from '../qarnot/client.js'
import { readCreditsOf } from '../task/cost.js'
import type { Clock } from '../task/clock.js'

/** The tasks the hits came from: how many hits each gave, and how many instances it ran (when its entries say). */
export interface CacheSource {
  readonly task: string
  readonly hits: number
  readonly taskInstances: number | undefined
}

/** More source tasks than this and the saving is not looked up: a summary line is not worth many requests. */
export const MAX_PRICED_SOURCES = 16

/** The credits the hits would have cost, or undefined when any source's share cannot be known. Pure. */
export function shareOfCredits(
  sources: readonly CacheSource[],
  creditsOf: ReadonlyMap<string, number>
): number | undefined {
  if (sources.length === 0) return undefined
  let total = 0
  for (const { task, hits, taskInstances } of sources) {
    const credits = creditsOf.get(task)
    if (credits === undefined || taskInstances === undefined || taskInstances < hits) return undefined
    total += (credits * hits) / taskInstances
  }
  return total
}

/** Reads each source task's credits (only those, in parallel, within the cost read's couple of seconds), shares them out. */
export async function savedCredits(
  client: QarnotClient,
  sources: readonly CacheSource[],
  clock: Clock,
  debug: (message: string) => void
): Promise<number | undefined> {
  if (sources.length === 0) return undefined
  if (sources.length > MAX_PRICED_SOURCES || sources.some(s => s.taskInstances === undefined)) {
    debug(
      `The credits the cache saved are not looked up (${sources.length} earlier tasks, or entries without a count).`
    )
    return undefined
  }
  const creditsOf = await readCreditsOf(
    client,
    sources.map(s => s.task),
    clock,
    debug
  )
  return shareOfCredits(sources, creditsOf)
}
