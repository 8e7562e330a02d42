/**
 * Follow, then bring back: the task followed to its end (or its stop, timeout or loss), the output of instances a
 * re-run keeps from earlier attempts, the result files, and a prune of old storage while the task runs.
 */
import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { logLine } from '../action-io.js'
import { State } from '../constants.js'
import { explainError } from '../errors-explained.js'
import type { Settings } from '../inputs/settings.js'
import type { QarnotClient } from '../qarnot/client.js'
import { verdictOf, type WhatHappened } from '../report/assemble.js'
import { bringResults, pruneStorage, type BroughtBack, type ResultsBucket } from '../storage/session.js'
import { bringKeptResults } from '../task/earlier.js'
import { followStartedTask, type FollowResult } from '../task/follow.js'
import { InstanceOutputFiles } from '../task/output-files.js'
import { afterTaskSignal, type StepContext } from './context.js'
import type { Submitted } from './submit.js'

/** What happened, and the tasks that ended, whose cost is read. */
export type Happened = Omit<WhatHappened, 'elapsedMs' | 'cost'> & { readonly costed: string[] }

export async function followStep(
  settings: Settings,
  submitted: Submitted,
  client: QarnotClient,
  context: StepContext
): Promise<Happened> {
  const { plan, start } = submitted
  try {
    if (start?.refusal !== undefined)
      return { ending: { kind: 'not-created', message: start.refusal }, costed: [] }
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
    return await followAndBringBack(settings, submitted, client, context)
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
  const pruning = start?.storage
    ? pruneStorage(start.storage, afterTaskSignal(context), logLine(io))
    : undefined
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
        badReadBudgetMs: context.badReadBudgetMs
      })
    : undefined
  const files = followed?.files ?? new InstanceOutputFiles(logsDir)
  // After the end, the timeout (and a short grace) still bounds what is brought back.
  const bounded = afterTaskSignal(context)
  const brought = await bringKeptResults(plan, client.with({ signal: bounded }), files)
  const kept = { ...brought, notes: [...(submitted.planNotes ?? []), ...brought.notes] }
  const base = { plan, kept, files, staged: start?.staged?.stats }
  const results = await bringResultsBack(
    settings,
    submitted,
    { ...base, task, followed, ending: { kind: 'nothing-to-rerun' } },
    bounded
  )
  await pruning
  if (!followed) return { ...base, results, ending: { kind: 'nothing-to-rerun' }, costed: kept.uuids }
  const { ending, leftRunning, error } = followed
  const message = ending === 'lost' ? explainError(error, settings.apiUrl, 'follow') : undefined
  const costed = [...(followed.ended && task ? [task.uuid] : []), ...kept.uuids]
  return {
    ...base,
    results,
    ending: { kind: 'followed', ending, leftRunning, message },
    task,
    followed,
    costed
  }
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
  if (!prepared?.resultsDir || (sofar.followed && !sofar.followed.ended)) return undefined
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
  const passed = verdictOf(sofar)?.passed === true
  return bringResults(storage, buckets, prepared, passed && !settings.files?.keepResults, stop)
}
