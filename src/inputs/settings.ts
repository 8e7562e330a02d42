/**
 * The action's inputs -> one typed, validated Settings object, and the smaller one the post step needs, built from
 * the same readers. Every problem is an InputError naming the input and the fix, raised before anything is sent.
 */
import { createHash } from 'node:crypto'
import type { ActionIO } from '../action-io.js'
import { Input } from '../constants.js'
import { TRACE_TAG, readRunContext, traceLabels } from '../github/context.js'
import { errorMessage } from '../words.js'
import type { KeyValue } from '../input-formats/key-values.js'
import {
  InputError,
  readApiUrl,
  readBoolean,
  readDuration,
  readToken,
  readWholeNumber,
  type InputReader
} from './read.js'
import { StorageInputError } from '../storage/errors.js'
import { validateResultFilters } from '../storage/resource-patterns.js'
import { seriesTag, stepTag } from '../task/rerun.js'
import { CACHE_SALT_PATTERN } from '../cache/key.js'
import { readForkSettings, type ForkSettings } from './forks.js'
import { HANDED_OFF_SELECTOR, readLongRun, type HandOffSettings, type LongRunSettings } from './hand-off.js'
import { MAX_CREDITS_LABEL, readMaxCredits } from './budget.js'
import {
  SECRET_CONSTANT_PREFIX,
  makeShortname,
  readConstants,
  readInstances,
  readLabels,
  readName,
  readPlacement,
  readTags,
  type InstanceSelection,
  type Placement
} from './task.js'

/** What describes a task to create. */

/** Longer than any GitHub job runs (5 days on a self-hosted runner); timers cannot wait much longer either. */
const LONGEST_TIMEOUT = {
  ms: 7 * 24 * 3_600_000,
  why: "no GitHub job runs that long (5 days at most); leave timeout empty for no limit but the job's own"
}
/** Follow-up tasks for platform failures: more than a few means the platform is down, not unlucky. */
export const MOST_INFRASTRUCTURE_RETRIES = 5
const LONGEST_POLL_INTERVAL = { ms: 600_000, why: "a task's end would be noticed far too late" }

export interface TaskSpec extends Placement {
  readonly instances: InstanceSelection
  /** Every constant sent to Qarnot: image constants, the user's, then DOCKER_CMD. */
  readonly constants: KeyValue[]
  readonly name: string
  readonly shortname: string
  readonly tags: string[]
  readonly labels: Record<string, string>
  readonly maxRetriesPerInstance: number
  readonly autoDelete: boolean
  /** Set with snapshot-interval: an aborted task uploads its instances' files (docs/long-runs.md). */
  readonly uploadResultsOnCancellation?: boolean
}

/** How a re-run attempt of a workflow run treats the instances its earlier attempts computed (docs/rerun.md). */
export interface RerunSettings {
  /** `failed`: compute only what did not succeed before; `all`: compute everything again. */
  readonly mode: 'failed' | 'all'
  /** GITHUB_RUN_ATTEMPT: 1 for the first attempt. */
  readonly attempt: number
  /** The tag naming this step across the attempts of its run; undefined outside a workflow run. */
  readonly stepTag: string | undefined
}

/**
 * Files in and out (docs/storage.md). Checked here as far as can be without the disk; the patterns are resolved
 * against the workspace before any request (storage/session.ts).
 */
export interface FileSettings {
  /** GITHUB_WORKSPACE (the working directory outside a runner): every path is relative to it. */
  readonly workspace: string
  /** The `resources` input as written; undefined when empty. */
  readonly resources: string | undefined
  /** The `results` input as written; undefined when empty. */
  readonly results: string | undefined
  readonly resultsWhitelist: string | undefined
  readonly resultsBlacklist: string | undefined
  readonly keepResults: boolean
  /** What result files that did not come back make of a step whose task succeeded (default fail). */
  readonly resultsIncomplete: 'fail' | 'warn'
}

