/**
 * "Re-run failed jobs" re-runs only the failed instances: deciding, from the tasks earlier attempts of this same
 * step made, which instances to compute again. Pure. The step is named across attempts by a tag (same run, job,
 * step and inputs; docs/rerun.md says why and what cannot be told apart), since the API documents finding tasks by
 * tag (`GET /tasks?tag=`, docs/qarnot-api.md §9).
 */
import { createHash } from 'node:crypto'
import { formatIds, formatRanges, idsToIntervals, intervalsContain, type IdInterval } from '../ranges.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import { plural } from '../words.js'
import { isFinalState } from './states.js'
import { decideVerdict, type InstanceResult } from './verdict.js'

export const STEP_TAG_PREFIX = 'gha-step-'
/** The tag of a step's tasks across runs (under max-credits: what earlier runs cost, docs/budget.md). */
export const SERIES_TAG_PREFIX = 'gha-series-'

/** Where the step stands in its run: what GitHub tells every step (GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT, ...). */
export interface StepPlace {
  readonly repository: string | undefined
  readonly workflow: string | undefined
  readonly runId: string | undefined
  readonly attempt: number
  readonly job: string | undefined
  /** The step's id, or the name the runner gives a step without one (stable across attempts). */
  readonly action: string | undefined
}

/**
 * The tag of this step across the attempts of its run, or undefined outside a workflow run. Matrix legs share the
 * job and step: the task's own description (`fingerprint`: command, instances, image, constants, labels...) tells
 * them apart; legs that describe the very same task cannot be told apart, and `planRerun` then runs everything.
 */
export function stepTag(place: StepPlace, fingerprint: unknown): string | undefined {
  if (!place.runId || !place.job) return undefined
  const identity = [place.repository, place.workflow, place.runId, place.job, place.action, fingerprint]
  return `${STEP_TAG_PREFIX}${createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 24)}`
}

/**
 * The tag of this step across runs: the same place and task description, any run. Under `max-credits` the tasks
 * carry it, so that a nightly run's estimate reads what the nights before cost. Undefined outside a workflow run.
 */
export function seriesTag(place: StepPlace, fingerprint: unknown): string | undefined {
  if (!place.job) return undefined
  const identity = [place.repository, place.workflow, place.job, place.action, fingerprint]
  return `${SERIES_TAG_PREFIX}${createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 24)}`
}

/** A task an earlier attempt of this step made. */
export interface EarlierTask {
  readonly uuid: string
  readonly attempt: number
  readonly document: TaskOutputWire
  /** The ids it ran. */
  readonly ids: IdInterval[]
}

/** Instances taken from an earlier task, as it reported them. */
export interface KeptResults {
  readonly task: EarlierTask
  readonly instances: InstanceResult[]
}

export type RerunPlan =
  /** Every instance is computed; `reason` says why when this is a re-run attempt. */
  | { readonly kind: 'all'; readonly reason: string | undefined }
  /** Only `rerun` is computed; the others come from earlier tasks. */
  | {
      readonly kind: 'some'
      readonly rerun: IdInterval[]
      readonly kept: KeptResults[]
      readonly warnings: string[]
    }
  /** Every instance already succeeded in earlier attempts: nothing to compute. */
  | { readonly kind: 'none'; readonly kept: KeptResults[]; readonly warnings: string[] }

/**
 * The label of a follow-up task that re-ran instances the platform failed (docs/infrastructure-retries.md): the
 * uuid of the task whose failures it re-ran, in the same attempt.
 */
export const RETRY_OF_LABEL = 'qarnot-action-retry-of'

/** How many follow-ups lead from the attempt's first task to this one: 0 for a task that is no follow-up. */
function followUpDepth(task: EarlierTask, earlier: readonly EarlierTask[], seen = new Set<string>()): number {
  const of = task.document.labels?.[RETRY_OF_LABEL]
  const origin = earlier.find(t => t.uuid === of && t.attempt === task.attempt)
  if (!origin || seen.has(task.uuid)) return 0
  seen.add(task.uuid)
  return 1 + followUpDepth(origin, earlier, seen)
}

/** Earlier attempts that made more than one task with this step's tag: two legs the action cannot tell apart. */
function ambiguousAttempts(earlier: readonly EarlierTask[]): number[] {
  const seen = new Map<number, number>()
  // A follow-up over the platform's failures is the same leg's, not another leg.
  for (const task of earlier.filter(t => followUpDepth(t, earlier) === 0))
    seen.set(task.attempt, (seen.get(task.attempt) ?? 0) + 1)
  return [...seen].filter(([, count]) => count > 1).map(([attempt]) => attempt)
}

