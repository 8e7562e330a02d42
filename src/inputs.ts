/**
 * The action's inputs -> one typed, validated Settings object. Every problem is an InputError naming the input and
 * the fix, raised before anything is sent to Qarnot.
 */
import { DEFAULT_API_URL, Env, Input, type InputName } from './constants.js'
import { dockerImageConstants, parseDockerImage } from './input-formats/docker-image.js'
import { parseDuration } from './input-formats/duration.js'
import { parseHardware, type HardwareConstraint } from './input-formats/hardware.js'
import { parseKeyValueLines, parseList, type KeyValue } from './input-formats/key-values.js'
import { countIds, countToIntervals, formatRanges, parseRanges, type IdInterval } from './ranges.js'

export type SchedulingType = 'Flex' | 'OnDemand' | 'Reserved'

export type InstanceSelection =
  | { readonly kind: 'count'; readonly count: number; readonly intervals: IdInterval[] }
  | {
      readonly kind: 'range'
      readonly text: string
      readonly count: number
      readonly intervals: IdInterval[]
    }

export interface Settings {
  readonly token: string
  readonly apiUrl: string
  readonly command: string | undefined
  readonly instances: InstanceSelection
  /** Absent when the task runs in a pool. */
  readonly profile: string | undefined
  readonly pool: string | undefined
  /** Every constant sent to Qarnot: image constants, the user's, then DOCKER_CMD. */
  readonly constants: KeyValue[]
  /** Values to register as secrets: the token, every `QARNOT_SECRET__` constant, and the GitHub token. */
  readonly secrets: string[]
  readonly name: string
  readonly shortname: string
  readonly tags: string[]
  readonly labels: Record<string, string>
  readonly hardware: HardwareConstraint[]
  readonly scheduling: SchedulingType | undefined
  readonly maxRetriesPerInstance: number
  readonly autoDelete: boolean
  readonly wait: boolean
  readonly timeoutMs: number | undefined
  readonly abortOnCancel: boolean
  readonly streamLogs: boolean
  readonly summary: boolean
  /** Floor of the wait between status reads; 0 leaves the adaptive schedule alone. */
  readonly pollFloorMs: number
  /** An existing task (uuid or shortname) to follow instead of creating one. */
  readonly followTask: string | undefined
  readonly prComment: boolean
  readonly githubToken: string
}

/** Reads one input as the runner passes it (already trimmed, `""` when unset). */
export type InputReader = (name: InputName) => string

export class InputError extends Error {
  constructor(
    readonly input: InputName,
    detail: string
  ) {
    super(`Input '${input}': ${detail}`)
    this.name = 'InputError'
  }
}

// API rules (qarnot-api.md section 3).
export const LIMITS = {
  nameLength: 2047,
  constantCount: 150,
  constantLength: 2048,
  /** Qarnot takes fewer than 10; one is the action's own `github-actions` tag. */
  tagCount: 8,
  tagLength: 511,
  shortnameLength: 64
} as const
const CONSTANT_KEY = /^[A-Za-z0-9_.-]+$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const SECRET_CONSTANT_PREFIX = 'QARNOT_SECRET__'
const DOCKER_IMAGE_KEYS = ['DOCKER_REPO', 'DOCKER_TAG', 'DOCKER_SRV']

/** Wraps a parser so that its Error becomes an InputError of `input`. */
function about<T>(input: InputName, parse: () => T): T {
  try {
    return parse()
  } catch (error) {
    if (error instanceof InputError) throw error
    throw new InputError(input, error instanceof Error ? error.message : String(error))
  }
}

function readBoolean(read: InputReader, input: InputName, fallback: boolean): boolean {
  const text = read(input)
  if (text === '') return fallback
  if (/^true$/i.test(text)) return true
  if (/^false$/i.test(text)) return false
  throw new InputError(input, `"${text}" is not a boolean; write true or false`)
}

function readWholeNumber(read: InputReader, input: InputName, minimum: number): number | undefined {
  const text = read(input)
  if (text === '') return undefined
  if (!/^\d+$/.test(text))
    throw new InputError(input, `"${text}" is not a whole number; write for example ${minimum + 3}`)
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value > 2 ** 31 - 1) throw new InputError(input, `${text} is too large`)
  if (value < minimum) throw new InputError(input, `${text} is below the minimum of ${minimum}`)
  return value
}

function readInstances(read: InputReader): InstanceSelection {
  const countText = read(Input.InstanceCount)
  const rangeText = read(Input.InstanceRange)
  if (countText !== '' && rangeText !== '') {
    throw new InputError(
      Input.InstanceRange,
      `cannot be used with 'instance-count' (${countText}); keep one of them: instance-count: N for ids 0..N-1, or instance-range for chosen ids`
    )
  }
  if (rangeText !== '') {
    const intervals = about(Input.InstanceRange, () => parseRanges(rangeText))
    return { kind: 'range', text: formatRanges(intervals), count: countIds(intervals), intervals }
  }
  const count = readWholeNumber(read, Input.InstanceCount, 1) ?? 1
  return { kind: 'count', count, intervals: countToIntervals(count) }
}