/** The cache of instance results across runs (docs/cache.md). */
export interface CacheSettings {
  /** `write`: look up and store; `read`: look up only (an untrusted run plants nothing). */
  readonly mode: 'write' | 'read'
  /** The `cache-key` input: a salt the user changes to invalidate. */
  readonly salt: string
}

export interface Settings {
  readonly token: string
  readonly apiUrl: string
  /** The task to create; absent when following an existing one. */
  readonly task: TaskSpec | undefined
  /** An existing task (uuid or shortname) to follow instead of creating one. */
  readonly followTask: string | undefined
  /** Values to register as secrets: the token, every `QARNOT_SECRET__` constant, and the GitHub token. */
  readonly secrets: string[]
  readonly wait: boolean
  readonly timeoutMs: number | undefined
  readonly abortOnCancel: boolean
  readonly streamLogs: boolean
  readonly summary: boolean
  /** Floor of the wait between status reads; 0 leaves the adaptive schedule alone. */
  readonly pollFloorMs: number
  readonly prComment: boolean
  /**
   * What tells this step's pull-request comment from its matrix siblings' (same workflow, job and step): a hash of
   * its `labels`; undefined without labels (one comment per step) or when following a task made elsewhere.
   */
  readonly commentLeg: string | undefined
  readonly githubToken: string
  readonly rerun: RerunSettings
  /** Undefined when neither `resources` nor `results` is given, and the cache is off. */
  readonly files: FileSettings | undefined
  /** Undefined when the cache is off. */
  readonly cache: CacheSettings | undefined
  /** Pull requests from forks (docs/security.md). */
  readonly forks: ForkSettings
  /** `hand-off-after` and `continue-with` (docs/long-runs.md); undefined without hand-off-after. */
  readonly handOff?: HandOffSettings
  /** `snapshot-interval` in ms; undefined when off. */
  readonly snapshotIntervalMs?: number
  /**
   * `task: handed-off`: the step reports every task of the repository a step handed off that has ended, not one
   * task; `deleteCollected` (auto-delete: true) deletes each once reported, so that the next run does not report it.
   */
  readonly collectHandedOff?: { readonly deleteCollected: boolean }
  /** Follow-up tasks that may re-run instances the platform failed (docs/infrastructure-retries.md); 0: none. */
  readonly infrastructureRetries: number
  /** The `max-credits` cap of the step (docs/budget.md); undefined without one. */
  readonly maxCredits: number | undefined
  /** Under `max-credits`: the tag this step's tasks carry across runs, by which the estimate finds earlier runs. */
  readonly seriesTag?: string
}

export interface SettingsContext {
  readonly env: NodeJS.ProcessEnv
  /** Random hex for the shortname; a parameter so tests are deterministic. */
  readonly randomHex: string
  /** Labels and a tag that lead from the task back to the run (added to the user's own). */
  readonly trace?: { readonly labels: Record<string, string>; readonly tag: string }
}

/** Inputs that describe a task to create, and so make no sense with `task`. */
const CREATION_INPUTS = [
  Input.Command,
  Input.InstanceCount,
  Input.InstanceRange,
  Input.DockerImage,
  Input.Constants
] as const

function readFollowTask(read: InputReader): string | undefined {
  const task = read(Input.Task)
  if (task === '') return undefined
  if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/.test(task)) {
    throw new InputError(
      Input.Task,
      `"${task}" is neither a task UUID nor a shortname; copy it from the submitting step's task-uuid output`
    )
  }
  const clash = CREATION_INPUTS.find(input => read(input) !== '')
  if (clash) {
    throw new InputError(
      Input.Task,
      `follows an existing task, so '${clash}' (which describes a task to create) cannot be used with it; remove one of them`
    )
  }
  return task
}

function readResultsIncomplete(read: InputReader): FileSettings['resultsIncomplete'] {
  const text = read(Input.ResultsIncomplete).toLowerCase()
  if (text === '' || text === 'fail') return 'fail'
  if (text === 'warn') return 'warn'
  throw new InputError(
    Input.ResultsIncomplete,
    `"${read(Input.ResultsIncomplete)}" is not a choice; write fail or warn`
  )
}

