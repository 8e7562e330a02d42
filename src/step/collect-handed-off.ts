/**
 * `task: handed-off` (docs/long-runs.md): a scheduled collector. Every task of this repository that a step handed
 * off carries the repository's hand-off tag (inputs/hand-off.ts); each one that has ended is reported whole, as a
 * step with `task: <uuid>` would, and each still running is named and left alone for a later run. A task reported
 * is marked in storage (collected-marks.ts), so the next run leaves it out; with `auto-delete: true` it is deleted
 * from Qarnot instead (its buckets stay).
 */
import { Outcome, Output } from '../constants.js'
import { HAND_OFF_AT_LABEL, handOffTag } from '../inputs/hand-off.js'
import type { Settings } from '../inputs/settings.js'
import type { QarnotClient } from '../qarnot/client.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import type { StepReport } from '../report/model.js'
import { readRunContext } from '../github/context.js'
import { isFinalState } from '../task/states.js'
import { taskUrl } from '../task/start.js'
import { errorMessage, oneLine, plural } from '../words.js'
import { openCollectedMarks, type CollectedMarks } from './collected-marks.js'
import type { StepContext } from './context.js'

/** More than this in one run would make one job's log and summary unreadable: the rest wait for the next run. */
export const MAX_COLLECTED_PER_RUN = 20

/**
 * A task that ended before its step's hand-off time was followed to its end and reported by that step (a task it
 * followed whole, the first task of an infrastructure retry): it is not collected again. Unknown dates: collected.
 */
export function endedBeforeHandOff(task: TaskOutputWire): boolean {
  const handOffAt = Date.parse(task.labels?.[HAND_OFF_AT_LABEL] ?? '')
  const ended = Date.parse(task.endDate ?? '')
  // An unfinished task's endDate is .NET's DateTime.MinValue (year 1): not an end.
  return Number.isFinite(handOffAt) && Number.isFinite(ended) && ended > 0 && ended < handOffAt
}

export async function collectHandedOff(
  settings: Settings,
  client: QarnotClient,
  context: StepContext,
  reportOne: (settings: Settings) => Promise<StepReport>
): Promise<void> {
  const { io } = context
  const tag = handOffTag(context.env.GITHUB_REPOSITORY)
  let listed
  try {
    listed = (await client.listTasksWithTag(tag)).filter(
      task => (task.tags ?? []).includes(tag) && !endedBeforeHandOff(task)
    )
  } catch (error) {
    setCounts(io, Outcome.Failure)
    io.setFailed(`The handed-off tasks could not be listed (tag ${tag}): ${errorMessage(error)}`)
    return
  }
  const marks = await marksOrWarning(settings, client, context, listed)
  try {
    // The list may be trimmed (docs/rerun.md): the state is taken from each task's own read.
    const finished = listed.filter(task => isFinalState(task.state))
    const unmarked = finished.filter(task => !marks?.has(task.uuid))
    const ended = unmarked.slice(0, MAX_COLLECTED_PER_RUN)
    const running = listed.filter(task => !isFinalState(task.state))
    for (const task of running)
      io.info(
        `Task ${task.uuid} ("${oneLine(task.name ?? '', 100)}") was handed off and is still ${oneLine(task.state, 40)}: a later run collects it (${taskUrl(task.uuid)}).`
      )
    const earlier = finished.length - unmarked.length
    io.info(
      `${plural(listed.length, 'handed-off task')} found: ${ended.length} ended, collected now; ${running.length} still running${earlier > 0 ? `; ${earlier} collected by an earlier run, left out` : ''}.`
    )
    if (ended.length === 0) return setCounts(io, running.length > 0 ? Outcome.HandedOff : Outcome.Success)
    const outcomes: string[] = []
    for (const task of ended) {
      const report = await reportOne({ ...settings, followTask: task.uuid, collectHandedOff: undefined })
      outcomes.push(report.outcome)
      if (report.verdict !== undefined) await settle(settings, task.uuid, report, client, context, marks)
    }
    // The step's outcome over every task collected: the first that did not succeed, else success.
    io.setOutput(Output.Outcome, outcomes.find(outcome => outcome !== Outcome.Success) ?? Outcome.Success)
  } finally {
    marks?.close()
  }
}

/** Nothing collected (or nothing listed): the outcome, and counts of zero. */
function setCounts(io: StepContext['io'], outcome: string): void {
  for (const count of [Output.InstanceCount, Output.SucceededCount, Output.FailedCount])
    io.setOutput(count, '0')
  io.setOutput(Output.Outcome, outcome)
}

/** The marks of earlier runs; when storage cannot give them, a warning (only when an ended task may be reported twice). */
async function marksOrWarning(
  settings: Settings,
  client: QarnotClient,
  { io, env, stop }: StepContext,
  listed: readonly TaskOutputWire[]
): Promise<CollectedMarks | undefined> {
  if (!listed.some(task => isFinalState(task.state))) return undefined
  const marks = await openCollectedMarks(client, env, settings.token, stop)
  if ('has' in marks) return marks
  if (!settings.collectHandedOff?.deleteCollected)
    io.warning(
      `The tasks already collected cannot be told apart (${marks.unavailable}): each ended task is reported, and the next run reports them again. Set auto-delete: true to delete each task once reported.`
    )
  return undefined
}

/** A task reported with a verdict is not reported again: deleted (auto-delete), else marked as collected. */
async function settle(
  settings: Settings,
  uuid: string,
  report: StepReport,
  client: QarnotClient,
  { io, env }: StepContext,
  marks: CollectedMarks | undefined
): Promise<void> {
  let why: string | undefined
  if (settings.collectHandedOff?.deleteCollected) {
    try {
      await client.deleteTask(uuid)
      io.info(`Task ${uuid} was reported whole and deleted from Qarnot (auto-delete: true).`)
      return
    } catch (error) {
      why = `it could not be deleted (${errorMessage(error)})`
    }
  }
  if (marks) {
    const failed = await marks.mark(uuid, { outcome: report.outcome, runUrl: readRunContext(env).runUrl })
    if (failed === undefined) {
      io.info(`Task ${uuid} was reported and marked as collected: later runs leave it out.`)
      return
    }
    why = `${why ? `${why}, and ` : ''}it could not be marked as collected (${failed})`
  }
  if (why) io.warning(`Task ${uuid} was reported, but ${why}: the next run reports it again.`)
}
