/**
 * What the log shows while a task runs: state changes and progress, and each instance's output as it arrives,
 * labelled with its instance id and fenced so that the runner takes none of it as a workflow command.
 */
import { randomUUID } from 'node:crypto'
import type { ActionIO } from '../action-io.js'
import type { OutputStream } from '../qarnot/client.js'
import type { TaskOutputWire } from '../qarnot/types.js'
import { describeProgress, progressCounts } from '../task/progress.js'
import { isKnownState } from '../task/states.js'
import type { Clock } from '../task/clock.js'
import type { InstanceResult } from '../task/verdict.js'
import { writeUntrusted } from './log.js'
import type { OutputReader } from './model.js'
import { failedFirst } from './summary.js'

/** Progress lines at most this often, state changes always. */
const PROGRESS_EVERY_MS = 10_000

/** Logs state changes at once and progress at most every PROGRESS_EVERY_MS. */
export function progressLogger(io: ActionIO, clock: Clock): (task: TaskOutputWire) => void {
  let lastState = ''
  let lastLine = ''
  let lastAt = 0
  const warned = new Set<string>()
  return task => {
    const line = describeProgress(progressCounts(task))
    if (task.state !== lastState) {
      if (!isKnownState(task.state) && !warned.has(task.state)) {
        warned.add(task.state)
        io.warning(`Qarnot reports the unknown task state "${task.state}"; still waiting for a final state.`)
      }
      io.info(`State: ${task.state} (${line})`)
      lastState = task.state
    } else if (line !== lastLine && clock.now() - lastAt >= PROGRESS_EVERY_MS) {
      io.info(line)
    } else {
      return
    }
    lastLine = line
    lastAt = clock.now()
  }
}

/** Live log lines: `3> text` for stdout, `3 err> text` for stderr, fenced so the runner takes none as a command. */
export function liveLog(
  io: ActionIO
): (stream: OutputStream, chunks: ReadonlyMap<number, string>) => Promise<void> {
  return async (stream, chunks) => {
    const label = stream === 'stdout' ? '>' : ' err>'
    const parts: string[] = []
    for (const [id, text] of chunks) parts.push(text.replace(/\r?\n$/, '').replace(/^/gm, `${id}${label} `))
    writeUntrusted(io, parts.join('\n'), `qarnot-${randomUUID()}`)
    await io.logDrained()
  }
}

/** Failed instances' output repeated at the end of the log, per instance. */
const FAILED_TAIL_LOG_BYTES = 64 * 1024
/** Groups of failed instances at the end of the log, at most. */
const FAILED_GROUPS = 50

/** The failures again, each in its own group, so that they need no search through the live log. */
export function logFailedInstances(
  io: Pick<ActionIO, 'info' | 'startGroup' | 'endGroup'>,
  instances: readonly InstanceResult[],
  outputs: OutputReader
): void {
  const failed = failedFirst(instances).filter(i => i.state !== 'Success')
  for (const instance of failed.slice(0, FAILED_GROUPS)) {
    io.startGroup(`Instance ${instance.id}: ${instance.state}${instance.error ? ` (${instance.error})` : ''}`)
    for (const stream of ['stdout', 'stderr'] as const) {
      const { text, totalBytes } = outputs.tail(instance.id, stream, FAILED_TAIL_LOG_BYTES)
      if (totalBytes === 0) continue
      const cut = Buffer.byteLength(text) < totalBytes ? ` (last ${FAILED_TAIL_LOG_BYTES / 1024} KiB)` : ''
      io.info(`--- ${stream}${cut} ---`)
      writeUntrusted(io, text)
    }
    io.endGroup()
  }
  if (failed.length > FAILED_GROUPS) {
    io.info(`${failed.length - FAILED_GROUPS} more failed instances: see the summary and the logs folder.`)
  }
}
