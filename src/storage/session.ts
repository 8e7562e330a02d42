/**
 * The storage phases of a step (docs/storage.md): the files checked on disk before any request, storage reached
 * (its URL from `GET /settings`, the account email from `GET /info`), the resources staged before the create,
 * the results brought back after the end, and a prune while the task runs. The AWS SDK is loaded only here, and
 * only when a step has files.
 */
import { relative, sep } from 'node:path'
import { Input } from '../constants.js'
import { InputError } from '../inputs/read.js'
import { fromStorage, type FileSettings } from '../inputs/settings.js'
import type { QarnotClient } from '../qarnot/client.js'
import type { TaskCreateBody } from '../qarnot/types.js'
import { errorMessage } from '../words.js'
import { collectResults, deleteResultsBucket, type CollectResult } from './collect.js'
import { checkStorage, createStore, storageEndpoint } from './connect.js'
import { StorageUnavailableError } from './errors.js'
import { resourceBucketName, resultsBucketName, resultsBucketPrefix, type BucketNaming } from './layout.js'
import { PRESSURE_RESULTS_DAYS, pruneResources } from './prune.js'
import { readStorageQuota, type StorageQuota } from './quota.js'
import { resolveResources, resolveResultsFolder, type ResourceFile } from './resource-patterns.js'
import { stageResources, type StageStats } from './stage.js'
import type { ObjectStore } from './store.js'

export interface PreparedFiles {
  readonly settings: FileSettings
  readonly resources: ResourceFile[] | undefined
  /** Absolute path of the results folder in the workspace. */
  readonly resultsDir: string | undefined
  /** The same folder under $TASK_PATH, as a key prefix (`out/`): what the instances leave there comes back. */
  readonly resultsPrefix: string | undefined
}

/**
 * The files the inputs name, checked on disk: no request is sent, and every problem is an InputError. `signal`
 * (the step's stop and timeout) aborts the walk; `warn` hears what is left out on purpose.
 */
export async function prepareFiles(
  settings: FileSettings,
  options: { signal?: AbortSignal; warn?: (message: string) => void } = {}
): Promise<PreparedFiles> {
  const resources = settings.resources
    ? await fromStorageAsync(() => resolveResources(settings.workspace, settings.resources ?? '', options))
    : undefined
  const resultsDir = settings.results
    ? await fromStorageAsync(() => resolveResultsFolder(settings.workspace, settings.results ?? ''))
    : undefined
  const resultsPrefix = resultsDir
    ? `${relative(settings.workspace, resultsDir).split(sep).join('/')}/`
    : undefined
  return { settings, resources, resultsDir, resultsPrefix }
}

async function fromStorageAsync<T>(check: () => Promise<T>): Promise<T> {
  try {
    return await check()
  } catch (error) {
    return fromStorage(() => {
      throw error
    })
  }
}

export interface StorageSession {
  readonly store: ObjectStore
  readonly naming: BucketNaming
  /** What `GET /info` said of the account's storage quotas (prune works harder near them). */
  readonly quota?: StorageQuota
  close(): void
}

/** Reaches storage with the account's credentials; a StorageUnavailableError names the inputs that need it. */
export async function openStorage(
  client: QarnotClient,
  prepared: PreparedFiles,
  env: NodeJS.ProcessEnv,
  token: string,
  signal: AbortSignal
): Promise<StorageSession> {
  const input = prepared.resources ? Input.Resources : Input.Results
  try {
    return await connectAccountStorage(client, env, token, signal)
  } catch (error) {
    if (!(error instanceof StorageUnavailableError)) throw error
    throw new InputError(
      input,
      `needs Qarnot storage, and ${error.message}. Remove 'resources' and 'results', or use a cluster with storage.`
    )
  }
}

/** The account's storage, checked; a StorageUnavailableError when the cluster has none that answers. */
export async function connectAccountStorage(
  client: QarnotClient,
  env: NodeJS.ProcessEnv,
  token: string,
  signal: AbortSignal
): Promise<StorageSession> {
  const endpoint = storageEndpoint(await client.getStorageUrl(), env.QARNOT_STORAGE_URL)
  const { email, info } = await client.getAccount()
  const store = await createStore({ endpoint, email, token })
  try {
    await checkStorage(store, signal)
  } catch (error) {
    store.destroy()
    throw error
  }
  return {
    store,
    naming: { repository: env.GITHUB_REPOSITORY || 'local', account: email },
    quota: readStorageQuota(info),
    close: () => store.destroy()
  }
}