function readCache(read: InputReader, following: boolean, wait: boolean): CacheSettings | undefined {
  const text = read(Input.Cache).toLowerCase()
  const salt = read(Input.CacheKey)
  const mode =
    text === '' || text === 'false' ? undefined : text === 'true' ? 'write' : text === 'read' ? 'read' : null
  if (mode === null)
    throw new InputError(Input.Cache, `"${read(Input.Cache)}" is not a choice; write true, read or false`)
  if (!CACHE_SALT_PATTERN.test(salt))
    throw new InputError(
      Input.CacheKey,
      'may hold letters, digits and . _ : + = @ / - only, at most 128 of them (it becomes part of a key); write e.g. v2'
    )
  if (mode === undefined) {
    if (salt !== '')
      throw new InputError(
        Input.CacheKey,
        'salts the cache, which is off; set cache: true, or remove cache-key'
      )
    return undefined
  }
  if (following)
    throw new InputError(
      Input.Cache,
      "cannot be used with 'task': a task made elsewhere was not looked up; set cache on the step that creates it"
    )
  if (!wait)
    throw new InputError(
      Input.Cache,
      'needs the step to wait (wait: true): only instances seen to succeed, with their output and files whole, are stored'
    )
  return { mode, salt }
}

function readRerunMode(read: InputReader): RerunSettings['mode'] {
  const text = read(Input.Rerun).toLowerCase()
  if (text === '' || text === 'failed') return 'failed'
  if (text === 'all') return 'all'
  throw new InputError(Input.Rerun, `"${read(Input.Rerun)}" is not a re-run mode; write failed or all`)
}

