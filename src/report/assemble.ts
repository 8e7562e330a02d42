/** What happened -> the step's report: the verdict, the outcome and their wording, and what to show. Pure. */
import type { Settings } from '../inputs/settings.js'
import type { FollowResult } from '../task/follow.js'
import { taskUrl, type StartedTask } from '../task/start.js'
import type { BroughtBack } from '../storage/session.js'
import type { StageStats } from '../storage/stage.js'
import type { TaskCost } from '../task/cost.js'
import type { InstanceOutputFiles } from '../task/output-files.js'
import { describePlan, type RerunPlan } from '../task/rerun.js'
import {
  decideVerdict,
  describeUnexpected,
  mergeVerdicts,
  type InstanceResult,
  type Verdict
} from '../task/verdict.js'
import { plural } from '../words.js'
import { NO_OUTPUT, type CacheFacts, type RerunFacts, type StepReport } from './model.js'
import { describePlatformRetries, type PlatformRetryFacts } from './recovered.js'
import { decideOutcome, describeOutcome, type StepEnding } from './outcome.js'
import type { HandOffReport } from '../step/hand-off.js'
import { lateNote, type BudgetFacts } from '../budget/cap.js'
import { Outcome } from '../constants.js'

export interface WhatHappened {
  readonly ending: StepEnding
  readonly task?: StartedTask
  readonly followed?: FollowResult
  /** On a re-run that computed only what failed: what it planned, and the instances kept from earlier attempts. */
  readonly plan?: RerunPlan
  readonly kept?: { readonly instances: InstanceResult[]; readonly notes: string[] }
  readonly cost?: TaskCost
  /** Files staged for the task, and result files brought back. */
  readonly staged?: StageStats
  readonly results?: BroughtBack
  /** Where the output files are when no task of this attempt wrote any (a re-run with nothing to compute). */
  readonly files?: InstanceOutputFiles
  /** What the cache did, when it was on. */
  readonly cache?: CacheFacts
  /** The task was handed off (hand-off-after): how it will be collected. */
  readonly handOff?: HandOffReport
  readonly elapsedMs: number
  /** Instances the platform failed, and the follow-up tasks that ran them again (docs/infrastructure-retries.md). */
  readonly platformRetries?: PlatformRetryFacts
  /** Under `max-credits`: the cap, the estimate and what was read of the spend. */
  readonly budget?: BudgetFacts
}

/** The verdict over the whole request: this attempt's task, and what a re-run kept from earlier ones. */
export function verdictOf({
  task,
  followed,
  kept
}: Pick<WhatHappened, 'task' | 'followed' | 'kept'>): Verdict | undefined {
  const computed = followed && task ? decideVerdict(followed.task, task.requested) : undefined
  return kept && kept.instances.length > 0 ? mergeVerdicts(computed, kept.instances) : computed
}

export function assembleReport(settings: Settings, happened: WhatHappened): StepReport {
  const { ending, task, followed, elapsedMs } = happened
  const verdict = verdictOf(happened)
  const files = followed?.files ?? happened.files
  const planned = happened.plan ? describePlan(happened.plan) : undefined
  const missing = settings.files?.resultsIncomplete === 'warn' ? [] : (happened.results?.missing ?? [])
  const outcome = decideOutcome(ending, verdict, missing.length)
  const budget = finalBudget(happened)
  const wording = describeOutcome({
    ending,
    outcome,
    verdict,
    uuid: task?.uuid,
    timeoutMs: settings.timeoutMs,
    results: { directory: settings.files?.results ?? '', missing },
    handOff: happened.handOff,
    budget
  })
  const unexpected = verdict ? describeUnexpected(verdict) : ''
  const empty = noResultsNote(happened, verdict, settings)
  return {
    outcome,
    ...wording,
    task: task
      ? { uuid: task.uuid, url: taskUrl(task.uuid), name: task.name || settings.task?.name || '' }
      : undefined,
    state:
      followed?.task?.state ?? (ending.kind === 'submitted' ? 'Submitted' : (verdict?.state ?? 'Unknown')),
    verdict,
    keptIds: happened.kept?.instances.map(instance => instance.id),
    requestedCount: settings.task?.instances.count,
    outputs: files ?? NO_OUTPUT,
    logsDir: files?.dir,
    resultsDir: happened.results?.stats ? happened.results.directory : undefined,
    elapsedMs,
    notes: [
      ...(planned ? [planned] : []),
      ...(happened.platformRetries ? describePlatformRetries(happened.platformRetries, verdict) : []),
      ...(happened.kept?.notes ?? []),
      ...(happened.results?.notes ?? []),
      ...(empty ? [empty] : []),
      ...(followed?.output.notes ?? []),
      ...(unexpected ? [unexpected] : []),
      ...[lateNote(budget, outcome === Outcome.OverBudget)].filter(
        (note): note is string => note !== undefined
      )
    ],
    cost: happened.cost,
    files: filesOf(happened, settings, empty),
    timeline: followed?.timeline,
    ...(happened.cache && { cache: happened.cache }),
    ...(happened.handOff && {
      handOff: { collection: happened.handOff.collection, failed: happened.handOff.failed }
    }),
    ...(budget && { budget }),
    ...(happened.plan && happened.plan.kind !== 'all' && { rerun: rerunFacts(happened.plan) })
  }
}

