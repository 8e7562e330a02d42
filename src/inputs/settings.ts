/**
 * The action's inputs -> one typed, validated Settings object, and the smaller one the post step needs, built from
 * the same readers. Every problem is an InputError naming the input and the fix, raised before anything is sent.
 */
import { Input } from '../constants.js'
import type { KeyValue } from '../input-formats/key-values.js'
import {
  InputError,
  readApiUrl,
  readBoolean,
  readDuration,
  readToken,
  readWholeNumber,
  type InputReader
} from './read.js'
import {
  makeShortname,
  readConstants,
  readInstances,
  readLabels,
  readName,
  readPlacement,
  readTags,
  type InstanceSelection,
  type Placement
} from './task.js'

/** What describes a task to create. */
export interface TaskSpec extends Placement {
  readonly instances: InstanceSelection
  /** Every constant sent to Qarnot: image constants, the user's, then DOCKER_CMD. */
  readonly constants: KeyValue[]
  readonly name: string
  readonly shortname: string
  readonly tags: string[]
  readonly labels: Record<string, string>
  readonly maxRetriesPerInstance: number
  readonly autoDelete: boolean
}

export interface Settings {
  readonly token: string
  readonly apiUrl: string
  /** The task to create; absent when following an existing one. */
  readonly task: TaskSpec | undefined
  /** An existing task (uuid or shortname) to follow instead of creating one. */
  readonly followTask: string | undefined
  /** Values to register as secrets: the token, every `QARNOT_SECRET__` constant, and the GitHub token. */
  readonly secrets: string[]
  readonly wait: boolean
  readonly timeoutMs: number | undefined
  readonly abortOnCancel: boolean
  readonly streamLogs: boolean
  readonly summary: boolean
  /** Floor of the wait between status reads; 0 leaves the adaptive schedule alone. */
  readonly pollFloorMs: number
  readonly prComment: boolean
  readonly githubToken: string
}

export interface SettingsContext {
  readonly env: NodeJS.ProcessEnv
  /** Random hex for the shortname; a parameter so tests are deterministic. */
  readonly randomHex: string
  /** Labels and a tag that lead from the task back to the run (added to the user's own). */
  readonly trace?: { readonly labels: Record<string, string>; readonly tag: string }
}

/** Inputs that describe a task to create, and so make no sense with `task`. */
const CREATION_INPUTS = [
  Input.Command,
  Input.InstanceCount,
  Input.InstanceRange,
  Input.DockerImage,
  Input.Constants
] as const

function readFollowTask(read: InputReader): string | undefined {
  const task = read(Input.Task)
  if (task === '') return undefined
  if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/.test(task)) {
    throw new InputError(
      Input.Task,
      `"${task}" is neither a task UUID nor a shortname; copy it from the submitting step's task-uuid output`
    )
  }
  const clash = CREATION_INPUTS.find(input => read(input) !== '')
  if (clash) {
    throw new InputError(
      Input.Task,
      `follows an existing task, so '${clash}' (which describes a task to create) cannot be used with it; remove one of them`
    )
  }
  return task
}

function readTaskSpec(read: InputReader, context: SettingsContext): { spec: TaskSpec; secrets: string[] } {
  const instances = readInstances(read)
  const placement = readPlacement(read)
  const { constants, secrets } = readConstants(read, placement.profile)
  const spec: TaskSpec = {
    ...placement,
    instances,
    constants,
    name: readName(read, context.env),
    shortname: makeShortname(context.env, context.randomHex),
    tags: [...new Set([...readTags(read), ...(context.trace ? [context.trace.tag] : [])])],
    labels: { ...context.trace?.labels, ...readLabels(read) },
    maxRetriesPerInstance: readWholeNumber(read, Input.MaxRetriesPerInstance, 0) ?? 0,
    autoDelete: readBoolean(read, Input.AutoDelete, false)
  }
  return { spec, secrets }
}

/** Builds and validates the settings; throws InputError on the first problem. */
export function readSettings(read: InputReader, context: SettingsContext): Settings {
  const token = readToken(read)
  const apiUrl = readApiUrl(read, context.env)
  const followTask = readFollowTask(read)
  const created = followTask === undefined ? readTaskSpec(read, context) : undefined
  const githubToken = read(Input.GithubToken)
  return {
    token,
    apiUrl,
    task: created?.spec,
    followTask,
    secrets: [token, ...(created?.secrets ?? []), ...(githubToken ? [githubToken] : [])],
    wait: readBoolean(read, Input.Wait, true),
    timeoutMs: readDuration(read, Input.Timeout),
    abortOnCancel: readBoolean(read, Input.AbortOnCancel, true),
    streamLogs: readBoolean(read, Input.StreamLogs, true),
    summary: readBoolean(read, Input.Summary, true),
    pollFloorMs: readDuration(read, Input.PollInterval, 600_000) ?? 0,
    prComment: readBoolean(read, Input.PrComment, false),
    githubToken
  }
}

/** What the post step needs: the same token, API URL and abort-on-cancel as main, read the same way. */
export interface PostSettings {
  readonly token: string
  readonly apiUrl: string
  readonly abortOnCancel: boolean
}

export function readPostSettings(read: InputReader, env: NodeJS.ProcessEnv): PostSettings {
  return {
    token: readToken(read),
    apiUrl: readApiUrl(read, env),
    abortOnCancel: readBoolean(read, Input.AbortOnCancel, true)
  }
}
