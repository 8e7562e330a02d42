/**
 * Before the first request to Qarnot: the inputs read, where a pull request's code comes from checked
 * (docs/security.md), the files the inputs name looked at. A refused step has its failure told and its outcome set.
 */
import { randomBytes } from 'node:crypto'
import { Outcome, Output, type OutcomeValue } from '../constants.js'
import type { ApprovedCommit } from '../github/fork-gate.js'
import { formatDuration } from '../input-formats/duration.js'
import { readInputs, type Settings } from '../inputs/settings.js'
import { prepareFiles, type PreparedFiles } from '../storage/session.js'
import { errorMessage } from '../words.js'
import { boundedSignal, type StepContext } from './context.js'
import { guardPullRequestSource, withheldSecrets, type SourceCheckContext } from './pull-request-source.js'

export type ReadyContext = StepContext &
  Omit<SourceCheckContext, keyof StepContext> & {
    readonly randomHex?: () => string
  }

/** What is known before the first request to Qarnot: the settings, the files, who approved a fork's commit. */
export interface Ready {
  readonly settings: Settings
  readonly prepared: PreparedFiles | undefined
  readonly approval: ApprovedCommit | undefined
}

/** The settings, unless a fork's pull request was run without the secrets (said as such, not as a bad token). */
export function readSettings(deps: ReadyContext): Settings | undefined {
  if (withheldSecrets(deps.io, deps.env)) {
    refuse(deps, Outcome.RefusedFork)
    return undefined
  }
  const settings = readInputs(deps.io, deps.env, deps.randomHex?.() ?? randomBytes(5).toString('hex'))
  if (!settings) refuse(deps, Outcome.Failure)
  return settings
}

/**
 * Where a pull request's code comes from, then the files: both checked before anything is sent to Qarnot
 * (docs/security.md). Undefined when the step was refused, its outcome already set.
 */
export async function readyOrRefused(
  read: Settings | undefined,
  deps: ReadyContext
): Promise<Ready | undefined> {
  if (!read) return undefined
  const checked = await guardPullRequestSource(read, deps)
  if (typeof checked !== 'object') return void refuse(deps, checked ?? Outcome.Failure)
  const prepared = await checkFiles(checked.settings, deps)
  if (typeof prepared === 'string') return void refuse(deps, prepared)
  return { settings: checked.settings, prepared, approval: checked.approval }
}

/** Refused before anything was made: `outcome` and the counts still say so, for the steps that read them. */
function refuse(deps: Pick<StepContext, 'io'>, outcome: OutcomeValue): void {
  deps.io.setOutput(Output.Outcome, outcome)
  for (const count of [Output.InstanceCount, Output.SucceededCount, Output.FailedCount])
    deps.io.setOutput(count, '0')
}

/**
 * The files the inputs name, checked on disk before any request, within the step's stop and timeout; when one is
 * wrong (or the walk was cut short), the step has failed and this is its outcome.
 */
async function checkFiles(
  settings: Settings,
  context: Pick<StepContext, 'io' | 'stop' | 'deadline'>
): Promise<PreparedFiles | undefined | OutcomeValue> {
  if (!settings.files) return undefined
  const { io } = context
  const signal = boundedSignal(context)
  try {
    return await prepareFiles(settings.files, { signal, warn: message => io.warning(message) })
  } catch (error) {
    if (context.stop.aborted) {
      io.setFailed(
        'The step was cancelled while the files named by resources were being looked at; no task was created.'
      )
      return Outcome.Cancelled
    }
    if (signal.aborted) {
      io.setFailed(
        `The timeout of ${formatDuration(settings.timeoutMs ?? 0)} passed while the files named by resources were being looked at; no task was created.`
      )
      return Outcome.TimedOut
    }
    io.setFailed(errorMessage(error))
    return Outcome.Failure
  }
}
