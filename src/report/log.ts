/**
 * Each instance's output in the step log, grouped per instance. Task output is untrusted: it is written between
 * `::stop-commands::` markers so a line such as `::add-mask::x` or `::error::x` stays text.
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

export function writeInstanceLog(
  io: Pick<ActionIO, 'info' | 'startGroup' | 'endGroup'>,
  id: number,
  state: string,
  stdout: string,
  stderr: string
): void {
  io.startGroup(`Instance ${id}: ${state}`)
  try {
    if (stdout === '' && stderr === '') io.info('(no output)')
    writeUntrusted(io, stdout)
    if (stderr !== '') {
      io.info('--- stderr ---')
      writeUntrusted(io, stderr)
    }
  } finally {
    io.endGroup()
  }
}
