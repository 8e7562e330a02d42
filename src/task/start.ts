/**
 * The task the step follows: created from the inputs (exactly once, the shortname saved first so that nothing can
 * be left running unseen), or an existing one found by uuid or shortname (`task` input).
 */
import { logLine, type ActionIO } from '../action-io.js'
import { Output, State, TASQ_TASK_URL } from '../constants.js'
import { LIMITS, SECRET_CONSTANT_PREFIX } from '../inputs/task.js'
import type { CacheSettings, Settings, TaskSpec } from '../inputs/settings.js'
import type { QarnotClient } from '../qarnot/client.js'
import { QarnotApiError, invalidFields, rootError } from '../qarnot/errors.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import { countIds, expandIds, formatRanges, idsToIntervals, type IdInterval } from '../ranges.js'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lookUpCache, type CacheState } from '../cache/lookup.js'
import { resourceBucketName } from '../storage/layout.js'
import { errorMessage, oneLine, plural, redactUrl } from '../words.js'
import type { Clock } from './clock.js'
import { buildCreateBody, redactCreateBody } from './create-body.js'
import { explainError } from '../errors-explained.js'
import { SubmitStoppedError, mayHaveCreated, submitTask } from './submit.js'
import { InputError } from '../inputs/read.js'
import { StoreError } from '../storage/errors.js'
import { explainQuotaRefusal, isQuotaRefusal } from '../storage/quota.js'
import {
  openStorage,
  stageFiles,
  type PreparedFiles,
  type StagedFiles,
  type StorageSession
} from '../storage/session.js'
import { KEPT_LABEL } from './kept-label.js'
import { taskIntervals } from './verdict.js'
import type { EarlierTask } from './rerun.js'
import type { BudgetEstimate } from '../budget/cap.js'
import { checkBeforeStart } from '../budget/estimate.js'

export function taskUrl(uuid: string): string {
  return `${TASQ_TASK_URL}${uuid}`
}

export interface StartedTask {
  readonly uuid: string
  readonly name: string
  /** The ids the task runs: those asked for, or those a found task says it has. */
  readonly requested: IdInterval[]
  /** The task document read when it was found. */
  readonly initial?: TaskOutputWire
  /** Why a re-run computes every instance after all: Qarnot refused the range the action built. */
  readonly widened?: string
}

export interface StartContext {
  readonly io: ActionIO
  readonly client: QarnotClient
  readonly hurried: QarnotClient
  readonly clock: Clock
  readonly stop: AbortSignal
  /** The ids to compute when a re-run computes only those that failed before. */
  readonly only?: IdInterval[]
  /** With `only`, for a step that does not wait: the instances kept from earlier tasks, for the collector (kept-label.ts). */
  readonly keptLabel?: string
  /** How the cache asks an image's registry for its digest (default: fetch). */
  readonly registryFetch?: typeof fetch
  readonly env: NodeJS.ProcessEnv
  /** This step's earlier tasks, when the re-run plan found them (for the `max-credits` estimate). */
  readonly earlier?: readonly EarlierTask[]
}

/** Outputs and state written now still count if the step is cancelled or fails later. */
function announce(io: ActionIO, uuid: string): void {
  io.setOutput(Output.TaskUuid, uuid)
  io.setOutput(Output.TaskUrl, taskUrl(uuid))
  io.saveState(State.TaskUuid, uuid)
}

