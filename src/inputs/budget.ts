/** The `max-credits` input: a cap on what the step may spend, in Qarnot credits (docs/budget.md). */
import { Input } from '../constants.js'
import { InputError, type InputReader } from './read.js'

/** More than any account holds: a cap above it is a typo (a misplaced decimal point). */
export const MOST_CREDITS = 1_000_000_000

/** A positive decimal (`50`, `12.5`), or undefined when empty; refused with `wait: false` (nothing would watch it). */
export function readMaxCredits(read: InputReader, wait: boolean): number | undefined {
  const text = read(Input.MaxCredits)
  if (text === '') return undefined
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text))
    throw new InputError(
      Input.MaxCredits,
      `"${text.length > 40 ? `${text.slice(0, 40)}…` : text}" is not a number of credits; write a positive number such as 50 or 12.5`
    )
  const value = Number(text)
  if (!(value > 0))
    throw new InputError(
      Input.MaxCredits,
      `${text} is not above 0; write the most the step may spend, e.g. 50`
    )
  if (value > MOST_CREDITS)
    throw new InputError(Input.MaxCredits, `${text} is over ${MOST_CREDITS}; check the decimal point`)
  if (!wait)
    throw new InputError(
      Input.MaxCredits,
      'needs the step to wait (wait: true): a task left to run unwatched cannot be aborted when it passes the cap'
    )
  return value
}

/** The label that carries a task's `max-credits` cap to a step that follows it later (a collector after a hand-off). */
export const MAX_CREDITS_LABEL = 'github-max-credits'
