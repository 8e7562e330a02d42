/**
 * Follow, then bring back: the task followed to its end (or its stop, timeout or loss), the output of instances a
 * re-run keeps from earlier attempts, the result files, and a prune of old storage while the task runs.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { logLine } from '../action-io.js'
import { State } from '../constants.js'
import { explainError } from '../errors-explained.js'
import { MAX_CREDITS_LABEL } from '../inputs/budget.js'
import type { Settings } from '../inputs/settings.js'
import type { QarnotClient } from '../qarnot/client.js'
import { verdictOf, type WhatHappened } from '../report/assemble.js'
import { bringResults, pruneStorage, type BroughtBack, type ResultsBucket } from '../storage/session.js'
import { bringKeptResults } from '../task/earlier.js'
import { followStartedTask, type FollowResult } from '../task/follow.js'
import { InstanceOutputFiles } from '../task/output-files.js'
import { afterTaskSignal, type StepContext } from './context.js'
import { handOff, type HandOffReport } from './hand-off.js'
import { USER_AGENT } from '../version.js'
import { askForSnapshots, partialResultsNote, snapshotBody } from '../task/snapshots.js'

/** After a cancel, with snapshots, result files still come for this long: the runner gives seconds, no more. */
export const RESULTS_AFTER_CANCEL_MS = 2_000
const afterCancel = (): AbortSignal => AbortSignal.timeout(RESULTS_AFTER_CANCEL_MS)
import type { Submitted } from './submit.js'
import type { StartedTask } from '../task/start.js'
import type { CacheState } from '../cache/lookup.js'
import { recordSuccesses } from '../cache/record.js'
import type { CacheEntry } from '../cache/entry.js'
import type { CacheSource } from '../cache/saved-credits.js'
import type { CacheFacts } from '../report/model.js'
import type { BudgetEstimate, BudgetFacts } from '../budget/cap.js'
import { decideVerdict, type InstanceResult } from '../task/verdict.js'

/** What happened, and the tasks that ended, whose cost is read. */
export type Happened = Omit<WhatHappened, 'elapsedMs' | 'cost'> & { readonly costed: string[] }

/**
 * The cap travels with the task (label MAX_CREDITS_LABEL): a step that follows a task made elsewhere (`task:`, a
 * collector after a hand-off) keeps the cap it was created with, unless it sets max-credits itself.
 */
function withTasksCap(settings: Settings, submitted: Submitted): Settings {
  if (settings.maxCredits !== undefined || !settings.followTask) return settings
  const cap = Number(submitted.start?.task?.initial?.labels?.[MAX_CREDITS_LABEL])
  return Number.isFinite(cap) && cap > 0 ? { ...settings, maxCredits: cap } : settings
}

export async function followStep(
  given: Settings,
  submitted: Submitted,
  client: QarnotClient,
  context: StepContext
): Promise<Happened> {
  const settings = withTasksCap(given, submitted)
  const { plan, start } = submitted
  try {
    if (start?.refusal !== undefined)
      return {
        ending: { kind: 'not-created', message: start.refusal, overBudget: start.overBudget },
        costed: [],
        budget: budgetFacts(settings, start.budget, { spent: 0, over: start.overBudget === true })
      }
    if (start?.stopped) {
      const ending = { kind: 'stopped-creating', timedOut: submitted.timedOut } as const
      return { ending, task: start.task, costed: [] }
    }
    if (start && !settings.wait) {
      context.io.saveState(State.TaskEnded, 'true') // the user's to watch: the post step leaves it alone
      return {
        ending: { kind: 'submitted' },
        task: start.task,
        plan,
        staged: start.staged?.stats,
        costed: []
      }
    }
    const happened = await followAndBringBack(settings, submitted, client, context)
    const { followed } = happened
    // No task of this attempt (every instance kept or cached): nothing was spent.
    const seen = { spent: followed ? followed.credits?.spent : 0, over: followed?.ending === 'over-budget' }
    return { ...happened, budget: budgetFacts(settings, start?.budget, seen) }
  } finally {
    submitted.storage?.close()
  }
}

