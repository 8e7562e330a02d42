/**
 * Everything the action says to the runner, behind one small interface: inputs, outputs, state, secrets, the log
 * and the job summary. The real one is @actions/core; tests pass a recording object.
 */
import * as core from '@actions/core'
import { once } from 'node:events'
import type { InputName, OutputName } from './constants.js'
import { oneLine } from './words.js'

export interface ActionIO {
  getInput(name: InputName): string
  setOutput(name: OutputName, value: string): void
  saveState(name: string, value: string): void
  getState(name: string): string
  setSecret(value: string): void
  info(message: string): void
  warning(message: string): void
  error(message: string): void
  debug(message: string): void
  startGroup(title: string): void
  endGroup(): void
  /** Fails the step with an error annotation; `title` heads the annotation (default: none). */
  setFailed(message: string, title?: string): void
  /** Appends Markdown to the job summary; a no-op where the runner gave no summary file. */
  appendSummary(markdown: string): Promise<void>
  /** Resolves once the log has room again (its pipe drained), so that heavy output does not pile up in memory. */
  logDrained(): Promise<void>
}

export const coreIO: ActionIO = {
  getInput: name => core.getInput(name),
  setOutput: (name, value) => core.setOutput(name, value),
  saveState: (name, value) => core.saveState(name, value),
  getState: name => core.getState(name),
  setSecret: value => core.setSecret(value),
  info: message => core.info(message),
  warning: message => core.warning(message),
  error: message => core.error(message),
  debug: message => core.debug(message),
  startGroup: title => core.startGroup(title),
  endGroup: () => core.endGroup(),
  setFailed: (message, title) => {
    if (title === undefined) return core.setFailed(message)
    // core.setFailed with a title: the exit code it sets, and an annotation that has one.
    process.exitCode = core.ExitCode.Failure
    core.error(message, { title })
  },
  appendSummary: async markdown => {
    // core.summary throws without GITHUB_STEP_SUMMARY; a local run simply has no summary.
    if (!process.env.GITHUB_STEP_SUMMARY) return
    await core.summary.addRaw(markdown, true).write()
  },
  logDrained: async () => {
    if (process.stdout.writableNeedDrain) await once(process.stdout, 'drain')
  }
}

/**
 * A log line that may carry text from outside the action (an API error, a file name, a bucket name): made one line,
 * so that no part of it can start a line the runner reads as a workflow command. Warnings and errors need not:
 * @actions/core escapes their line breaks itself.
 */
export function logLine(io: Pick<ActionIO, 'info'>): (message: string) => void {
  return message => io.info(oneLine(message, 4000))
}
