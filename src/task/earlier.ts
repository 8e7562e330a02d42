/**
 * The tasks earlier attempts of this step made, for a re-run that computes only what failed: found by the step's
 * tag (`GET /tasks?tag=`, docs/qarnot-api.md §9) and each read whole, and the output of the instances kept from them read back at O(1)
 * requests (one whole read per stream, docs/qarnot-api.md §2) while the server still holds it.
 */
import type { Settings } from '../inputs/settings.js'
import type { QarnotClient } from '../qarnot/client.js'
import { QarnotApiError } from '../qarnot/errors.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import { errorMessage } from '../words.js'
import { TaskOutputDemux } from './logs.js'
import type { InstanceOutputFiles } from './output-files.js'
import { STREAMS } from './output-follower.js'
import { decodeKept, KEPT_LABEL, type KeptPointer } from './kept-label.js'
import { LIMITS } from '../inputs/task.js'
import {
  countIds,
  expandIds,
  formatRanges,
  normalise,
  subtractIntervals,
  type IdInterval
} from '../ranges.js'
import {
  STEP_TAG_PREFIX,
  boundRerun,
  planRerun,
  type EarlierTask,
  type KeptResults,
  type RerunPlan
} from './rerun.js'
import { decideVerdict, taskIntervals, type InstanceResult } from './verdict.js'

const NO_RERUN: RerunPlan = { kind: 'all', reason: undefined }

/** What to compute in this attempt, from what the earlier ones did; every instance when that cannot be known. */
export async function planAttempt(
  settings: Settings,
  client: QarnotClient,
  log: (m: string) => void,
  found?: (tasks: readonly EarlierTask[]) => void
): Promise<RerunPlan> {
  const { rerun, task } = settings
  if (!task || rerun.attempt <= 1 || rerun.mode === 'all') return NO_RERUN
  if (!rerun.stepTag)
    return {
      kind: 'all',
      reason: 'this run does not say which step this is (no GITHUB_RUN_ID or GITHUB_JOB)'
    }
  try {
    const earlier = await findEarlierTasks(client, rerun.stepTag, rerun.attempt)
    if ('reason' in earlier) return { kind: 'all', reason: earlier.reason }
    found?.(earlier.tasks)
    const sent = task.instances.kind === 'range' ? (task.instances.text ?? '').length : 0
    return boundRerun(planRerun(task.instances.intervals, earlier.tasks, rerun.attempt), sent)
  } catch (error) {
    log(`Could not look for the tasks of earlier attempts (${errorMessage(error)}).`)
    return {
      kind: 'all',
      reason: `the tasks of earlier attempts could not be listed (${errorMessage(error)})`
    }
  }
}

/** More tasks than this under one step's tag is not a re-run the action understands: compute everything. */
export const MAX_EARLIER_TASKS = 50

/**
 * The earlier attempts' tasks, each read whole. A list entry is only a pointer: the API's own example of the list
 * has `completedInstances: null` and every range null, and whether it is capped is unknown (docs/rerun.md), so the
 * verdict is never taken from it. Entries whose tags do not name the step are passed over (a server that ignored
 * the filter); a task gone between the list and its read is gone.
 */
export async function findEarlierTasks(
  client: QarnotClient,
  tag: string,
  attempt: number
): Promise<{ tasks: EarlierTask[] } | { reason: string }> {
  const listed = (await client.listTasksWithTag(tag)).filter(entry => carriesTag(entry, tag))
  const uuids = [...new Set(listed.map(entry => entry.uuid))]
  if (uuids.length > MAX_EARLIER_TASKS)
    return {
      reason: `${uuids.length} tasks carry this step's tag, more than the ${MAX_EARLIER_TASKS} a re-run reads`
    }
  const documents = await Promise.all(uuids.map(uuid => readUnlessGone(client, uuid)))
  const tasks = documents.flatMap((document): EarlierTask[] => {
    if (!document || !carriesTag(document, tag)) return []
    const made = Number(document.labels?.['github-run-attempt'])
    if (!Number.isSafeInteger(made) || made >= attempt) return []
    return [{ uuid: document.uuid, attempt: made, document, ids: taskIntervals(document) }]
  })
  return { tasks }
}

