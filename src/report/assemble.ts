/** What happened -> the step's report: the verdict, the outcome and their wording, and what to show. Pure. */
import type { Settings } from '../inputs/settings.js'
import type { FollowResult } from '../task/follow.js'
import { taskUrl, type StartedTask } from '../task/start.js'
import { decideVerdict, describeUnexpected } from '../task/verdict.js'
import { NO_OUTPUT, type StepReport } from './model.js'
import { decideOutcome, describeOutcome, type StepEnding } from './outcome.js'

export interface WhatHappened {
  readonly ending: StepEnding
  readonly task?: StartedTask
  readonly followed?: FollowResult
  readonly elapsedMs: number
}

export function assembleReport(
  settings: Settings,
  { ending, task, followed, elapsedMs }: WhatHappened
): StepReport {
  const verdict = followed && task ? decideVerdict(followed.task, task.requested) : undefined
  const outcome = decideOutcome(ending, verdict)
  const wording = describeOutcome({
    ending,
    outcome,
    verdict,
    uuid: task?.uuid,
    timeoutMs: settings.timeoutMs
  })
  const unexpected = verdict ? describeUnexpected(verdict) : ''
  return {
    outcome,
    ...wording,
    task: task
      ? { uuid: task.uuid, url: taskUrl(task.uuid), name: task.name || settings.task?.name || '' }
      : undefined,
    state: followed?.task?.state ?? (ending.kind === 'submitted' ? 'Submitted' : 'Unknown'),
    verdict,
    requestedCount: settings.task?.instances.count,
    outputs: followed?.files ?? NO_OUTPUT,
    logsDir: followed?.files.dir,
    elapsedMs,
    notes: [...(followed?.output.notes ?? []), ...(unexpected ? [unexpected] : [])]
  }
}