export interface StagedFiles {
  /** What the create body gets: the resources' tree, the results bucket, the filters. */
  readonly body: Pick<
    TaskCreateBody,
    'advancedResourceBuckets' | 'resultBucket' | 'resultsWhitelist' | 'resultsBlacklist'
  >
  readonly stats: StageStats | undefined
  /** The resources' content-addressed tree (layout.ts treeHash); undefined without resources. */
  readonly tree?: string
}

/** Sends what storage lacks of the resources, and names the results bucket of the task to create. */
export async function stageFiles(
  session: StorageSession,
  prepared: PreparedFiles,
  shortname: string,
  signal: AbortSignal
): Promise<StagedFiles> {
  const { settings } = prepared
  const staged = prepared.resources
    ? await stageResources({
        store: session.store,
        bucket: resourceBucketName(session.naming),
        workspace: settings.workspace,
        files: prepared.resources,
        signal
      })
    : undefined
  const resultBucket = prepared.resultsDir
    ? resultsBucketName({ ...session.naming, shortname, keep: settings.keepResults })
    : undefined
  const whitelist =
    settings.resultsWhitelist ?? (prepared.resultsPrefix && resultsFolderFilter(prepared.resultsPrefix))
  return {
    body: {
      ...(staged && { advancedResourceBuckets: staged.advancedResourceBuckets }),
      ...(resultBucket && { resultBucket }),
      ...(whitelist && { resultsWhitelist: whitelist }),
      ...(settings.resultsBlacklist && { resultsBlacklist: settings.resultsBlacklist })
    },
    stats: staged?.stats,
    tree: staged?.tree
  }
}

export interface BroughtBack {
  /** Where the files went (absolute). */
  readonly directory: string
  readonly stats: CollectResult | undefined
  readonly notes: string[]
  /** Some result file did not come back (a bucket failed, or a file could not be written): the notes say which. */
  readonly incomplete: boolean
  /**
   * What the task (or an earlier attempt kept) made that did not come back: a download that failed or stalled, a
   * result refused. A bucket an earlier attempt's passing step removed is not in it (that is by design, and warned).
   */
  readonly missing: string[]
  /** The paths (under the results folder) each bucket's files were written to. */
  readonly writtenBy?: ReadonlyMap<string, readonly string[]>
}

/**
 * The results buckets' files into the results folder, in order (a re-run's own bucket last, so its files win over
 * the earlier attempts'). With `remove`, a bucket is deleted afterwards only when the action made it (a
 * `qa-out-` bucket of this repository: never a bucket a followed task was given, which may be a team's) and every
 * one of its files came back.
 */
export async function bringResults(
  session: StorageSession,
  buckets: readonly ResultsBucket[],
  prepared: PreparedFiles,
  remove: boolean,
  signal: AbortSignal
): Promise<BroughtBack> {
  const directory = prepared.resultsDir ?? ''
  const prefix = prepared.resultsPrefix
  const made = resultsBucketPrefix(session.naming, false)
  const notes: string[] = []
  let total: CollectResult | undefined
  const done = new Set<string>()
  let incomplete = false
  const missing: string[] = []
  const writtenBy = new Map<string, string[]>()
  for (const { name: bucket, attempt, instances } of buckets) {
    if (done.has(bucket)) continue
    done.add(bucket)
    try {
      const result = await collectResults({
        store: session.store,
        bucket,
        directory,
        workspace: prepared.settings.workspace,
        prefix,
        only: keptOnly(instances),
        signal
      })
      if (result.rejected.length > 0) incomplete = true
      notes.push(...rejectionNotes(result.rejected))
      missing.push(...rejectionNotes(result.rejected))
      if (result.bucketMissing && attempt !== undefined) {
        incomplete = true
        notes.push(goneNote(bucket, attempt))
      }
      total = total ? add(total, result) : result
      writtenBy.set(
        bucket,
        result.written.map(w => w.path)
      )
      if (!remove || !bucket.startsWith(made)) continue
      if (result.rejected.length > 0)
        notes.push(
          `Bucket ${bucket} is kept: some of its files could not be written (prune removes it later).`
        )
      else await deleteResultsBucket({ store: session.store, bucket, signal })
    } catch (error) {
      incomplete = true
      const note = `The results of bucket ${bucket} could not all be brought back (${errorMessage(error)}).`
      notes.push(note)
      missing.push(note)
    }
  }
  return { directory, stats: total, notes, incomplete, missing, writtenBy }
}