export function planRerun(
  requested: readonly IdInterval[],
  earlier: readonly EarlierTask[],
  attempt: number
): RerunPlan {
  const depth = (task: EarlierTask): number => followUpDepth(task, earlier)
  // In an attempt, a follow-up comes after the task whose failures it re-ran.
  const before = earlier
    .filter(task => task.attempt < attempt)
    .sort((a, b) => a.attempt - b.attempt || depth(a) - depth(b))
  if (before.length === 0) {
    return {
      kind: 'all',
      reason: attempt > 1 ? 'no task of an earlier attempt of this step was found' : undefined
    }
  }
  const ambiguous = ambiguousAttempts(before)
  if (ambiguous.length > 0) {
    return {
      kind: 'all',
      reason: `attempt ${ambiguous.join(', ')} made several tasks with this step's tag (matrix legs with the same inputs cannot be told apart: give each a distinct label)`
    }
  }
  // Latest first: the latest attempt that ran an instance has its say.
  const verdicts = before
    .map(task => ({
      task,
      results: new Map(decideVerdict(task.document, task.ids).instances.map(i => [i.id, i]))
    }))
    .reverse()
  const keptByTask = new Map<EarlierTask, InstanceResult[]>()
  const rerun: number[] = []
  for (const { first, last } of requested) {
    for (let id = first; id <= last; id++) {
      const latest = verdicts.find(v => intervalsContain(v.task.ids, id))
      const result = latest?.results.get(id)
      if (!latest || result?.state !== 'Success') {
        rerun.push(id)
        continue
      }
      const list = keptByTask.get(latest.task)
      if (list) list.push(result)
      else keptByTask.set(latest.task, [result])
    }
  }
  // Oldest attempt first: results come back in this order, so a later attempt's files win.
  const kept = [...keptByTask]
    .map(([task, instances]) => ({ task, instances }))
    .sort((a, b) => a.task.attempt - b.task.attempt || depth(a.task) - depth(b.task))
  const warnings = before
    .filter(task => !isFinalState(task.document.state))
    .map(
      task =>
        `task ${task.uuid} of attempt ${task.attempt} is still ${task.document.state}; its unfinished instances are computed again`
    )
  if (rerun.length === 0) return { kind: 'none', kept, warnings }
  return { kind: 'some', rerun: idsToIntervals(rerun), kept, warnings }
}

/**
 * The longest range the action builds for a re-run on its own. Qarnot refuses a range past an unpublished length
 * (`range-length`, docs/qarnot-api.md §6): every other instance of 1,000 failing is about 2,000 characters.
 */
export const MAX_BUILT_RANGE_CHARS = 1024

/**
 * A re-run whose ids would form a longer range than the action sends (or than the user's own range, which Qarnot
 * took in the first attempt) computes everything instead, and says why.
 */
export function boundRerun(plan: RerunPlan, requestedRangeChars: number): RerunPlan {
  if (plan.kind !== 'some') return plan
  const length = formatRanges(plan.rerun).length
  const bound = Math.max(MAX_BUILT_RANGE_CHARS, requestedRangeChars)
  if (length <= bound) return plan
  const count = plan.rerun.reduce((sum, { first, last }) => sum + last - first + 1, 0)
  return {
    kind: 'all',
    reason: `the ${plural(count, 'instance')} that did not succeed before form a range of ${length} characters, longer than the ${bound} the action sends (Qarnot limits a range's length)`
  }
}

/** One sentence for the log and the summary: what is re-run and where the rest comes from. */
export function describePlan(plan: RerunPlan): string | undefined {
  if (plan.kind === 'all') return plan.reason ? `Every instance is computed: ${plan.reason}.` : undefined
  const sources = plan.kept.map(
    k => `${formatIds(k.instances.map(i => i.id))} from task ${k.task.uuid} (attempt ${k.task.attempt})`
  )
  if (plan.kind === 'none')
    return `Every instance succeeded in an earlier attempt: ${sources.join('; ')}. Nothing is computed again.`
  const count = plan.rerun.reduce((sum, { first, last }) => sum + last - first + 1, 0)
  return `Re-running ${plural(count, 'instance')} that did not succeed before (${formatRanges(plan.rerun)}); the others come from earlier attempts: ${sources.join('; ')}.`
}
