/**
 * The `max-credits` decisions, pure (docs/budget.md): the estimate before the create (instances × the median credits
 * per instance of this step's earlier tasks), whether to start, and when a running task has passed its cap.
 */
import { Input } from '../constants.js'
import { plural } from '../words.js'

/** What an earlier task of this step cost, and how many instances it ran. */
export interface EarlierCost {
  readonly uuid: string
  readonly credits: number
  readonly instances: number
}

/** What was known before the create. */
export interface BudgetEstimate {
  /** Instances this attempt computes. */
  readonly instances: number
  /** The median credits per instance of the earlier tasks, and how many tasks it comes from. */
  readonly perInstance?: number
  readonly fromTasks: number
  /** instances × perInstance; undefined when no earlier task has a known cost. */
  readonly credits?: number
  /** The account's credits left, when the API said. */
  readonly account?: number
  /** Why the account's credits are not known (the service answered 404, or an odd shape). */
  readonly accountUnknown?: string
}

/** What the summary says of the budget. */
export interface BudgetFacts {
  readonly cap: number
  /** The credits of this attempt's task: the last figure read (after the end when it could be). */
  readonly spent?: number
  readonly estimate?: BudgetEstimate
  /** The task was aborted for passing the cap, or not started for its estimate. */
  readonly over?: boolean
}

/** Three significant figures at most, never rounded to zero: `1234`, `12.3`, `0.0042`. */
export function credits(value: number): string {
  return value >= 100 ? value.toFixed(0) : value === 0 ? '0' : String(Number(value.toPrecision(3)))
}

/** The median credits per instance of earlier tasks that ran instances and have a cost; undefined when none. */
export function medianPerInstance(costs: readonly EarlierCost[]): number | undefined {
  const rates = costs
    .filter(c => c.instances > 0 && Number.isFinite(c.credits) && c.credits >= 0)
    .map(c => c.credits / c.instances)
    .sort((a, b) => a - b)
  if (rates.length === 0) return undefined
  const middle = Math.floor(rates.length / 2)
  return rates.length % 2 === 1 ? rates[middle] : (rates[middle - 1] + rates[middle]) / 2
}

export function makeEstimate(
  instances: number,
  costs: readonly EarlierCost[],
  account: { readonly credits?: number; readonly unknown?: string }
): BudgetEstimate {
  const perInstance = medianPerInstance(costs)
  const fromTasks = costs.filter(c => c.instances > 0).length
  return {
    instances,
    perInstance,
    fromTasks,
    credits: perInstance === undefined ? undefined : instances * perInstance,
    account: account.credits,
    accountUnknown: account.unknown
  }
}

/** `12.5 credits (5 instances × 2.5, the median per instance of 3 earlier tasks of this step)`. */
export function describeEstimate(estimate: BudgetEstimate): string {
  if (estimate.credits === undefined || estimate.perInstance === undefined)
    return 'unknown (no earlier task of this step with a known cost)'
  return `${credits(estimate.credits)} credits (${plural(estimate.instances, 'instance')} × ${credits(estimate.perInstance)}, the median per instance of ${plural(estimate.fromTasks, 'earlier task')} of this step)`
}

/** Why the step must not start, with the figures; undefined when it may. */
export function refuseToStart(cap: number, estimate: BudgetEstimate): string | undefined {
  const { credits: expected, account } = estimate
  if (expected !== undefined && expected > cap)
    return `The estimated cost, ${describeEstimate(estimate)}, is over ${Input.MaxCredits} (${credits(cap)}); no task was created. Raise ${Input.MaxCredits}, or compute fewer instances.`
  if (expected !== undefined && account !== undefined && expected > account)
    return `The Qarnot account has ${credits(account)} credits left, less than the estimated cost, ${describeEstimate(estimate)}; no task was created. Add credits on Tasq.`
  return undefined
}

/** What the log says when the step starts under a cap. */
export function startNote(cap: number, estimate: BudgetEstimate): string {
  const account =
    estimate.account !== undefined
      ? `; the account has ${credits(estimate.account)} credits left`
      : `; the account's credits are unknown (${estimate.accountUnknown ?? 'not read'})`
  return `${Input.MaxCredits}: ${credits(cap)}; estimated cost ${describeEstimate(estimate)}${account}. The task is aborted if its credits pass the cap.`
}

/** Why a running task is aborted, once its credits have passed the cap; undefined while they have not. */
export function passedCap(cap: number, spent: number | undefined): string | undefined {
  if (spent === undefined || !(spent > cap)) return undefined
  return `The task's credits (${credits(spent)}) passed ${Input.MaxCredits} (${credits(cap)})`
}

/** `spent 12.3 of cap 10 credits · estimate 8 credits (...)`: the summary's budget line. */
export function budgetLine(facts: BudgetFacts | undefined): string | undefined {
  if (!facts) return undefined
  const spent = facts.spent === undefined ? 'unknown' : credits(facts.spent)
  const over = facts.over === true || (facts.spent ?? 0) > facts.cap
  const parts = [`spent ${spent} of cap ${credits(facts.cap)} credits${over ? ' ⚠️ over budget' : ''}`]
  if (facts.estimate) parts.push(`estimate ${describeEstimate(facts.estimate)}`)
  if (facts.estimate?.account !== undefined)
    parts.push(`${credits(facts.estimate.account)} credits left in the account before the start`)
  return parts.join(' · ')
}

/** A task that ended over its cap without being stopped by it (its credits came too late): what the notes say. */
export function lateNote(facts: BudgetFacts | undefined, stopped: boolean): string | undefined {
  if (!facts || stopped || facts.spent === undefined || !(facts.spent > facts.cap)) return undefined
  return `The task spent ${credits(facts.spent)} credits, over ${Input.MaxCredits} (${credits(facts.cap)}): its credits could not be read in time to abort it (they are read at most every 30 s, and may lag).`
}