async function followAndBringBack(
  settings: Settings,
  submitted: Submitted,
  client: QarnotClient,
  context: StepContext
): Promise<Happened> {
  const { io, clock, stop, env } = context
  const { plan, start } = submitted
  const task = start?.task
  const logs = join(env.RUNNER_TEMP || tmpdir(), 'qarnot-logs')
  mkdirSync(logs, { recursive: true })
  const logsDir = task ? join(logs, task.uuid) : mkdtempSync(join(logs, `attempt-${settings.rerun.attempt}-`))
  // Old storage is pruned while the task runs: it costs the step nothing.
  const signal = afterTaskSignal(context)
  const pruning = start?.storage && pruneStorage(start.storage, signal, logLine(io), earlierBuckets(plan))
  if (task && settings.snapshotIntervalMs !== undefined)
    await snapshotsFor(settings.snapshotIntervalMs, task, submitted, client, context)
  const followed = task
    ? await followStartedTask({
        settings,
        task,
        client,
        io,
        clock,
        stop,
        started: context.started ?? clock.now(),
        logsDir,
        ...readPacing(context)
      })
    : undefined
  const files = followed?.files ?? new InstanceOutputFiles(logsDir)
  // After the end, the timeout (and a short grace) still bounds what is brought back; after a cancel, with
  // snapshots, the seconds the runner still gives do (docs/long-runs.md).
  const bounded =
    stop.aborted && settings.snapshotIntervalMs !== undefined ? afterCancel() : afterTaskSignal(context)
  const cache = start?.cache
  const { kept, cached } = await keptAndCached(submitted, client.with({ signal: bounded }), files)
  const base = { plan, kept, files, staged: start?.staged?.stats }
  const nothingComputed = { kind: 'nothing-to-rerun', cached: cached.length } as const
  const results = await bringResultsBack(
    settings,
    submitted,
    { ...base, task, followed, ending: nothingComputed },
    bounded
  )
  await pruning
  const cacheFacts =
    cache &&
    (await cacheAfterTask(cache, cached, { submitted, task, followed, results, files }, kept.notes, context))
  if (!followed) return { ...base, results, ending: nothingComputed, costed: kept.uuids, cache: cacheFacts }
  const { ending, leftRunning, error } = followed
  const message = ending === 'lost' ? explainError(error, settings.apiUrl, 'follow') : undefined
  const costed = [...(followed.ended && task ? [task.uuid] : []), ...kept.uuids]
  const ended = { kind: 'followed', ending, leftRunning, message } as const
  const handedOff = await handOffIfDue(settings, task, followed, context)
  return { ...base, results, ending: ended, task, followed, costed, cache: cacheFacts, ...handedOff }
}

/** Handed off: the task runs on; continue-with dispatches the workflow that collects it. */
async function handOffIfDue(
  settings: Settings,
  task: StartedTask | undefined,
  followed: FollowResult,
  { io, env, stop }: StepContext
): Promise<{ handOff?: HandOffReport }> {
  if (followed.ending !== 'handed-off' || followed.ended || !task) return {}
  return { handOff: await handOff(settings, task.uuid, { io, env, stop, userAgent: USER_AGENT }) }
}

/** Periodic snapshots, asked for before following: with the task's own results bucket and filters. */
async function snapshotsFor(
  intervalMs: number,
  task: StartedTask,
  { start }: Submitted,
  client: QarnotClient,
  context: StepContext
): Promise<void> {
  const { io } = context
  const described = task.initial ?? start?.staged?.body
  const body = snapshotBody(intervalMs, described)
  await askForSnapshots(client.with({ signal: afterTaskSignal(context) }), task.uuid, body, {
    info: logLine(io),
    warning: message => io.warning(message)
  })
}

/** How long bad status reads are ridden out, and how often credits are read (tests shorten both). */
function readPacing({ badReadBudgetMs, creditsReadMs }: StepContext) {
  return { badReadBudgetMs, creditsReadMs }
}

/** What the summary says of `max-credits`, when it is set: the cap, the estimate, what was read of the spend. */
function budgetFacts(
  settings: Settings,
  estimate: BudgetEstimate | undefined,
  seen: { spent: number | undefined; over: boolean }
): BudgetFacts | undefined {
  if (settings.maxCredits === undefined) return undefined
  return { cap: settings.maxCredits, estimate, ...seen }
}

/** The instances not computed now: kept from earlier attempts (output read back), and cache hits (replayed). */
async function keptAndCached(submitted: Submitted, client: QarnotClient, files: InstanceOutputFiles) {
  const brought = await bringKeptResults(submitted.plan, client, files)
  const cache = submitted.start?.cache
  const cached = cache ? replayHits(cache, files) : []
  const kept = {
    instances: [...brought.instances, ...cached],
    uuids: brought.uuids,
    notes: [...(submitted.planNotes ?? []), ...(cache?.notes ?? []), ...brought.notes]
  }
  return { kept, cached }
}

/** Stores what this task computed and verified (never once the step was stopped); what the cache did. */
async function cacheAfterTask(
  cache: CacheState,
  cached: readonly InstanceResult[],
  done: {
    submitted: Submitted
    task: StartedTask | undefined
    followed: FollowResult | undefined
    results: BroughtBack | undefined
    files: InstanceOutputFiles
  },
  notes: string[],
  context: StepContext
): Promise<CacheFacts> {
  const { task, followed, results } = done
  const recorded =
    task && followed?.ended && !context.stop.aborted
      ? await recordSuccesses({
          state: cache,
          taskUuid: task.uuid,
          instances: decideVerdict(followed.task, task.requested).instances,
          files: done.files,
          outputNotes: followed.output.notes,
          results: results && {
            directory: results.directory,
            written: results.writtenBy?.get(ownResultsBucket(done.submitted) ?? '') ?? [],
            incomplete: results.incomplete
          },
          now: new Date(context.clock.now()),
          signal: afterTaskSignal(context)
        })
      : undefined
  if (recorded) notes.push(...recorded.notes)
  return describeCache(cache, cached, recorded?.stored ?? 0)
}

