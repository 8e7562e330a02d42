/**
 * What came of the step, and how to say it: one pure function decides the outcome from how the step ended and
 * the verdict, one builds the title (summary, pull-request comment) and the headline (log, failure message).
 */
import { Outcome, type OutcomeValue } from '../constants.js'
import { formatDuration } from '../input-formats/duration.js'
import type { Verdict } from '../task/verdict.js'
import type { WatchEnding } from '../task/watch.js'
import { isFinalState } from '../task/states.js'
import { plural } from '../words.js'
import { failureMessage } from './failure-message.js'
import { credits, type BudgetFacts } from '../budget/cap.js'

/** How the step ended, as far as the outcome is concerned. */
export type StepEnding =
  /** `wait: false`: the task was created and left to run. */
  | { readonly kind: 'submitted' }
  /** No task was made: the create was refused, or failed for good. `message` explains it. */
  | { readonly kind: 'not-created'; readonly message: string; readonly overBudget?: boolean }
  /** The step was stopped, or its timeout passed, before the task was created (or while it was). */
  | { readonly kind: 'stopped-creating'; readonly timedOut?: boolean }
  /** A re-run attempt whose earlier attempts had already computed every instance well: nothing was created. */
  /** No task: every instance succeeded in an earlier attempt, or came from the cache (`cached` of them). */
  | { readonly kind: 'nothing-to-rerun'; readonly cached?: number }
  /** The task was followed until it ended, the step was stopped, the timeout expired, or it was lost. */
  | {
      readonly kind: 'followed'
      readonly ending: WatchEnding
      readonly leftRunning: boolean
      /** Why it could no longer be followed (`lost`). */
      readonly message?: string
    }

/**
 * `resultsMissing`: result files the task made that did not come back, counted only when `results-incomplete` is
 * `fail`: a step that would succeed fails with `results-incomplete` instead.
 */
export function decideOutcome(
  ending: StepEnding,
  verdict: Verdict | undefined,
  resultsMissing = 0
): OutcomeValue {
  const outcome = outcomeOfTask(ending, verdict)
  return outcome === Outcome.Success && resultsMissing > 0 ? Outcome.ResultsIncomplete : outcome
}

function outcomeOfTask(ending: StepEnding, verdict: Verdict | undefined): OutcomeValue {
  switch (ending.kind) {
    case 'submitted':
      return Outcome.Submitted
    case 'not-created':
      return ending.overBudget ? Outcome.OverBudget : Outcome.Failure
    case 'stopped-creating':
      return ending.timedOut ? Outcome.TimedOut : Outcome.Cancelled
    case 'nothing-to-rerun':
      return verdict?.passed === false ? Outcome.Failure : Outcome.Success
    case 'followed':
      if (ending.ending === 'handed-off') return Outcome.HandedOff
      if (ending.ending === 'stopped') return Outcome.Cancelled
      if (ending.ending === 'timeout') return Outcome.TimedOut
      // Every instance succeeded before the abort could stop one: the work is done (the notes say it passed the cap).
      if (ending.ending === 'over-budget') return verdict?.passed ? Outcome.Success : Outcome.OverBudget
      if (ending.ending === 'lost' || !verdict) return Outcome.Failure
      if (verdict.passed) return Outcome.Success
      return verdict.state === 'Cancelled' ? Outcome.Cancelled : Outcome.Failure
  }
}

export interface OutcomeFacts {
  readonly ending: StepEnding
  readonly outcome: OutcomeValue
  readonly verdict: Verdict | undefined
  readonly uuid: string | undefined
  readonly timeoutMs: number | undefined
  /** With the `results-incomplete` outcome: the results folder, and what did not come back. */
  readonly results?: { readonly directory: string; readonly missing: readonly string[] }
  /** With the `handed-off` outcome: after how long, and how the task will be collected (one sentence). */
  readonly handOff?: { readonly afterMs: number; readonly collection: string }
  /** Under `max-credits`: the cap and what was spent. */
  readonly budget?: BudgetFacts
}

export interface Wording {
  /** With its icon: the summary's heading and the pull-request comment's title. */
  readonly title: string
  /** One sentence: the log's last line, and the failure message. */
  readonly headline: string
}

function title(facts: OutcomeFacts): string {
  const { outcome, verdict, ending } = facts
  const total = verdict?.instances.length ?? 0
  switch (outcome) {
    case Outcome.Success:
      return `✅ Qarnot task succeeded: ${total}/${plural(total, 'instance')}`
    case Outcome.Submitted:
      return '📤 Qarnot task submitted'
    case Outcome.HandedOff:
      return `🔁 Qarnot task handed off, still running: ${verdict?.instances.filter(i => i.state === 'Success' || i.state === 'Failure').length ?? 0}/${plural(total, 'instance')} ended so far`
    case Outcome.ResultsIncomplete:
      return `❌ Qarnot task succeeded (${total}/${plural(total, 'instance')}), but not every result file came back`
    case Outcome.TimedOut:
      return ending.kind === 'stopped-creating'
        ? '⏱️ Timeout reached before the Qarnot task ran'
        : '⏱️ Qarnot task aborted after the timeout'
    case Outcome.OverBudget:
      return ending.kind === 'not-created'
        ? '💸 Qarnot task not started: over max-credits'
        : '💸 Qarnot task aborted: its credits passed max-credits'
    case Outcome.Cancelled:
      return ending.kind === 'followed' && ending.leftRunning
        ? '⛔ Step cancelled: the Qarnot task was left running'
        : '⛔ Qarnot task cancelled'
    default:
      if (ending.kind === 'not-created') return '❌ Qarnot task not created'
      if (ending.kind === 'followed' && ending.ending === 'lost')
        return '❌ Qarnot task could not be followed'
      return `❌ Qarnot task failed: ${verdict?.failedIds.length ?? 0} of ${plural(total, 'instance')} did not succeed`
  }
}

