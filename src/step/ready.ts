/**
 * Before the first request to Qarnot: the inputs read, where a pull request's code comes from checked
 * (docs/security.md), the files the inputs name looked at. A refusal is told through the io it is given, and
 * its outcome returned: main.ts reports it (report/refused.ts).
 */
import { randomBytes } from 'node:crypto'
import { Outcome, type OutcomeValue } from '../constants.js'
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

/**
 * The settings, or the outcome of a refusal (its failure told through `deps.io`): a fork's pull request run without
 * the secrets is said as such, not as a bad token.
 */
export function readSettings(deps: ReadyContext): Settings | OutcomeValue {
  const withheld = withheldSecrets(deps.io, deps.env)
  if (withheld) return withheld
  return (
    readInputs(deps.io, deps.env, deps.randomHex?.() ?? randomBytes(5).toString('hex')) ?? Outcome.Failure
  )
}

/**
 * Where a pull request's code comes from, then the files: both checked before anything is sent to Qarnot
 * (docs/security.md). Else the outcome of the refusal, its failure told through `deps.io`.
 */
export async function readyOrRefused(read: Settings, deps: ReadyContext): Promise<Ready | OutcomeValue> {
  const checked = await guardPullRequestSource(read, deps)
  if (typeof checked !== 'object') return checked ?? Outcome.Failure
  const prepared = await checkFiles(checked.settings, deps)
  if (typeof prepared === 'string') return prepared
  return { settings: checked.settings, prepared, approval: checked.approval }
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