/** Whether a task document carries `tag`, or says nothing of its tags (a trimmed entry: read it to know). */
export function carriesTag(document: TaskOutputWire, tag: string): boolean {
  return Array.isArray(document.tags) ? document.tags.includes(tag) : true
}

export async function readUnlessGone(
  client: QarnotClient,
  uuid: string
): Promise<TaskOutputWire | undefined> {
  try {
    return await client.getTask(uuid)
  } catch (error) {
    if (error instanceof QarnotApiError && error.status === 404) return undefined
    throw error
  }
}

/** Writes the output of `ids` of an earlier task into `files`, from one whole read per stream; notes what it could not. */
export async function readKeptOutput(
  client: QarnotClient,
  uuid: string,
  ids: ReadonlySet<number>,
  files: InstanceOutputFiles
): Promise<string[]> {
  const notes: string[] = []
  for (const stream of STREAMS) {
    const demux = new TaskOutputDemux()
    const keep = (chunks: Map<number, Buffer[]>): void => {
      for (const [id, pieces] of chunks) if (ids.has(id)) files.append(id, stream, pieces)
    }
    try {
      await client.readTaskOutput(uuid, stream, 'whole', chunk => keep(demux.feed(chunk)))
      keep(demux.flush())
      if (demux.unprefixedLines > 0) {
        notes.push(
          `The ${stream} of task ${uuid} had rotated on the server: the oldest lines of the instances kept from it are missing.`
        )
      }
    } catch (error) {
      notes.push(
        `The ${stream} of the instances kept from task ${uuid} could not be read back (${errorMessage(error)}).`
      )
    }
  }
  return notes
}

/** The instances a re-run keeps from earlier tasks, their output written into `files`; and what could not be read. */
export async function bringKeptResults(
  plan: RerunPlan,
  client: QarnotClient,
  files: InstanceOutputFiles
): Promise<{ instances: InstanceResult[]; uuids: string[]; notes: string[] }> {
  if (plan.kind === 'all') return { instances: [], uuids: [], notes: [] }
  const notes: string[] = []
  for (const { task, instances } of plan.kept) {
    notes.push(...(await readKeptOutput(client, task.uuid, new Set(instances.map(i => i.id)), files)))
  }
  return {
    instances: plan.kept.flatMap(k => k.instances),
    uuids: plan.kept.map(k => k.task.uuid),
    notes
  }
}

/**
 * For a collecting step (`task:`) that follows a re-run submitted with `wait: false`: the instances that re-run
 * kept from earlier attempts, read from the tasks its label names (each read whole; their verdict as they
 * reported it). `undefined` when the task carries no such label. A label is trusted only as far as it checks out:
 * each task it names carries the same step's tag, comes from an earlier attempt, and ran the ids named; no id is
 * named twice or computed by the re-run itself. Ids named but not read back count as failed: a collector cannot
 * compute them, and must not pass on a part of the work.
 */