/** The cache hits' outputs moved into the step's output files; their results as the verdict takes them. */
function replayHits(cache: CacheState, files: InstanceOutputFiles): InstanceResult[] {
  const instances: InstanceResult[] = []
  for (const entry of [...cache.hits.values()].sort((a, b) => a.id - b.id)) {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (cache.outputs.size(entry.id, stream) > 0)
        files.replaceWith(entry.id, stream, cache.outputs.path(entry.id, stream))
    }
    instances.push({
      id: entry.id,
      state: 'Success',
      error: undefined,
      wallTimeSec: entry.wallTimeSec,
      execTimeSec: entry.execTimeSec,
      peakMemoryMB: entry.peakMemoryMB,
      attempts: undefined
    })
  }
  rmSync(cache.outputs.dir, { recursive: true, force: true })
  return instances
}

function describeCache(cache: CacheState, hits: readonly InstanceResult[], stored: number): CacheFacts {
  const entries = [...cache.hits.values()]
  return {
    mode: cache.settings.mode,
    hitIds: hits.map(i => i.id),
    sources: sourcesOf(entries),
    savedInstanceSec: entries.reduce((sum, e) => sum + (e.wallTimeSec ?? 0), 0),
    // Read after the end, with the cost (main.ts).
    savedCredits: undefined,
    image: cache.image,
    storedCount: (cache.storedEarlier ?? 0) + stored
  }
}

/** The tasks the hits came from, in the order first met; a task's count is known when all its entries agree. */
function sourcesOf(entries: readonly CacheEntry[]): CacheSource[] {
  const byTask = new Map<string, { hits: number; counts: Set<number | undefined> }>()
  for (const entry of entries) {
    const source = byTask.get(entry.task) ?? { hits: 0, counts: new Set() }
    source.hits += 1
    source.counts.add(entry.taskInstances)
    byTask.set(entry.task, source)
  }
  return [...byTask].map(([task, { hits, counts }]) => ({
    task,
    hits,
    taskInstances: counts.size === 1 ? [...counts][0] : undefined
  }))
}

/** The results buckets of the earlier tasks a re-run keeps instances from: prune must leave them. */
function earlierBuckets(plan: Submitted['plan']): Set<string> {
  const names = plan.kind === 'all' ? [] : plan.kept.map(k => k.task.document.resultBucket)
  return new Set(names.filter((name): name is string => typeof name === 'string' && name !== ''))
}

function ownResultsBucket({ start }: Submitted): string | undefined {
  const name = start?.staged?.body.resultBucket
  return typeof name === 'string' && name !== '' ? name : undefined
}

/**
 * The result files, when `results` is set: the earlier attempts' buckets first, oldest first (for the instances a
 * re-run keeps: from each, results in the per-instance layout come only for the instances kept from it), this
 * task's last, so that the latest files win. The buckets the action made go once the whole
 * request passed (unless kept); otherwise they stay for a re-run of the failed jobs, and prune removes them later
 * (docs/storage.md).
 */
async function bringResultsBack(
  settings: Settings,
  { start, prepared, plan, storage, storageNote }: Submitted,
  sofar: Omit<WhatHappened, 'elapsedMs'> & { followed?: FollowResult },
  stop: AbortSignal
): Promise<BroughtBack | undefined> {
  // A task that did not end has no results, unless snapshots brought some (partial: the note says whose).
  const unended = sofar.followed !== undefined && !sofar.followed.ended
  if (!prepared?.resultsDir || (unended && settings.snapshotIntervalMs === undefined)) return undefined
  if (!storage)
    return storageNote
      ? {
          directory: prepared.resultsDir,
          stats: undefined,
          notes: [storageNote],
          incomplete: true,
          missing: [storageNote]
        }
      : undefined
  const earlier: ResultsBucket[] = []
  for (const { task, instances } of plan.kind === 'all' ? [] : plan.kept) {
    const name = task.document.resultBucket
    const kept = new Set(instances.map(i => i.id))
    if (typeof name === 'string' && name !== '')
      earlier.push({ name, attempt: task.attempt, instances: kept })
  }
  const own = start?.staged?.body.resultBucket ?? sofar.followed?.task?.resultBucket
  const buckets = [...earlier, ...(typeof own === 'string' && own !== '' ? [{ name: own }] : [])]
  const verdict = verdictOf(sofar)
  const passed = verdict?.passed === true && !unended
  const brought = await bringResults(storage, buckets, prepared, passed && !settings.files?.keepResults, stop)
  const ending = sofar.followed?.ending
  const partial =
    settings.snapshotIntervalMs !== undefined &&
    (ending === 'timeout' || ending === 'stopped' || ending === 'handed-off')
      ? partialResultsNote(verdict, ending, sofar.followed?.task)
      : undefined
  return partial ? { ...brought, notes: [...brought.notes, partial] } : brought
}