function readConstants(read: InputReader): KeyValue[] {
  const constants = about(Input.Constants, () => parseKeyValueLines(read(Input.Constants)))
  for (const { key, value } of constants) {
    if (!CONSTANT_KEY.test(key)) {
      throw new InputError(
        Input.Constants,
        `key "${key}" may only hold letters, digits, "_", "." and "-"; rename it (e.g. ${key.replace(/[^A-Za-z0-9_.-]/g, '_')})`
      )
    }
    if (key.length > LIMITS.constantLength) {
      throw new InputError(
        Input.Constants,
        `key "${key.slice(0, 40)}..." is over ${LIMITS.constantLength} characters`
      )
    }
    if (value.length > LIMITS.constantLength) {
      throw new InputError(
        Input.Constants,
        `the value of "${key}" is ${value.length} characters, over Qarnot's ${LIMITS.constantLength}; pass large data as a file in a bucket instead`
      )
    }
  }
  return constants
}

function readLabels(read: InputReader): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const { key, value } of about(Input.Labels, () => parseKeyValueLines(read(Input.Labels)))) {
    labels[key] = value
  }
  return labels
}

function readTags(read: InputReader): string[] {
  const tags = parseList(read(Input.Tags))
  if (tags.length > LIMITS.tagCount) {
    throw new InputError(
      Input.Tags,
      `${tags.length} tags given; Qarnot takes at most ${LIMITS.tagCount}, remove some`
    )
  }
  const long = tags.find(tag => tag.length > LIMITS.tagLength)
  if (long)
    throw new InputError(
      Input.Tags,
      `"${long.slice(0, 40)}..." is over ${LIMITS.tagLength} characters; shorten it`
    )
  if (new Set(tags).size !== tags.length) throw new InputError(Input.Tags, 'a tag is given twice; keep one')
  return tags
}

function readScheduling(read: InputReader): SchedulingType | undefined {
  const text = read(Input.Scheduling)
  if (text === '') return undefined
  const word = text.toLowerCase().replace(/[-_\s]/g, '')
  if (word === 'flex') return 'Flex'
  if (word === 'ondemand') return 'OnDemand'
  if (word === 'reserved') return 'Reserved'
  throw new InputError(
    Input.Scheduling,
    `"${text}" is not a scheduling type; write flex, on-demand or reserved`
  )
}

function readApiUrl(read: InputReader, env: NodeJS.ProcessEnv): string {
  const text = read(Input.ApiUrl) || env[Env.ClusterUrl]?.trim() || DEFAULT_API_URL
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new InputError(Input.ApiUrl, `"${text}" is not a URL; write for example ${DEFAULT_API_URL}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InputError(Input.ApiUrl, `"${text}" must start with https:// (or http:// for a local emulator)`)
  }
  if (url.search !== '' || url.hash !== '')
    throw new InputError(Input.ApiUrl, `"${text}" must not carry a query or fragment`)
  return url.toString().replace(/\/+$/, '')
}

function readToken(read: InputReader): string {
  const token = read(Input.Token)
  if (token === '') {
    throw new InputError(
      Input.Token,
      'is empty; pass your Qarnot API token from a secret: token: ${{ secrets.QARNOT_TOKEN }} (a secret that is not set, e.g. in a fork, reads as empty)'
    )
  }
  if (/\s/.test(token)) {
    throw new InputError(
      Input.Token,
      'contains white space; copy the token again from Tasq without spaces or line breaks'
    )
  }
  return token
}

/** A task name from the run, so that the task on Tasq says where it came from. */
function defaultName(env: NodeJS.ProcessEnv): string {
  const parts = [env.GITHUB_REPOSITORY, env.GITHUB_WORKFLOW, env.GITHUB_JOB].filter(Boolean)
  const run = env.GITHUB_RUN_NUMBER ? ` #${env.GITHUB_RUN_NUMBER}` : ''
  return parts.length > 0 ? `${parts.join(' / ')}${run}` : 'qarnot-action'
}

