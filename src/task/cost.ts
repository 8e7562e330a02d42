/**
 * After the end: what the task cost, in credits and carbon (docs/qarnot-api.md §9). These are extras: the figures
 * may lag the end (a 404 is tried again for a moment), a service may refuse an account (403), and none of it may
 * fail the step or hold it for more than a couple of seconds.
 */
import type { QarnotClient } from '../qarnot/client.js'
import { readCarbonFacts, readCredits, sumCarbonFacts, type CarbonFacts } from '../qarnot/cost.js'
import { QarnotApiError } from '../qarnot/errors.js'
import { NO_RETRY } from '../qarnot/retry.js'
import { errorMessage } from '../words.js'
import type { Clock } from './clock.js'

/** The whole look, both services and every task, ends within this. */
export const COST_BUDGET_MS = 2_000
const LAG_RETRY_MS = 400

export interface TaskCost {
  readonly credits?: number
  readonly carbon?: CarbonFacts
  /** The credits of each task whose figure was read (`max-credits` shows this attempt's own). */
  readonly perTask?: ReadonlyMap<string, number>
}

/** One figure of one task, read again while it answers 404 (not there yet) and time is left. */
async function readFigure<T>(
  read: () => Promise<unknown>,
  parse: (answer: unknown) => T | undefined,
  clock: Clock,
  deadline: number,
  signal: AbortSignal
): Promise<T | undefined> {
  for (;;) {
    try {
      return parse(await read())
    } catch (error) {
      const lagging = error instanceof QarnotApiError && error.status === 404
      if (!lagging || clock.now() + LAG_RETRY_MS >= deadline || signal.aborted) throw error
      await clock.sleep(LAG_RETRY_MS, signal)
    }
  }
}

/** One figure of each of `uuids`, within the cost read's budget; undefined for a task that did not give it. */
function readEach<T>(
  client: QarnotClient,
  uuids: readonly string[],
  figure: {
    what: string
    read: (quick: QarnotClient, uuid: string) => Promise<unknown>
    parse: (a: unknown) => T | undefined
  },
  clock: Clock,
  debug: (message: string) => void
): Promise<(T | undefined)[]> {
  const signal = AbortSignal.timeout(COST_BUDGET_MS)
  const quick = client.with({ timeoutMs: COST_BUDGET_MS, retry: NO_RETRY, signal })
  const deadline = clock.now() + COST_BUDGET_MS
  return Promise.all(
    uuids.map(uuid =>
      readFigure(() => figure.read(quick, uuid), figure.parse, clock, deadline, signal).catch(
        (error: unknown) => {
          debug(`The ${figure.what} of the task could not be read (${errorMessage(error)}); it is left out.`)
          return undefined
        }
      )
    )
  )
}

const CREDITS = {
  what: 'credits',
  read: (quick: QarnotClient, uuid: string) => quick.getTaskCredits(uuid),
  parse: readCredits
}
const CARBON = {
  what: 'carbon facts',
  read: (quick: QarnotClient, uuid: string) => quick.getTaskCarbonFacts(uuid),
  parse: readCarbonFacts
}

/** The credits of each of `uuids` that gave them (no carbon facts: for what the cache saved). */
export async function readCreditsOf(
  client: QarnotClient,
  uuids: readonly string[],
  clock: Clock,
  debug: (message: string) => void
): Promise<ReadonlyMap<string, number>> {
  const credits = await readEach(client, uuids, CREDITS, clock, debug)
  const perTask = new Map<string, number>()
  credits.forEach((figure, index) => figure !== undefined && perTask.set(uuids[index], figure))
  return perTask
}

/** The credits and carbon facts of `uuids`, added up; a figure any task lacks is left out, with a debug line. */
export async function readCost(
  client: QarnotClient,
  uuids: readonly string[],
  clock: Clock,
  debug: (message: string) => void
): Promise<TaskCost> {
  if (uuids.length === 0) return {}
  const [credits, carbon] = await Promise.all([
    readEach(client, uuids, CREDITS, clock, debug),
    readEach(client, uuids, CARBON, clock, debug)
  ])
  const whole = <T>(figures: (T | undefined)[]): T[] | undefined =>
    figures.every((f): f is T => f !== undefined) ? figures : undefined
  const perTask = new Map<string, number>()
  credits.forEach((figure, index) => figure !== undefined && perTask.set(uuids[index], figure))
  const carbonFacts = whole(carbon)
  return {
    credits: whole(credits)?.reduce((sum, value) => sum + value, 0),
    carbon: carbonFacts ? sumCarbonFacts(carbonFacts) : undefined,
    perTask
  }
}
