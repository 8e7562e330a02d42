/**
 * Periodic snapshots (docs/long-runs.md): Qarnot uploads what the instances wrote to the results bucket while the
 * task runs, so that a step that times out, is cancelled or hands off still brings files back; and which
 * instances' files are partial then. The request is a courtesy: when refused, results come at the end as ever.
 */
import type { PeriodicSnapshotBody, QarnotClient } from '../qarnot/client.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import { formatIds } from '../ranges.js'
import { formatDuration } from '../input-formats/duration.js'
import { errorMessage, oneLine } from '../words.js'
import type { Verdict } from './verdict.js'

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined

/**
 * The body: the interval in whole seconds (at least 1), and the results filters, bucket and prefix of the task
 * (from its create body, or its document when it was found), so that a snapshot holds what the results hold.
 */
export function snapshotBody(
  intervalMs: number,
  task: Readonly<Record<string, unknown>> | undefined
): PeriodicSnapshotBody {
  const body: { -readonly [K in keyof PeriodicSnapshotBody]: PeriodicSnapshotBody[K] } = {
    interval: Math.max(1, Math.round(intervalMs / 1000))
  }
  const whitelist = text(task?.resultsWhitelist)
  const blacklist = text(task?.resultsBlacklist)
  const bucket = text(task?.resultBucket) ?? text(task?.resultsBucket)
  const prefix = text(task?.resultsBucketPrefix)
  if (whitelist) body.whitelist = whitelist
  if (blacklist) body.blacklist = blacklist
  if (bucket) body.bucket = bucket
  if (prefix) body.bucketPrefix = prefix
  return body
}

/** Asks for periodic snapshots; says so in the log, and warns (never fails) when Qarnot refuses. */
export async function askForSnapshots(
  client: QarnotClient,
  uuid: string,
  body: PeriodicSnapshotBody,
  log: { info(message: string): void; warning(message: string): void }
): Promise<boolean> {
  try {
    await client.startPeriodicSnapshot(uuid, body)
    log.info(
      `Periodic snapshots asked for: Qarnot uploads the instances' result files every ${formatDuration(body.interval * 1000)} while task ${uuid} runs (it may lengthen the interval).`
    )
    return true
  } catch (error) {
    log.warning(
      `Qarnot refused periodic snapshots of task ${uuid} (${oneLine(errorMessage(error))}): result files come back only once instances end.`
    )
    return false
  }
}

/**
 * Which instances' result files are partial: those not ended when the step stopped following (timed out,
 * cancelled, handed off). Undefined when every instance had ended.
 */
export function partialResultsNote(
  verdict: Verdict | undefined,
  why: 'timeout' | 'stopped' | 'handed-off',
  task: TaskOutputWire | undefined
): string | undefined {
  const unfinished = (verdict?.instances ?? [])
    .filter(i => i.state !== 'Success' && i.state !== 'Failure')
    .map(i => i.id)
  if (unfinished.length === 0) return undefined
  const every = typeof task?.snapshotInterval === 'number' ? task.snapshotInterval : 0
  const source =
    every > 0 ? `their last periodic snapshot (every ${formatDuration(every * 1000)})` : 'their last snapshot'
  const after =
    why === 'handed-off'
      ? 'the step that collects the task brings back their final files'
      : `${why === 'timeout' ? 'the timeout' : 'the cancel'} stopped them, and only what ${source} or the upload at the abort held came back`
  return `Result files of instances ${formatIds(unfinished)} are partial: they had not ended when the step stopped following the task; ${after}.`
}