/** What a re-run computed again, and where the rest was kept from. */
function rerunFacts(plan: Exclude<RerunPlan, { kind: 'all' }>): RerunFacts {
  const rerunIds: number[] = []
  if (plan.kind === 'some')
    for (const { first, last } of plan.rerun) for (let id = first; id <= last; id++) rerunIds.push(id)
  return {
    rerunIds,
    kept: plan.kept
      .filter(k => k.instances.length > 0)
      .map(k => ({ uuid: k.task.uuid, attempt: k.task.attempt, ids: k.instances.map(i => i.id) }))
  }
}

/** The budget as the summary shows it: this attempt's task's credits as read after the end, else the last seen. */
function finalBudget({ budget, cost, task }: WhatHappened): BudgetFacts | undefined {
  if (!budget) return undefined
  const read = task ? cost?.perTask?.get(task.uuid) : undefined
  return read === undefined ? budget : { ...budget, spent: Math.max(read, budget.spent ?? 0) }
}

/**
 * When `results` is set and instances succeeded but not one file came back: most likely the filter did not match
 * (Qarnot does not document what resultsWhitelist is tested on), or the command wrote elsewhere.
 */
function noResultsNote(
  happened: WhatHappened,
  verdict: Verdict | undefined,
  settings: Settings
): string | undefined {
  const { results } = happened
  const folder = settings.files?.results
  // Instances from the cache had their files placed before the task: they are not what came back.
  const cached = new Set(happened.cache?.hitIds ?? [])
  const succeeded = verdict?.instances.filter(i => i.state === 'Success' && !cached.has(i.id)).length ?? 0
  if (!folder || !results?.stats || results.stats.files > 0 || results.incomplete || succeeded === 0)
    return undefined
  const filter = settings.files?.resultsWhitelist
    ? `results-include (${JSON.stringify(settings.files.resultsWhitelist)})`
    : 'the results filter the action sets'
  return `No result file came back into ${folder}, though ${plural(succeeded, 'instance')} succeeded. Likely causes: the command wrote nothing under ${folder}/ in its working directory ($TASK_PATH), or ${filter} did not match the paths Qarnot tests it on (Qarnot does not document them: relative to $TASK_PATH, or absolute).`
}

function filesOf(
  { staged, results }: WhatHappened,
  settings: Settings,
  empty: string | undefined
): StepReport['files'] {
  if (!staged && !results) return undefined
  const directory = settings.files?.results
  return {
    staged: staged && {
      files: staged.files,
      bytes: staged.bytes,
      bytesSent: staged.bytesSent,
      ms: staged.ms
    },
    results:
      results && directory !== undefined
        ? {
            directory,
            files: results.stats?.files ?? 0,
            bytes: results.stats?.bytes ?? 0,
            ms: results.stats?.ms ?? 0,
            incomplete: results.incomplete,
            ...(empty && { empty })
          }
        : undefined
  }
}