export async function createTask(
  spec: TaskSpec,
  settings: Settings,
  context: StartContext,
  files: StagedFiles | undefined
): Promise<StartedTask> {
  const { io } = context
  const body = { ...buildCreateBody(spec, context.only), ...files?.body, shortname: spec.shortname }
  if (context.only && context.keptLabel) body.labels = { ...body.labels, [KEPT_LABEL]: context.keptLabel }
  const intervals = context.only ?? spec.instances.intervals
  const listed = context.only !== undefined || spec.instances.kind === 'range'
  const instances = `${plural(countIds(intervals), 'instance')}${listed ? ` (${formatRanges(intervals)})` : ''}`
  const where = spec.pool ? `pool ${spec.pool}` : `profile ${spec.profile ?? ''}`
  io.info(
    `Creating Qarnot task "${oneLine(spec.name)}" (${spec.shortname}): ${instances}, ${where}, at ${redactUrl(settings.apiUrl)}`
  )
  io.debug(`Create body: ${JSON.stringify(redactCreateBody(body, SECRET_CONSTANT_PREFIX))}`)
  // Before the create is sent: if this process dies now, the post step finds the task by its shortname.
  io.saveState(State.Shortname, spec.shortname)
  let submission: Awaited<ReturnType<typeof submitTask>>
  try {
    submission = await submitTask(
      {
        client: context.client.with({ signal: context.stop }),
        body,
        clock: context.clock,
        stop: context.stop,
        log: logLine(io)
      },
      context.hurried
    )
  } catch (error) {
    // A range the action built is never the user's fault: compute everything instead (nothing was created).
    if (!context.only || !refusesRangeLength(error)) throw error
    const widened = `Qarnot refused the range of the instances to compute again (${formatRanges(context.only).length} characters, range-length), so every instance is computed`
    io.warning(`${widened}.`)
    return { ...(await createTask(spec, settings, { ...context, only: undefined }, files)), widened }
  }
  announce(io, submission.uuid)
  io.info(
    `Task ${submission.uuid} created${submission.adopted ? ' (found by its shortname)' : ''}: ${taskUrl(submission.uuid)}`
  )
  return { uuid: submission.uuid, name: spec.name, requested: intervals }
}

/** Thrown when a found task cannot be followed as it is. */
export class UnfollowableTaskError extends Error {}

export async function findTask(id: string, context: StartContext): Promise<StartedTask> {
  const { io } = context
  const task = await context.client.with({ signal: context.stop }).getTask(id)
  const requested = taskIntervals(task)
  const count = countIds(requested)
  if (count > LIMITS.instances) {
    throw new UnfollowableTaskError(
      `Task ${task.uuid} has ${count} instances; the action follows at most ${LIMITS.instances} per task.`
    )
  }
  announce(io, task.uuid)
  const name = typeof task.name === 'string' ? task.name : ''
  io.info(`Following existing task ${task.uuid} ("${oneLine(name)}", ${task.state}): ${taskUrl(task.uuid)}`)
  return { uuid: task.uuid, name, requested, initial: task }
}

/** The task to follow, or why there is none: the step was stopped while creating it, or it could not be made or found. */
export type TaskStart = (
  | { readonly task: StartedTask; readonly stopped?: undefined; readonly refusal?: undefined }
  /** Every instance came from the cache: no task was created. */
  | {
      readonly task?: undefined
      readonly stopped?: undefined
      readonly refusal?: undefined
      readonly allCached: true
    }
  | { readonly task: StartedTask | undefined; readonly stopped: true; readonly refusal?: undefined }
  | {
      readonly task?: undefined
      readonly stopped?: undefined
      readonly refusal: string
      /** Refused by `max-credits`: the estimate or the account could not cover the task. */
      readonly overBudget?: boolean
    }
) & {
  /** Storage, when the step has files: the results come back through it after the end. */
  readonly storage?: StorageSession
  readonly staged?: StagedFiles
  /** What the cache found, when it is on. */
  readonly cache?: CacheState
  /** The `max-credits` estimate made before the create. */
  readonly budget?: BudgetEstimate
}

