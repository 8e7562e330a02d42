/** An ActionIO that records what the action told the runner, for run() tests. */
import type { ActionIO } from '../../src/action-io.js'
import type { InputName, OutputName } from '../../src/constants.js'
import { evaluateDefault, readActionDefinition } from '../../src/local-runner/runner.js'

export interface RecordingIO extends ActionIO {
  readonly outputs: Record<string, string>
  readonly state: Record<string, string>
  readonly secrets: string[]
  readonly log: string[]
  readonly failures: string[]
  /** The annotation title of each failure ('' when none). */
  readonly failureTitles: string[]
  summary: string
}

/** Inputs are given as a workflow's `with:`; the rest take their action.yml defaults, as on the runner. */
export function recordingIO(inputs: Record<string, string>, state: Record<string, string> = {}): RecordingIO {
  const definition = readActionDefinition()
  const values: Record<string, string> = {}
  for (const [name, input] of Object.entries(definition.inputs))
    values[name] = (inputs[name] ?? evaluateDefault(input.default)).trim()
  for (const name of Object.keys(inputs))
    if (!(name in definition.inputs)) throw new Error(`unknown input ${name}`)
  const io: RecordingIO = {
    outputs: {},
    state: { ...state },
    secrets: [],
    log: [],
    failures: [],
    failureTitles: [],
    summary: '',
    getInput: (name: InputName) => values[name] ?? '',
    setOutput: (name: OutputName, value: string) => {
      io.outputs[name] = value
    },
    saveState: (name, value) => {
      io.state[name] = value
    },
    getState: name => io.state[name] ?? '',
    setSecret: value => {
      io.secrets.push(value)
    },
    info: message => io.log.push(message),
    warning: message => io.log.push(`::warning::${message}`),
    error: message => io.log.push(`::error::${message}`),
    debug: message => io.log.push(`::debug::${message}`),
    startGroup: title => io.log.push(`::group::${title}`),
    endGroup: () => io.log.push('::endgroup::'),
    setFailed: (message, title) => {
      io.failures.push(message)
      io.failureTitles.push(title ?? '')
      io.log.push(`::error::${message}`)
    },
    appendSummary: async markdown => {
      io.summary += markdown
    },
    logDrained: async () => undefined
  }
  return io
}
