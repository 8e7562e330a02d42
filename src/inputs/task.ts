/**
 * Reading the inputs that describe the task to create: which instances, where it runs, its constants and command,
 * and how it is named. Each reader raises an InputError naming its input and the fix. Limits are Qarnot's
 * (docs/qarnot-api.md §3) or the action's own, documented in action.yml.
 */
import { Input } from '../constants.js'
import { dockerImageConstants, parseDockerImage } from '../input-formats/docker-image.js'
import { parseHardware, type HardwareConstraint } from '../input-formats/hardware.js'
import { parseKeyValueLines, parseList, type KeyValue } from '../input-formats/key-values.js'
import { UUID_PATTERN } from '../qarnot/task-document.js'
import { countIds, countToIntervals, formatRanges, parseRanges, type IdInterval } from '../ranges.js'
import { InputError, about, readWholeNumber, type InputReader } from './read.js'

export type SchedulingType = 'Flex' | 'OnDemand' | 'Reserved'

export interface InstanceSelection {
  readonly kind: 'count' | 'range'
  /** The range as sent to Qarnot (`advancedRanges`), normalised; absent for a count. */
  readonly text?: string
  readonly count: number
  readonly intervals: IdInterval[]
}

export interface Placement {
  /** Absent when the task runs in a pool. */
  readonly profile: string | undefined
  readonly pool: string | undefined
  readonly hardware: HardwareConstraint[]
  readonly scheduling: SchedulingType | undefined
}

export const LIMITS = {
  nameLength: 2047,
  constantCount: 150,
  constantLength: 2048,
  /** Qarnot takes fewer than 10; two are the action's own: `github-actions`, and the step's tag for re-runs. */
  tagCount: 7,
  tagLength: 511,
  shortnameLength: 64,
  /**
   * The action's own bound on instances per task: far above what a Qarnot account runs at once, low enough that
   * every per-instance record, file and table row stays cheap.
   */
  instances: 100_000
} as const
const CONSTANT_KEY = /^[A-Za-z0-9_.-]+$/
export const SECRET_CONSTANT_PREFIX = 'QARNOT_SECRET__'
const DOCKER_IMAGE_KEYS = ['DOCKER_REPO', 'DOCKER_TAG', 'DOCKER_SRV']

export function readInstances(read: InputReader): InstanceSelection {
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
    const count = countIds(intervals)
    if (count > LIMITS.instances) {
      throw new InputError(
        Input.InstanceRange,
        `names ${count} instances; the action runs at most ${LIMITS.instances} per task: split the range over several steps or a matrix`
      )
    }
    return { kind: 'range', text: formatRanges(intervals), count, intervals }
  }
  const count = readWholeNumber(read, Input.InstanceCount, 1, LIMITS.instances) ?? 1
  return { kind: 'count', count, intervals: countToIntervals(count) }
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

export function readPlacement(read: InputReader): Placement {
  const pool = read(Input.Pool) || undefined
  if (pool !== undefined && !UUID_PATTERN.test(pool)) {
    throw new InputError(Input.Pool, `"${pool}" is not a pool UUID; copy the pool's UUID from Tasq`)
  }
  const profile = read(Input.Profile)
  if (pool === undefined && profile === '') {
    throw new InputError(Input.Profile, 'is empty; name a Qarnot profile such as docker-batch, or set pool')
  }
  if (profile !== '' && !/^[A-Za-z0-9_.-]+$/.test(profile)) {
    throw new InputError(Input.Profile, `"${profile}" is not a profile name; write for example docker-batch`)
  }
  const hardware = about(Input.Hardware, () => parseHardware(parseList(read(Input.Hardware))))
  if (pool !== undefined && hardware.length > 0) {
    // A task in a pool runs on the pool's nodes: Qarnot refuses new hardware constraints for it (docs/qarnot-api.md §10).
    throw new InputError(
      Input.Hardware,
      `cannot be used with 'pool': a task in a pool runs on the pool's hardware; remove 'hardware', or remove 'pool' to run on new nodes`
    )
  }
  return {
    pool,
    profile: pool === undefined ? profile : undefined,
    hardware,
    scheduling: readScheduling(read)
  }
}