/** A shortname unique to this step run: it makes a retried create detectable (shortname-uniqueness). */
export function makeShortname(env: NodeJS.ProcessEnv, randomHex: string): string {
  const run = env.GITHUB_RUN_ID ? `${env.GITHUB_RUN_ID}-${env.GITHUB_RUN_ATTEMPT || '1'}` : 'local'
  const shortname = `gha-${run}-${randomHex}`.replace(/[^A-Za-z0-9-]/g, '-')
  return shortname.slice(0, LIMITS.shortnameLength).replace(/-+$/, '')
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

/** Builds and validates the settings; throws InputError on the first problem. */
export function readSettings(read: InputReader, context: SettingsContext): Settings {
  const token = readToken(read)
  const apiUrl = readApiUrl(read, context.env)
  const followTask = read(Input.Task) || undefined
  if (followTask !== undefined) {
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(followTask)) {
      throw new InputError(
        Input.Task,
        `"${followTask}" is neither a task UUID nor a shortname; copy it from the submitting step's task-uuid output`
      )
    }
    const clash = CREATION_INPUTS.find(input => read(input) !== '')
    if (clash) {
      throw new InputError(
        Input.Task,
        `follows an existing task, so '${clash}' (which describes a task to create) cannot be used with it; remove one of them`
      )
    }
  }
  const instances = readInstances(read)

  const pool = read(Input.Pool) || undefined
  if (pool !== undefined && !UUID.test(pool)) {
    throw new InputError(Input.Pool, `"${pool}" is not a pool UUID; copy the pool's UUID from Tasq`)
  }
  const profileText = read(Input.Profile)
  if (pool === undefined && profileText === '') {
    throw new InputError(Input.Profile, 'is empty; name a Qarnot profile such as docker-batch, or set pool')
  }
  if (profileText !== '' && !/^[A-Za-z0-9_.-]+$/.test(profileText)) {
    throw new InputError(
      Input.Profile,
      `"${profileText}" is not a profile name; write for example docker-batch`
    )
  }
  const profile = pool === undefined ? profileText : undefined

  const userConstants = readConstants(read)
  const userKeys = new Set(userConstants.map(c => c.key))
  const constants: KeyValue[] = []

  const imageText = read(Input.DockerImage)
  if (imageText !== '') {
    const image = about(Input.DockerImage, () => parseDockerImage(imageText))
    const clash = DOCKER_IMAGE_KEYS.find(key => userKeys.has(key))
    if (clash) {
      throw new InputError(
        Input.DockerImage,
        `is given and 'constants' also sets ${clash}; keep only one of them`
      )
    }
    constants.push(...dockerImageConstants(image))
  }
  constants.push(...userConstants)

  const command = read(Input.Command) || undefined
  if (command !== undefined) {
    if (userKeys.has('DOCKER_CMD')) {
      throw new InputError(
        Input.Command,
        "is given and 'constants' also sets DOCKER_CMD; keep only one of them"
      )
    }
    if (command.length > LIMITS.constantLength) {
      throw new InputError(
        Input.Command,
        `is ${command.length} characters, over Qarnot's ${LIMITS.constantLength}; put the work in a script in your image`
      )
    }
    constants.push({ key: 'DOCKER_CMD', value: command })
  } else if (
    followTask === undefined &&
    !userKeys.has('DOCKER_CMD') &&
    (profile ?? '').startsWith('docker')
  ) {
    throw new InputError(
      Input.Command,
      'is empty; give the command every instance runs, e.g. command: echo ${INSTANCE_ID}'
    )
  }
  if (constants.length > LIMITS.constantCount) {
    throw new InputError(
      Input.Constants,
      `${constants.length} constants in all (with the image and command); Qarnot takes at most ${LIMITS.constantCount}`
    )
  }

  const name = read(Input.Name) || defaultName(context.env)
  if (name.length > LIMITS.nameLength) {
    throw new InputError(
      Input.Name,
      `is ${name.length} characters; Qarnot takes at most ${LIMITS.nameLength}`
    )
  }

  const hardware = about(Input.Hardware, () => parseHardware(parseList(read(Input.Hardware))))
  const pollText = read(Input.PollInterval)
  const pollFloorMs = pollText === '' ? 0 : about(Input.PollInterval, () => parseDuration(pollText))
  if (pollFloorMs > 600_000) {
    throw new InputError(
      Input.PollInterval,
      `${pollText} is over 10 minutes; a task's end would be noticed far too late`
    )
  }
  const timeoutText = read(Input.Timeout)
  const timeoutMs = timeoutText === '' ? undefined : about(Input.Timeout, () => parseDuration(timeoutText))

  return {
    token,
    apiUrl,
    command,
    instances,
    profile,
    pool,
    constants,
    secrets: [
      token,
      ...userConstants
        .filter(c => c.key.startsWith(SECRET_CONSTANT_PREFIX) && c.value !== '')
        .map(c => c.value),
      ...(read(Input.GithubToken) ? [read(Input.GithubToken)] : [])
    ],
    name,
    shortname: makeShortname(context.env, context.randomHex),
    tags: [...new Set([...readTags(read), ...(context.trace ? [context.trace.tag] : [])])],
    labels: { ...context.trace?.labels, ...readLabels(read) },
    hardware,
    scheduling: readScheduling(read),
    maxRetriesPerInstance: readWholeNumber(read, Input.MaxRetriesPerInstance, 0) ?? 0,
    autoDelete: readBoolean(read, Input.AutoDelete, false),
    wait: readBoolean(read, Input.Wait, true),
    timeoutMs,
    abortOnCancel: readBoolean(read, Input.AbortOnCancel, true),
    streamLogs: readBoolean(read, Input.StreamLogs, true),
    summary: readBoolean(read, Input.Summary, true),
    pollFloorMs,
    followTask,
    prComment: readBoolean(read, Input.PrComment, false),
    githubToken: read(Input.GithubToken)
  }
}