/** Submit (or find) the task, its files staged first; never throws for what the API or storage answers. */
export async function startTask(
  settings: Settings,
  context: StartContext,
  prepared: PreparedFiles | undefined
): Promise<TaskStart> {
  const { io, stop } = context
  let storage: StorageSession | undefined
  let staged: StagedFiles | undefined
  let cache: CacheState | undefined
  let only = context.only
  try {
    if (prepared)
      storage = await openStorage(
        context.client.with({ signal: stop }),
        prepared,
        context.env,
        settings.token,
        stop
      )
    if (prepared && storage && settings.task)
      staged = await stageFiles(storage, prepared, settings.task.shortname, stop)
    if (settings.task && settings.cache && storage && prepared) {
      const wanted = expandIds(context.only ?? settings.task.instances.intervals)
      cache = await lookUp(settings.task, settings, context, { storage, prepared, staged, wanted })
      const misses = wanted.filter(id => !cache?.hits.has(id))
      if (misses.length === 0) return { allCached: true, storage, staged, cache }
      if (cache.hits.size > 0) only = idsToIntervals(misses)
    }
    const budget = await budgetBeforeStart(settings, context, only)
    if (budget?.refusal) {
      io.saveState(State.TaskEnded, 'true')
      return { refusal: budget.refusal, overBudget: true, storage, staged, cache, budget: budget.estimate }
    }
    const task = settings.task
      ? await createTask(settings.task, settings, { ...context, only }, staged)
      : await findTask(settings.followTask ?? '', context)
    // Qarnot refused the range of the misses: every instance is computed, and the hits are not used.
    if (task.widened && cache && cache.hits.size > 0) cache = { ...cache, hits: new Map() }
    return { task, storage, staged, cache, budget: budget?.estimate }
  } catch (error) {
    if (error instanceof SubmitStoppedError || stop.aborted) {
      // The task an interrupted create made and aborted, if one was found: the post step checks it again.
      const uuid = error instanceof SubmitStoppedError ? error.uuid : undefined
      if (uuid) io.saveState(State.TaskUuid, uuid)
      return { stopped: true, task: uuid ? { uuid, name: '', requested: [] } : undefined, storage, cache }
    }
    // A plain refusal made nothing: the post step has nothing to look for.
    if (!mayHaveCreated(error)) io.saveState(State.TaskEnded, 'true')
    return { refusal: refusalMessage(error, settings), storage, cache }
  }
}

/** Under `max-credits`, before a create: the estimate, and the refusal when it or the account cannot cover it. */
function budgetBeforeStart(
  settings: Settings,
  context: StartContext,
  only: IdInterval[] | undefined
): Promise<{ estimate: BudgetEstimate; refusal?: string }> | undefined {
  if (!settings.task || settings.maxCredits === undefined) return undefined
  return checkBeforeStart(settings.maxCredits, countIds(only ?? settings.task.instances.intervals), {
    client: context.client,
    settings,
    earlier: context.earlier,
    debug: message => context.io.debug(message),
    log: logLine(context.io),
    signal: context.stop
  })
}

/** The cache looked up, before the create: hits made whole, outputs in a folder of their own until followed. */
function lookUp(
  spec: TaskSpec,
  settings: Settings,
  context: StartContext,
  files: {
    storage: StorageSession
    prepared: PreparedFiles
    staged: StagedFiles | undefined
    /** The ids the step would compute. */
    wanted: number[]
  }
): Promise<CacheState> {
  const { storage, prepared, staged, wanted } = files
  const logs = join(context.env.RUNNER_TEMP || tmpdir(), 'qarnot-logs')
  mkdirSync(logs, { recursive: true })
  return lookUpCache({
    cache: settings.cache as CacheSettings,
    spec,
    token: settings.token,
    store: storage.store,
    bucket: resourceBucketName(storage.naming),
    resourcesTree: staged?.tree,
    results:
      prepared.resultsDir !== undefined && prepared.resultsPrefix !== undefined
        ? {
            directory: prepared.resultsDir,
            workspace: prepared.settings.workspace,
            prefix: prepared.resultsPrefix
          }
        : undefined,
    resultsWhitelist: staged?.body.resultsWhitelist,
    resultsBlacklist: staged?.body.resultsBlacklist,
    wanted,
    stagingDir: mkdtempSync(join(logs, 'cache-')),
    fetch: context.registryFetch ?? fetch,
    signal: context.stop
  })
}

function refusalMessage(error: unknown, settings: Settings): string {
  if (error instanceof UnfollowableTaskError || error instanceof InputError) return error.message
  if (error instanceof StoreError && isQuotaRefusal(error.code)) return explainQuotaRefusal(error.code)
  if (rootIsStorage(error))
    return `Qarnot storage failed while the resources were sent (${errorMessage(error)}); no task was created.`
  return explainError(error, settings.apiUrl)
}

const rootIsStorage = (error: unknown): boolean => error instanceof StoreError

/** A 400 naming the `range-length` field (docs/qarnot-api.md §6). */
function refusesRangeLength(error: unknown): boolean {
  const root = rootError(error)
  return (
    root instanceof QarnotApiError &&
    root.status === 400 &&
    invalidFields(root.apiMessage).some(field => field.toLowerCase() === 'range-length')
  )
}