/** A results bucket to bring back; `attempt` when an earlier attempt of the step made it. */
export interface ResultsBucket {
  readonly name: string
  readonly attempt?: number
  /**
   * For an earlier attempt's bucket: the instances kept from it. A result in the per-instance layout
   * (`out/<id>/...`) of any other instance (one that failed there, and is computed again) does not come from it.
   */
  readonly instances?: ReadonlySet<number>
}

/** The instance a result belongs to in the per-instance layout: its first folder (under the results folder) is the id. */
export function instanceOfResult(path: string): number | undefined {
  const id = /^(0|[1-9]\d{0,9})\//.exec(path)?.[1]
  return id === undefined ? undefined : Number(id)
}

/** Results of a bucket kept for some instances only: those of other instances stay behind. */
function keptOnly(instances: ReadonlySet<number> | undefined): ((path: string) => boolean) | undefined {
  if (!instances) return undefined
  return path => {
    const id = instanceOfResult(path)
    return id === undefined || instances.has(id)
  }
}

/** Results not written, each named up to MAX_NAMED_REJECTIONS, then counted by reason. */
const MAX_NAMED_REJECTIONS = 20

function rejectionNotes(rejected: CollectResult['rejected']): string[] {
  const notes = rejected
    .slice(0, MAX_NAMED_REJECTIONS)
    .map(({ key, reason }) => `Result ${JSON.stringify(key)} was not written: ${reason}.`)
  const rest = new Map<string, number>()
  for (const { reason } of rejected.slice(MAX_NAMED_REJECTIONS)) rest.set(reason, (rest.get(reason) ?? 0) + 1)
  for (const [reason, count] of rest) notes.push(`${count} more results were not written: ${reason}.`)
  return notes
}

const goneNote = (bucket: string, attempt: number): string =>
  `The result files of attempt ${attempt} (bucket ${bucket}) are gone: a results bucket is removed once its files came back and its step passed. Set keep-results: true to keep them for re-runs, or rerun: all to compute again.`

function add(a: CollectResult, b: CollectResult): CollectResult {
  return {
    files: a.files + b.files,
    bytes: a.bytes + b.bytes,
    ms: a.ms + b.ms,
    rejected: [...a.rejected, ...b.rejected],
    bucketMissing: a.bucketMissing && b.bucketMissing,
    written: [...a.written, ...b.written]
  }
}

/** Prunes the repository's old storage while the task runs; bounded to 30 s, and never a reason to fail. */
export async function pruneStorage(
  session: StorageSession,
  signal: AbortSignal,
  log: (message: string) => void,
  spare: ReadonlySet<string> = new Set()
): Promise<void> {
  try {
    const report = await pruneResources({
      store: session.store,
      bucket: resourceBucketName(session.naming),
      naming: session.naming,
      quota: session.quota,
      spare,
      signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)])
    })
    if (report.nearQuota)
      log(
        `Storage is near the account's quota (${report.nearQuota}): results buckets older than ${PRESSURE_RESULTS_DAYS} day were pruned, ${report.resultsBucketsRemoved} removed. Delete old buckets on Tasq, or keep-results only where needed.`
      )
    else if (report.treesRemoved + report.resultsBucketsRemoved > 0) {
      log(
        `Storage pruned: ${report.treesRemoved} old resource trees and ${report.resultsBucketsRemoved} old results buckets removed.`
      )
    }
  } catch (error) {
    log(`Pruning old storage failed (${errorMessage(error)}); it is tried again on a later run.`)
  }
}

/**
 * The default resultsWhitelist for the results folder `out/`: `(^|/)out(/|$)`. Qarnot does not document what the
 * expression is tested on (the path relative to $TASK_PATH, `out/x`, or an absolute one, `/job/out/x`), so it
 * matches the folder either way; what comes down is still only what lies under the folder (collect's prefix).
 */
export function resultsFolderFilter(prefix: string): string {
  return `(^|/)${escapeRegex(prefix.replace(/\/$/, ''))}(/|$)`
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
