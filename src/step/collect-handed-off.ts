/**
 * `task: handed-off` (docs/long-runs.md): a scheduled collector. Every task of this repository that a step handed
 * off carries the repository's hand-off tag (inputs/hand-off.ts); each one that has ended is reported whole, as a
 * step with `task: <uuid>` would, and each still running is named and left alone for a later run. With
 * `auto-delete: true` a task is deleted from Qarnot once reported (its buckets stay), so it is reported once.
 */
import { Outcome, Output } from '../constants.js'
import { HAND_OFF_AT_LABEL, handOffTag } from '../inputs/hand-off.js'
import type { Settings } from '../inputs/settings.js'
import type { QarnotClient } from '../qarnot/client.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import type { StepReport } from '../report/model.js'
import { isFinalState } from '../task/states.js'
import { taskUrl } from '../task/start.js'
import { errorMessage, oneLine, plural } from '../words.js'
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
    io.setOutput(Output.Outcome, Outcome.Failure)
    for (const count of [Output.InstanceCount, Output.SucceededCount, Output.FailedCount])
      io.setOutput(count, '0')
    io.setFailed(`The handed-off tasks could not be listed (tag ${tag}): ${errorMessage(error)}`)
    return
  }
  // The list may be trimmed (docs/rerun.md): the state is taken from each task's own read.
  const ended = listed.filter(task => isFinalState(task.state)).slice(0, MAX_COLLECTED_PER_RUN)
  const running = listed.filter(task => !isFinalState(task.state))
  for (const task of running)
    io.info(
      `Task ${task.uuid} ("${oneLine(task.name ?? '', 100)}") was handed off and is still ${oneLine(task.state, 40)}: a later run collects it (${taskUrl(task.uuid)}).`
    )
  io.info(
    `${plural(listed.length, 'handed-off task')} found: ${ended.length} ended, collected now; ${running.length} still running.`
  )
  if (ended.length === 0) {
    for (const count of [Output.InstanceCount, Output.SucceededCount, Output.FailedCount])
      io.setOutput(count, '0')
    io.setOutput(Output.Outcome, running.length > 0 ? Outcome.HandedOff : Outcome.Success)
    return
  }
  const outcomes: string[] = []
  for (const task of ended) {
    const report = await reportOne({ ...settings, followTask: task.uuid, collectHandedOff: undefined })
    outcomes.push(report.outcome)
    if (settings.collectHandedOff?.deleteCollected && report.verdict !== undefined) {
      try {
        await client.deleteTask(task.uuid)
        io.info(`Task ${task.uuid} was reported whole and deleted from Qarnot (auto-delete: true).`)
      } catch (error) {
        io.warning(
          `Task ${task.uuid} could not be deleted (${errorMessage(error)}): the next run reports it again.`
        )
      }
    }
  }
  // The step's outcome over every task collected: the first that did not succeed, else success.
  io.setOutput(Output.Outcome, outcomes.find(outcome => outcome !== Outcome.Success) ?? Outcome.Success)
}
