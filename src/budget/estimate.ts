/**
 * Before the create, under `max-credits`: what this attempt may cost, from the credits of this step's earlier tasks
 * (found by its tag, as a re-run finds them) and the account's credits left (docs/budget.md). Extras: every read is
 * quick and bounded, and what cannot be read leaves the figure unknown, never the step failed.
 */
import type { Settings } from '../inputs/settings.js'
import type { QarnotClient } from '../qarnot/client.js'
import { readCredits } from '../qarnot/cost.js'
import { NO_RETRY } from '../qarnot/retry.js'
import { countIds } from '../ranges.js'
import { carriesTag, findEarlierTasks, readUnlessGone } from '../task/earlier.js'
import type { EarlierTask } from '../task/rerun.js'
import { isFinalState } from '../task/states.js'
import { taskIntervals } from '../task/verdict.js'
import { errorMessage } from '../words.js'
import { makeEstimate, refuseToStart, startNote, type BudgetEstimate, type EarlierCost } from './cap.js'

/** The whole estimate (list, reads, account) ends within this. */
export const ESTIMATE_BUDGET_MS = 5_000
/** The most recent earlier tasks whose credits are read. */
export const ESTIMATE_TASKS = 10

export interface EstimateContext {
  readonly client: QarnotClient
  readonly settings: Settings
  /** The earlier tasks the re-run plan already found, if it looked (so they are not listed twice). */
  readonly earlier?: readonly EarlierTask[]
  readonly debug: (message: string) => void
  /** The step's stop and timeout. */
  readonly signal: AbortSignal
}

/** The estimate for `instances` to compute. */
export async function estimateCost(instances: number, context: EstimateContext): Promise<BudgetEstimate> {
  const signal = AbortSignal.any([context.signal, AbortSignal.timeout(ESTIMATE_BUDGET_MS)])
  const quick = context.client.with({ timeoutMs: ESTIMATE_BUDGET_MS, retry: NO_RETRY, signal })
  const [costs, account] = await Promise.all([
    earlierCosts(quick, context),
    accountCredits(quick, context.debug)
  ])
  return makeEstimate(instances, costs, account)
}

async function earlierCosts(client: QarnotClient, context: EstimateContext): Promise<EarlierCost[]> {
  const { settings, debug } = context
  const tag = settings.rerun.stepTag
  try {
    let earlier = context.earlier
    if (!earlier && tag && settings.rerun.attempt > 1) {
      const found = await findEarlierTasks(client, tag, settings.rerun.attempt)
      earlier = 'tasks' in found ? found.tasks : []
    }
    let ended = (earlier ?? [])
      .filter(task => isFinalState(task.document.state))
      .sort((a, b) => b.attempt - a.attempt)
      .slice(0, ESTIMATE_TASKS)
    // A first attempt (a nightly run, a push) reads what the step cost in earlier runs.
    if (ended.length === 0 && settings.seriesTag) ended = await earlierRuns(client, settings.seriesTag)
    const costs = await Promise.all(ended.map(task => costOf(client, task, debug)))
    return costs.filter((cost): cost is EarlierCost => cost !== undefined)
  } catch (error) {
    debug(`The earlier tasks of this step could not be listed for the estimate (${errorMessage(error)}).`)
    return []
  }
}

/**
 * The most recent tasks of earlier runs of this step that ended, each read whole (a list entry is only a pointer:
 * it may lack ranges and state). Newest first by creation date; at most ESTIMATE_TASKS are read.
 */
async function earlierRuns(client: QarnotClient, tag: string): Promise<EarlierTask[]> {
  const listed = (await client.listTasksWithTag(tag)).filter(entry => carriesTag(entry, tag))
  const created = (entry: { creationDate?: string | null }) => Date.parse(entry.creationDate ?? '') || 0
  const newest = [...new Map(listed.map(entry => [entry.uuid, entry])).values()]
    .sort((a, b) => created(b) - created(a))
    .slice(0, ESTIMATE_TASKS)
  const documents = await Promise.all(
    newest.map(entry => readUnlessGone(client, entry.uuid).catch(() => undefined))
  )
  return documents.flatMap(document =>
    document && isFinalState(document.state) && carriesTag(document, tag)
      ? [{ uuid: document.uuid, attempt: 0, document, ids: taskIntervals(document) }]
      : []
  )
}

async function costOf(
  client: QarnotClient,
  task: EarlierTask,
  debug: (message: string) => void
): Promise<EarlierCost | undefined> {
  try {
    const credits = readCredits(await client.getTaskCredits(task.uuid))
    if (credits === undefined) debug(`The credits of earlier task ${task.uuid} are unreadable; left out.`)
    return credits === undefined ? undefined : { uuid: task.uuid, credits, instances: countIds(task.ids) }
  } catch (error) {
    debug(`The credits of earlier task ${task.uuid} could not be read (${errorMessage(error)}); left out.`)
    return undefined
  }
}

/** The account's credits left, or why they are unknown: the service is not documented in the OpenAPI document. */
async function accountCredits(
  client: QarnotClient,
  debug: (message: string) => void
): Promise<{ credits?: number; unknown?: string }> {
  try {
    const answer = await client.getAccountCredits()
    const credits = readCredits(answer)
    if (credits !== undefined) return { credits }
    debug(`The account's credits answer has no readable number: ${JSON.stringify(answer)?.slice(0, 200)}.`)
    return { unknown: 'the answer has no readable number of credits' }
  } catch (error) {
    debug(`The account's credits could not be read (${errorMessage(error)}).`)
    return { unknown: `not read: ${errorMessage(error)}` }
  }
}

/** The estimate, and why the step must not start under `cap` (with the figures), or the note it starts with. */
export async function checkBeforeStart(
  cap: number,
  instances: number,
  context: EstimateContext & { readonly log: (message: string) => void }
): Promise<{ readonly estimate: BudgetEstimate; readonly refusal?: string }> {
  const estimate = await estimateCost(instances, context)
  const refusal = refuseToStart(cap, estimate)
  if (!refusal) context.log(startNote(cap, estimate))
  return { estimate, refusal }
}