function readUserConstants(read: InputReader): KeyValue[] {
  // With a secret among them, no line is quoted back: a secret pasted over several lines would show in the error.
  const quote = !read(Input.Constants).includes(SECRET_CONSTANT_PREFIX)
  const constants = about(Input.Constants, () => parseKeyValueLines(read(Input.Constants), { quote }))
  for (const [index, { key, value }] of constants.entries()) {
    if (!CONSTANT_KEY.test(key)) {
      throw new InputError(
        Input.Constants,
        !quote
          ? `the key of constant ${index + 1} may only hold letters, digits, "_", "." and "-"; rename it`
          : `key "${key}" may only hold letters, digits, "_", "." and "-"; rename it (e.g. ${key.replace(/[^A-Za-z0-9_.-]/g, '_')})`
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

function imageConstants(read: InputReader, userKeys: ReadonlySet<string>): KeyValue[] {
  const imageText = read(Input.DockerImage)
  if (imageText === '') return []
  const image = about(Input.DockerImage, () => parseDockerImage(imageText))
  const clash = DOCKER_IMAGE_KEYS.find(key => userKeys.has(key))
  if (clash) {
    throw new InputError(
      Input.DockerImage,
      `is given and 'constants' also sets ${clash}; keep only one of them`
    )
  }
  return dockerImageConstants(image)
}

function commandConstant(
  read: InputReader,
  userKeys: ReadonlySet<string>,
  profile: string | undefined
): KeyValue[] {
  const command = read(Input.Command)
  if (command === '') {
    if (!userKeys.has('DOCKER_CMD') && (profile ?? '').startsWith('docker')) {
      throw new InputError(
        Input.Command,
        'is empty; give the command every instance runs, e.g. command: echo ${INSTANCE_ID}'
      )
    }
    return []
  }
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
  return [{ key: 'DOCKER_CMD', value: command }]
}

/** Every constant sent to Qarnot: the image's, the user's, then DOCKER_CMD; and the values to mask. */
export function readConstants(
  read: InputReader,
  profile: string | undefined
): { constants: KeyValue[]; secrets: string[] } {
  const user = readUserConstants(read)
  const userKeys = new Set(user.map(c => c.key))
  const constants = [...imageConstants(read, userKeys), ...user, ...commandConstant(read, userKeys, profile)]
  if (constants.length > LIMITS.constantCount) {
    throw new InputError(
      Input.Constants,
      `${constants.length} constants in all (with the image and command); Qarnot takes at most ${LIMITS.constantCount}`
    )
  }
  const secrets = user
    .filter(c => c.key.startsWith(SECRET_CONSTANT_PREFIX) && c.value !== '')
    .map(c => c.value)
  return { constants, secrets }
}

export function readTags(read: InputReader): string[] {
  const tags = parseList(read(Input.Tags))
  if (tags.length > LIMITS.tagCount) {
    throw new InputError(
      Input.Tags,
      `${tags.length} tags given; Qarnot takes at most ${LIMITS.tagCount}, remove some`
    )
  }
  const long = tags.find(tag => tag.length > LIMITS.tagLength)
  if (long) {
    throw new InputError(
      Input.Tags,
      `"${long.slice(0, 40)}..." is over ${LIMITS.tagLength} characters; shorten it`
    )
  }
  if (new Set(tags).size !== tags.length) throw new InputError(Input.Tags, 'a tag is given twice; keep one')
  return tags
}

export function readLabels(read: InputReader): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const { key, value } of about(Input.Labels, () => parseKeyValueLines(read(Input.Labels)))) {
    labels[key] = value
  }
  return labels
}

/** A task name from the run, so that the task on Tasq says where it came from. */
function defaultName(env: NodeJS.ProcessEnv): string {
  const parts = [env.GITHUB_REPOSITORY, env.GITHUB_WORKFLOW, env.GITHUB_JOB].filter(Boolean)
  const run = env.GITHUB_RUN_NUMBER ? ` #${env.GITHUB_RUN_NUMBER}` : ''
  return parts.length > 0 ? `${parts.join(' / ')}${run}` : 'qarnot-action'
}

export function readName(read: InputReader, env: NodeJS.ProcessEnv): string {
  const name = read(Input.Name) || defaultName(env)
  if (name.length > LIMITS.nameLength) {
    throw new InputError(
      Input.Name,
      `is ${name.length} characters; Qarnot takes at most ${LIMITS.nameLength}`
    )
  }
  return name
}

/** A shortname unique to this step run: it makes a retried create detectable (shortname-uniqueness, docs/qarnot-api.md §3). */
export function makeShortname(env: NodeJS.ProcessEnv, randomHex: string): string {
  const run = env.GITHUB_RUN_ID ? `${env.GITHUB_RUN_ID}-${env.GITHUB_RUN_ATTEMPT || '1'}` : 'local'
  const shortname = `gha-${run}-${randomHex}`.replace(/[^A-Za-z0-9-]/g, '-')
  return shortname.slice(0, LIMITS.shortnameLength).replace(/-+$/, '')
}