function readTaskSpec(
  read: InputReader,
  context: SettingsContext
): {
  spec: TaskSpec
  secrets: string[]
  stepTag: string | undefined
  seriesTag: string | undefined
  commentLeg: string | undefined
} {
  const instances = readInstances(read)
  const placement = readPlacement(read)
  const { constants, secrets } = readConstants(read, placement.profile)
  const userTags = readTags(read)
  const userLabels = readLabels(read)
  const described = {
    ...placement,
    instances: instances.text ?? instances.count,
    // Secret values stay out of the fingerprint: only their keys say what the task is.
    constants: constants.map(c => (c.key.startsWith(SECRET_CONSTANT_PREFIX) ? c.key : `${c.key}=${c.value}`)),
    name: readName(read, context.env),
    userTags,
    userLabels,
    maxRetriesPerInstance: readWholeNumber(read, Input.MaxRetriesPerInstance, 0) ?? 0,
    autoDelete: readBoolean(read, Input.AutoDelete, false),
    // What the task is given and what comes back of it make it what it is too (matrix legs over other files).
    files: [Input.Resources, Input.Results, Input.ResultsInclude, Input.ResultsExclude].map(input =>
      read(input)
    )
  }
  const stepTag = makeStepTag(context.env, described)
  // Across runs the default name changes (it holds the run number); what the task is does not.
  const seriesTag = makeSeriesTag(context.env, { ...described, name: read(Input.Name) })
  const ownTags = [...(context.trace ? [context.trace.tag] : []), ...(stepTag ? [stepTag] : [])]
  const spec: TaskSpec = {
    ...placement,
    instances,
    constants,
    name: described.name,
    shortname: makeShortname(context.env, context.randomHex),
    tags: [...new Set([...userTags, ...ownTags])],
    labels: { ...context.trace?.labels, ...userLabels },
    maxRetriesPerInstance: described.maxRetriesPerInstance,
    autoDelete: described.autoDelete
  }
  // Matrix legs tell themselves apart by their labels (as re-runs ask them to); nothing run-specific goes in, so
  // that the comment is updated in place across pushes. No labels: the step's one comment, as before.
  const labelled = Object.entries(userLabels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const commentLeg =
    labelled.length > 0
      ? createHash('sha256').update(JSON.stringify(labelled)).digest('hex').slice(0, 12)
      : undefined
  return { spec, secrets, stepTag, seriesTag, commentLeg }
}

function makeStepTag(env: NodeJS.ProcessEnv, fingerprint: unknown): string | undefined {
  return stepTag(
    {
      repository: env.GITHUB_REPOSITORY,
      workflow: env.GITHUB_WORKFLOW,
      runId: env.GITHUB_RUN_ID,
      attempt: runAttempt(env),
      job: env.GITHUB_JOB,
      action: env.GITHUB_ACTION
    },
    fingerprint
  )
}

function makeSeriesTag(env: NodeJS.ProcessEnv, fingerprint: unknown): string | undefined {
  return seriesTag(
    {
      repository: env.GITHUB_REPOSITORY,
      workflow: env.GITHUB_WORKFLOW,
      runId: undefined,
      attempt: 1,
      job: env.GITHUB_JOB,
      action: env.GITHUB_ACTION
    },
    fingerprint
  )
}

/**
 * Under `max-credits` the task carries its cap as a label, and the step's series tag (budget/estimate.ts reads
 * earlier runs by it); Qarnot takes fewer than 10 tags, so it must fit.
 */
function withSeriesTag(
  created: ReturnType<typeof readTaskSpec> | undefined,
  maxCredits: number | undefined
): ReturnType<typeof readTaskSpec> | undefined {
  if (!created || maxCredits === undefined) return created
  // The cap travels with the task, to a step that follows it later (a collector after a hand-off).
  const labels = { ...created.spec.labels, [MAX_CREDITS_LABEL]: String(maxCredits) }
  if (!created.seriesTag) return { ...created, spec: { ...created.spec, labels } }
  if (created.spec.tags.length >= 9)
    throw new InputError(
      Input.Tags,
      "with max-credits the task carries one more tag of the action's own (to find what earlier runs of this step cost), and Qarnot takes fewer than 10; remove a tag"
    )
  return { ...created, spec: { ...created.spec, labels, tags: [...created.spec.tags, created.seriesTag] } }
}

function runAttempt(env: NodeJS.ProcessEnv): number {
  const attempt = Number(env.GITHUB_RUN_ATTEMPT)
  return Number.isSafeInteger(attempt) && attempt >= 1 ? attempt : 1
}

/** Builds and validates the settings; throws InputError on the first problem. */
export function readSettings(read: InputReader, context: SettingsContext): Settings {
  const token = readToken(read)
  const apiUrl = readApiUrl(read, context.env)
  const followTask = readFollowTask(read)
  const wait = readBoolean(read, Input.Wait, true)
  const maxCredits = readMaxCredits(read, wait)
  const created = withSeriesTag(
    followTask === undefined ? readTaskSpec(read, context) : undefined,
    maxCredits
  )
  const githubToken = read(Input.GithubToken)
  const cache = readCache(read, followTask !== undefined, wait)
  const timeoutMs = readDuration(read, Input.Timeout, LONGEST_TIMEOUT)
  const collectHandedOff = followTask === HANDED_OFF_SELECTOR
  const longRun = readLongRun(read, context.env, {
    wait,
    timeoutMs,
    creating: created !== undefined,
    selector: collectHandedOff,
    results: read(Input.Results) !== '',
    tagCount: created?.spec.tags.length ?? 0
  })
  return {
    token,
    apiUrl,
    task: created && withLongRun(created.spec, longRun),
    followTask,
    secrets: [token, ...(created?.secrets ?? []), ...(githubToken ? [githubToken] : [])],
    wait,
    timeoutMs,
    abortOnCancel: readBoolean(read, Input.AbortOnCancel, true),
    streamLogs: readBoolean(read, Input.StreamLogs, true),
    summary: readBoolean(read, Input.Summary, true),
    pollFloorMs: readDuration(read, Input.PollInterval, LONGEST_POLL_INTERVAL) ?? 0,
    prComment: readBoolean(read, Input.PrComment, false),
    commentLeg: created?.commentLeg,
    githubToken,
    rerun: { mode: readRerunMode(read), attempt: runAttempt(context.env), stepTag: created?.stepTag },
    files: readFiles(read, context.env, followTask !== undefined, cache !== undefined),
    cache,
    forks: readForkSettings(read),
    maxCredits,
    seriesTag: maxCredits === undefined ? undefined : created?.seriesTag,
    infrastructureRetries:
      readWholeNumber(read, Input.InfrastructureRetries, 0, MOST_INFRASTRUCTURE_RETRIES) ?? 1,
    handOff: longRun.handOff,
    snapshotIntervalMs: longRun.snapshotIntervalMs,
    collectHandedOff: collectHandedOff
      ? { deleteCollected: readBoolean(read, Input.AutoDelete, false) }
      : undefined
  }
}

/** The task as long runs change it: the hand-off tag, and results uploaded at a cancel with snapshots. */
function withLongRun(spec: TaskSpec, longRun: LongRunSettings): TaskSpec {
  const tag = longRun.handOffTag
  return {
    ...spec,
    tags: tag ? [...spec.tags, tag] : spec.tags,
    ...(longRun.snapshotIntervalMs !== undefined && { uploadResultsOnCancellation: true })
  }
}

function readFiles(
  read: InputReader,
  env: NodeJS.ProcessEnv,
  following: boolean,
  cached: boolean
): FileSettings | undefined {
  const resources = read(Input.Resources) || undefined
  const results = read(Input.Results) || undefined
  const include = read(Input.ResultsInclude) || undefined
  const exclude = read(Input.ResultsExclude) || undefined
  if (resources !== undefined && following) {
    throw new InputError(
      Input.Resources,
      "cannot be used with 'task': the task already exists with its own resources"
    )
  }
  if (results === undefined) {
    const alone =
      include !== undefined ? Input.ResultsInclude : exclude !== undefined ? Input.ResultsExclude : undefined
    if (alone)
      throw new InputError(
        alone,
        "filters the files brought back to 'results', which is not set; set results: out"
      )
  }
  // The cache lives in storage: a step with neither resources nor results still reaches it.
  if (resources === undefined && results === undefined && !cached) return undefined
  const filters = fromStorage(() => validateResultFilters({ include, exclude }))
  return {
    workspace: env.GITHUB_WORKSPACE || process.cwd(),
    resources,
    results,
    resultsWhitelist: filters.resultsWhitelist,
    resultsBlacklist: filters.resultsBlacklist,
    keepResults: readBoolean(read, Input.KeepResults, false),
    resultsIncomplete: readResultsIncomplete(read)
  }
}

/** What the post step needs: the same token, API URL and abort-on-cancel as main, read the same way. */
export interface PostSettings {
  readonly token: string
  readonly apiUrl: string
  readonly abortOnCancel: boolean
}

export function readPostSettings(read: InputReader, env: NodeJS.ProcessEnv): PostSettings {
  return {
    token: readToken(read),
    apiUrl: readApiUrl(read, env),
    abortOnCancel: readBoolean(read, Input.AbortOnCancel, true)
  }
}

/**
 * The settings from the runner's inputs, secrets registered first (the token even before anything is checked);
 * undefined, with the step failed, when an input is wrong.
 */
export function readInputs(io: ActionIO, env: NodeJS.ProcessEnv, randomHex: string): Settings | undefined {
  const rawToken = io.getInput(Input.Token)
  if (rawToken !== '') io.setSecret(rawToken)
  try {
    const settings = readSettings(name => io.getInput(name), {
      env,
      randomHex,
      trace: { labels: traceLabels(readRunContext(env)), tag: TRACE_TAG }
    })
    for (const secret of settings.secrets) if (secret !== rawToken) io.setSecret(secret)
    return settings
  } catch (error) {
    io.setFailed(error instanceof InputError ? error.message : `Invalid inputs: ${errorMessage(error)}`)
    return undefined
  }
}

/** Runs a check of the storage side, its StorageInputError becoming the InputError of the same input. */
export function fromStorage<T>(check: () => T): T {
  try {
    return check()
  } catch (error) {
    if (error instanceof StorageInputError) throw new InputError(error.input, error.detail)
    throw error
  }
}