export async function keptOfFollowedTask(
  document: TaskOutputWire,
  client: QarnotClient
): Promise<{ plan: RerunPlan; notes: string[] } | undefined> {
  const label = document.labels?.[KEPT_LABEL]
  if (typeof label !== 'string' || label === '') return undefined
  const own = taskIntervals(document)
  const pointers = decodeKept(label)
  const intro = `Task ${document.uuid} was a re-run that kept instances from earlier attempts`
  if ('error' in pointers)
    return {
      plan: NO_RERUN,
      notes: [
        `${intro}, but its ${KEPT_LABEL} label cannot be read (${pointers.error}): only its own instances are reported.`
      ]
    }
  const named = pointers.flatMap(p => p.ids)
  const count = named.reduce((sum, { first, last }) => sum + last - first + 1, 0)
  if (pointers.length > MAX_EARLIER_TASKS || count + countIds(own) > LIMITS.instances) {
    const what =
      pointers.length > MAX_EARLIER_TASKS ? `${MAX_EARLIER_TASKS} tasks` : `${LIMITS.instances} instances`
    return {
      plan: NO_RERUN,
      notes: [
        `${intro}, but its label names more than the ${what} the action reads: only its own instances are reported.`
      ]
    }
  }
  const why = labelProblem(pointers, own, named, count)
  if (why) {
    // Every id it names, but those the re-run computes, counts as failed: the label cannot be trusted for any.
    const ids = subtractIntervals(normalise(named), own)
    const task: EarlierTask = {
      uuid: document.uuid,
      attempt: 0,
      document: { uuid: document.uuid, state: 'Unknown' },
      ids: []
    }
    return {
      plan: {
        kind: 'some',
        rerun: own,
        kept: [{ task, instances: expandIds(ids).map(id => notRead(id, why)) }],
        warnings: []
      },
      notes: [`${intro}, but ${why}: the instances it names count as failed.`]
    }
  }
  const kept: KeptResults[] = []
  const notes: string[] = []
  for (const pointer of pointers) {
    const read = await readPointer(document, pointer, client)
    kept.push(read.kept)
    if (read.note) notes.push(`${intro}: ${read.note}`)
  }
  return { plan: { kind: 'some', rerun: own, kept, warnings: [] }, notes }
}

/** One earlier task a label names, read whole and checked; its ids as failed when it does not check out. */
async function readPointer(
  document: TaskOutputWire,
  { uuid, ids }: KeptPointer,
  client: QarnotClient
): Promise<{ kept: KeptResults; note?: string }> {
  const tag = document.tags?.find(t => t.startsWith(STEP_TAG_PREFIX))
  const earlier = await readUnlessGone(client, uuid)
  const problem = !earlier
    ? 'is gone'
    : !tag || !earlier.tags?.includes(tag)
      ? 'is not a task of this step'
      : !(attemptOf(earlier) < attemptOf(document))
        ? 'is not of an earlier attempt'
        : subtractIntervals(ids, taskIntervals(earlier)).length > 0
          ? 'did not run them'
          : undefined
  const task: EarlierTask = {
    uuid,
    attempt: earlier ? attemptOf(earlier) : 0,
    document: earlier && !problem ? earlier : { uuid, state: 'Unknown' },
    ids: earlier ? taskIntervals(earlier) : []
  }
  if (!earlier || problem)
    return {
      kept: { task, instances: expandIds(ids).map(id => notRead(id, `task ${uuid} ${problem}`)) },
      note: `instances ${formatRanges(ids)} were to come from task ${uuid}, which ${problem}; they count as failed.`
    }
  return { kept: { task, instances: decideVerdict(earlier, ids).instances } }
}

function labelProblem(
  pointers: readonly KeptPointer[],
  own: IdInterval[],
  named: IdInterval[],
  count: number
): string | undefined {
  if (new Set(pointers.map(p => p.uuid)).size < pointers.length) return 'its label names a task twice'
  const normal = normalise(named)
  if (countIds(normal) < count) return 'its label names an instance twice'
  if (countIds(subtractIntervals(normal, own)) < count) return 'its label names instances it computes itself'
  return undefined
}

function attemptOf(document: TaskOutputWire): number {
  const text = document.labels?.['github-run-attempt']
  return typeof text === 'string' && /^[1-9]\d{0,8}$/.test(text) ? Number(text) : 0
}

function notRead(id: number, why: string): InstanceResult {
  return {
    id,
    state: 'NotCompleted',
    error: `kept from an earlier attempt, but ${why}`,
    wallTimeSec: undefined,
    execTimeSec: undefined,
    peakMemoryMB: undefined,
    attempts: undefined
  }
}
