/**
 * Task output in the step log. It is untrusted: it is written between `::stop-commands::` markers so that a line
 * such as `::add-mask::x` or `::error::x` printed by an instance stays text.
 */
import { randomUUID } from 'node:crypto'
import type { ActionIO } from '../action-io.js'

/** Writes `text` so that the runner takes none of it as a workflow command. */
export function writeUntrusted(
  io: Pick<ActionIO, 'info'>,
  text: string,
  token = `qarnot-${randomUUID()}`
): void {
  if (text === '') return
  io.info(`::stop-commands::${token}`)
  io.info(text.replace(/\n$/, ''))
  io.info(`::${token}::`)
}
