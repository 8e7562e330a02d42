/**
 * Infrastructure failures are retried, command failures never (docs/infrastructure-retries.md): once the task has
 * ended, the instances the platform failed (failure-cause.ts) are run again by a follow-up task over exactly those
 * ids, at most `infrastructure-retries` times; the others are kept from the task that ran them, as a re-run of the
 * workflow keeps them (rerun.ts), so the report and the verdict cover the whole request.
 */
import { mkdtempSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { CacheState } from '../cache/lookup.js'
import { State } from '../constants.js'
import type { Settings, TaskSpec } from '../inputs/settings.js'
import { LIMITS } from '../inputs/task.js'
import type { QarnotClient } from '../qarnot/client.js'
import { readCreditsOf } from '../task/cost.js'
import { HURRIED_REQUEST_TIMEOUT_MS, HURRIED_RETRY } from '../qarnot/retry.js'
import { formatIds, formatRanges, idsToIntervals } from '../ranges.js'
import type { PlatformRetryFacts, PlatformRetryRound } from '../report/recovered.js'
import type { PreparedFiles } from '../storage/session.js'
import { failureCauses } from '../task/failure-cause.js'
import { MAX_BUILT_RANGE_CHARS, RETRY_OF_LABEL, type KeptResults, type RerunPlan } from '../task/rerun.js'
import { InstanceOutputFiles } from '../task/output-files.js'
import { startTask } from '../task/start.js'
import { decideVerdict } from '../task/verdict.js'
import { plural } from '../words.js'
import { boundedSignal, type StepContext } from './context.js'
import { followStep, type Happened } from './follow.js'
import type { Submitted } from './submit.js'

interface Round {
  readonly submitted: Submitted
  readonly happened: Happened
}

/** The ids the platform failed in the task the step followed to its end, with why; undefined when none can be. */
function platformFailed(
  settings: Settings,
  { happened }: Round,
  log: (m: string) => void
): Map<number, string> {
  const { ending, task, followed } = happened
  const failed = new Map<number, string>()
  if (!settings.task || ending.kind !== 'followed' || ending.ending !== 'final' || !task || !followed?.task)
    return failed
  const commands: number[] = []
  for (const [id, cause] of failureCauses(followed.task, task.requested)) {
    if (cause.cause === 'platform') failed.set(id, cause.reason)
    else commands.push(id)
  }
  if (commands.length > 0)
    log(
      `${plural(commands.length, 'instance')} (${formatIds(commands)}) failed, and the API does not say the platform failed ${commands.length > 1 ? 'them' : 'it'}: the command's failure, never re-run by infrastructure-retries.`
    )
  return failed
}

/**
 * Why the ids cannot be sent as a follow-up's range, or undefined: longer than the action builds (or than the user's
 * own range, which Qarnot took). Qarnot would refuse it (range-length), and a refused range is widened to every
 * instance (start.ts), which would re-run the command's failures too.
 */
export function followUpRangeProblem(ids: Iterable<number>, settings: Settings): string | undefined {
  const range = formatRanges(idsToIntervals(ids))
  const instances = settings.task?.instances
  const bound = Math.max(
    MAX_BUILT_RANGE_CHARS,
    instances?.kind === 'range' ? (instances.text ?? '').length : 0
  )
  return range.length > bound
    ? `their range is ${range.length} characters, longer than the ${bound} the action sends (Qarnot limits a range's length)`
    : undefined
}

/** Why no follow-up may be made now, or undefined. */
function whyNot(
  settings: Settings,
  failed: ReadonlyMap<number, string>,
  made: number,
  context: StepContext,
  spent: number
): string | undefined {
  if (made >= settings.infrastructureRetries)
    return `infrastructure-retries is ${settings.infrastructureRetries}${made > 0 ? ', and every retry was used' : ''}`
  if (context.stop.aborted) return 'the step was cancelled'
  if (boundedSignal(context).aborted) return "the step's timeout passed"
  // A follow-up handed off would be collected without the instances it keeps from the first task.
  if (settings.handOff)
    return 'hand-off-after is set, and a follow-up handed off would be collected without the instances kept from the first task'
  if (settings.maxCredits !== undefined && spent >= settings.maxCredits)
    return `max-credits (${settings.maxCredits}) is spent by the tasks so far`
  return followUpRangeProblem(failed.keys(), settings)
}

/**
 * After the step's task ended: re-runs what the platform failed, within the retries, the step's stop and its
 * timeout. Returns the last round's happenings (its verdict covering every instance) and what was retried.
 */
export async function retryPlatformFailures(
  settings: Settings,
  prepared: PreparedFiles | undefined,
  first: Round,
  client: QarnotClient,
  context: StepContext
): Promise<{ happened: Happened; retries: PlatformRetryFacts | undefined }> {
  const log = (message: string): void => context.io.info(message)
  const rounds: PlatformRetryRound[] = []
  let round = first
  let left: PlatformRetryFacts['left']
  // Under max-credits the tasks share the cap: each follow-up may spend what the ones before left of it.
  let spent = 0
  const notesOf: Happened[] = [first.happened]
  for (;;) {
    if (settings.maxCredits !== undefined) spent += await creditsOf(round, client, context)
    const failed = platformFailed(settings, round, log)
    if (failed.size === 0) break
    const fromTask = round.happened.task?.uuid ?? ''
    const why = whyNot(settings, failed, rounds.length, context, spent)
    if (why) {
      left = { fromTask, failed, why }
      break
    }
    log(
      `${plural(failed.size, 'instance')} (${formatIds(failed.keys())}) failed for a reason not their command's: re-running them in a follow-up task (retry ${rounds.length + 1} of ${settings.infrastructureRetries}).`
    )
    const capLeft = settings.maxCredits === undefined ? undefined : settings.maxCredits - spent
    const next = await followUp(
      { ...settings, maxCredits: capLeft },
      prepared,
      round,
      failed,
      rounds.length + 1,
      client,
      context
    )
    const { ending } = next.happened
    if (ending.kind === 'not-created') {
      // Nothing was made: the step reports the task it followed, and why its failures stay.
      left = { fromTask, failed, why: `the follow-up task could not be created (${ending.message})` }
      break
    }
    round = next
    notesOf.push(round.happened)
    rounds.push({ fromTask, failed, followUp: round.submitted.start?.task?.uuid })
    if (ending.kind !== 'followed') break
  }
  if (rounds.length === 0 && !left) return { happened: first.happened, retries: undefined }
  // The step's own plan (a re-run of the workflow) is what the report describes, not the follow-ups'; what each
  // task's round noted (the plan's warnings, the cache's look-up and what it stored) is said once.
  const kept = round.happened.kept && {
    ...round.happened.kept,
    notes: [...new Set(notesOf.flatMap(happened => happened.kept?.notes ?? []))]
  }
  return {
    happened: { ...round.happened, plan: first.submitted.plan, kept },
    retries: { limit: settings.infrastructureRetries, rounds, left }
  }
}

/** What a round's task cost, read after its end (the figure seen while it ran lags); else the last one seen. */
async function creditsOf(round: Round, client: QarnotClient, context: StepContext): Promise<number> {
  const seen = round.happened.followed?.credits?.spent ?? 0
  const uuid = round.happened.task?.uuid
  if (!uuid || context.stop.aborted) return seen
  const read = await readCreditsOf(client, [uuid], context.clock, message => context.io.debug(message))
  return Math.max(seen, read.get(uuid) ?? 0)
}

/** Follows the step's task, then re-runs what the platform failed in it (the step's one call). */
export async function followWithRetries(
  settings: Settings,
  prepared: PreparedFiles | undefined,
  submitted: Submitted,
  client: QarnotClient,
  context: StepContext
): Promise<{ happened: Happened; retries: PlatformRetryFacts | undefined }> {
  const happened = await followStep(settings, submitted, client, context)
  return retryPlatformFailures(settings, prepared, { submitted, happened }, client, context)
}

/** A shortname of its own for the follow-up (shortnames are unique per account). */
function followUpSpec(spec: TaskSpec, number: number, of: string): TaskSpec {
  const suffix = `-p${number}`
  const base = spec.shortname.slice(0, LIMITS.shortnameLength - suffix.length).replace(/-+$/, '')
  return { ...spec, shortname: `${base}${suffix}`, labels: { ...spec.labels, [RETRY_OF_LABEL]: of } }
}

/** Creates the follow-up over `failed` and follows it; the other instances of `round` are kept as they ended. */
async function followUp(
  settings: Settings,
  prepared: PreparedFiles | undefined,
  round: Round,
  failed: ReadonlyMap<number, string>,
  number: number,
  client: QarnotClient,
  context: StepContext
): Promise<Round> {
  const { io } = context
  const task = round.happened.task as NonNullable<Happened['task']>
  const document = round.happened.followed?.task as NonNullable<NonNullable<Happened['followed']>['task']>
  const keptHere = decideVerdict(document, task.requested).instances.filter(i => !failed.has(i.id))
  const before = round.submitted.plan.kind === 'some' ? round.submitted.plan.kept : []
  const earlier = { uuid: task.uuid, attempt: settings.rerun.attempt, document, ids: task.requested }
  const kept: KeptResults[] = [
    ...before,
    ...(keptHere.length > 0 ? [{ task: earlier, instances: keptHere }] : [])
  ]
  const only = idsToIntervals(failed.keys())
  const spec = followUpSpec(settings.task as TaskSpec, number, task.uuid)
  const ofFollowUp: Settings = { ...settings, task: spec, cache: undefined }
  // The ended task is no longer the post step's: the follow-up is, from before its create is sent.
  io.saveState(State.TaskEnded, 'false')
  io.saveState(State.TaskUuid, '')
  const stop = boundedSignal(context)
  const hurried = client.with({ timeoutMs: HURRIED_REQUEST_TIMEOUT_MS, retry: HURRIED_RETRY })
  const start = await startTask(
    ofFollowUp,
    {
      io,
      client,
      hurried,
      clock: context.clock,
      stop,
      only,
      env: context.env,
      registryFetch: context.registryFetch
    },
    prepared
  )
  const timedOut = !context.stop.aborted && stop.aborted
  if (start.stopped && timedOut) io.saveState(State.MustAbort, 'true')
  const cache = start.task && !start.stopped ? carriedCache(round) : undefined
  const widened = start.task?.widened
  const plan: RerunPlan = widened
    ? { kind: 'all', reason: widened }
    : { kind: 'some', rerun: only, kept, warnings: [] }
  const submitted: Submitted = {
    plan,
    start: cache ? { ...start, cache } : start,
    prepared,
    storage: start.storage,
    timedOut
  }
  return { submitted, happened: await followStep(ofFollowUp, submitted, client, context) }
}

/**
 * The cache as the follow-up carries it (its own look-up would find nothing new): the first task's hits, their
 * output copied from the round's files to be replayed into the follow-up's, and the count stored so far; the
 * follow-up's verified successes are stored like the first task's.
 */
function carriedCache({ submitted, happened }: Round): CacheState | undefined {
  const cache = submitted.start?.cache
  const files = happened.followed?.files ?? happened.files
  if (!cache || !files) return undefined
  const outputs = new InstanceOutputFiles(mkdtempSync(join(dirname(files.dir), 'cache-')))
  for (const id of cache.hits.keys())
    for (const stream of ['stdout', 'stderr'] as const) outputs.copyFrom(files, id, stream)
  return { ...cache, outputs, notes: [], storedEarlier: happened.cache?.storedCount ?? 0 }
}