function headline(facts: OutcomeFacts): string {
  const { outcome, verdict, ending } = facts
  const label = facts.uuid ? `Qarnot task ${facts.uuid}` : 'The Qarnot task'
  const state = verdict?.state ?? 'Unknown'
  if (ending.kind === 'not-created') return ending.message
  if (ending.kind === 'submitted')
    return `${label} was submitted; wait is false, so this step does not follow it.`
  if (ending.kind === 'nothing-to-rerun' && ending.cached) {
    const total = verdict?.instances.length ?? 0
    const from =
      ending.cached === total
        ? 'came from the cache'
        : `came from the cache (${ending.cached}) or an earlier attempt of this step`
    return `Every instance ${from}: ${plural(total, 'instance')}, nothing computed.`
  }
  if (ending.kind === 'nothing-to-rerun') {
    return `Every instance succeeded in an earlier attempt of this step: ${plural(verdict?.instances.length ?? 0, 'instance')}, nothing computed again.`
  }
  if (ending.kind === 'stopped-creating' && ending.timedOut) {
    const made = facts.uuid ? `; ${label} was aborted` : '; no task was created'
    return `The timeout of ${formatDuration(facts.timeoutMs ?? 0)} passed before the task could be created${made}.`
  }
  if (ending.kind === 'stopped-creating') {
    return `The step was cancelled while creating the task${facts.uuid ? `; ${label} was aborted` : ''}.`
  }
  if (outcome === Outcome.HandedOff) {
    const after = formatDuration(facts.handOff?.afterMs ?? 0)
    return `${label} was handed off after ${after} (hand-off-after) and goes on running (state ${state}); ${facts.handOff?.collection ?? `a step with task: ${facts.uuid ?? ''} collects it`}`
  }
  if (ending.leftRunning) return `The step was cancelled; ${label} was left running (abort-on-cancel: false).`
  if (outcome === Outcome.Success)
    return `${label} succeeded: ${plural(verdict?.instances.length ?? 0, 'instance')}.`
  if (outcome === Outcome.ResultsIncomplete) return resultsHeadline(label, facts.results)
  if (outcome === Outcome.OverBudget) return budgetHeadline(label, state, facts.budget)
  if (outcome === Outcome.TimedOut) {
    return `${label} ${abortedOrAsked(state)} after the timeout of ${formatDuration(facts.timeoutMs ?? 0)} (state ${state}).`
  }
  if (ending.ending === 'stopped')
    return `The step was cancelled; ${label} ${abortedOrAsked(state)} (state ${state}).`
  if (ending.ending === 'lost')
    return `${label} could no longer be followed and ${abortedOrAsked(state)}: ${(ending.message ?? 'no answer').replace(/\.$/, '')}.`
  return verdict ? failureMessage(label, verdict) : `${label} ended in state ${state}.`
}

/** The task succeeded; what did not come back, the first named, the rest counted. */
function resultsHeadline(label: string, results: OutcomeFacts['results']): string {
  const missing = results?.missing ?? []
  const first = (missing[0] ?? 'some of them could not be brought back').replace(/\.$/, '')
  const more = missing.length > 1 ? ` (and ${plural(missing.length - 1, 'more problem')}: see the notes)` : ''
  return `${label} succeeded, but not every result file came back into ${results?.directory ?? 'the results folder'}: ${first}${more}. Set results-incomplete: warn to pass anyway.`
}

/** The task passed its cap: what it spent as far as read, the cap, and what became of it. */
function budgetHeadline(label: string, state: string, budget: BudgetFacts | undefined): string {
  const spent = budget?.spent !== undefined ? ` (${credits(budget.spent)})` : ''
  const cap = budget ? ` (${credits(budget.cap)})` : ''
  return `${label} ${abortedOrAsked(state)} when its credits${spent} passed max-credits${cap} (state ${state}).`
}

/** "was aborted" once the task was seen in a final state; until then only the abort is known to be asked for. */
function abortedOrAsked(state: string): string {
  return isFinalState(state) ? 'was aborted' : 'was asked to abort (the post step checks it again)'
}

export function describeOutcome(facts: OutcomeFacts): Wording {
  return { title: title(facts), headline: headline(facts) }
}
