/**
 * The report of a step that was refused before anything was made on Qarnot (an input, or the files it names): the
 * failure with a title, the outputs that say so, and a short job summary (what was refused, the fix). Pure apart
 * from the ActionIO it is given.
 */
import type { ActionIO } from '../action-io.js'
import { Input, Outcome, Output, type OutcomeValue } from '../constants.js'
import { errorMessage } from '../words.js'
import { redactRendered } from './redact.js'
import { tableCell } from './text.js'

const TITLES: Partial<Record<OutcomeValue, string>> = {
  [Outcome.Cancelled]: '⛔ Step cancelled before the Qarnot task was created',
  [Outcome.TimedOut]: '⏱️ Timeout reached before the Qarnot task was created',
  [Outcome.AwaitingApproval]:
    "🔒 Fork's pull request not approved for this commit: no Qarnot task was created",
  [Outcome.RefusedFork]: "🔒 Fork's pull request refused: no Qarnot task was created"
}
const REFUSED_TITLE = '❌ Input refused: no Qarnot task was created'

/** The summary's Markdown for a refusal. */
export function renderRefusal(message: string, outcome: OutcomeValue): string {
  const title = TITLES[outcome] ?? REFUSED_TITLE
  const fix =
    outcome === Outcome.Failure
      ? "Nothing was created on Qarnot. Fix what the message names in the step's `with:` (the README lists every input and what it takes), then run the job again."
      : 'Nothing was created on Qarnot.'
  return `## ${title}\n\n> ${tableCell(message)}\n\n${fix}\n`
}

/**
 * An ActionIO whose failures are held back until the refusal is reported (with a summary, by reportRefusal), and
 * the secrets it was told, so that the summary is redacted too.
 */
export function holdingRefusals(io: ActionIO): {
  readonly io: ActionIO
  readonly message: () => string
  readonly secrets: readonly string[]
} {
  const refusals: string[] = []
  const secrets: string[] = []
  const held: ActionIO = {
    ...io,
    setFailed: message => void refusals.push(message),
    setSecret: value => {
      secrets.push(value)
      io.setSecret(value)
    }
  }
  return { io: held, message: () => refusals.join(' ') || 'The inputs were refused.', secrets }
}

/** Fails the step with `message`, sets the outputs a later step reads, and writes the summary unless turned off. */
export async function reportRefusal(
  io: ActionIO,
  refusal: { readonly message: string; readonly outcome: OutcomeValue; readonly secrets: readonly string[] }
): Promise<void> {
  const { message, outcome, secrets } = refusal
  io.setOutput(Output.Outcome, outcome)
  for (const count of [Output.InstanceCount, Output.SucceededCount, Output.FailedCount])
    io.setOutput(count, '0')
  // The inputs could not be read: `summary: false` is still honoured as written.
  if (io.getInput(Input.Summary).trim().toLowerCase() !== 'false') {
    try {
      await io.appendSummary(redactRendered(renderRefusal(message, outcome), secrets))
    } catch (error) {
      io.warning(`The job summary could not be written (${errorMessage(error)}).`)
    }
  }
  io.setFailed(message, TITLES[outcome] ?? REFUSED_TITLE)
}
