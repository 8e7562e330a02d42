/**
 * The inputs of long runs (docs/long-runs.md): `hand-off-after` (end the step before the runner's limit, leaving the
 * task running), `continue-with` (the workflow dispatched to follow it on), `snapshot-interval` (results uploaded
 * while the task runs), and the `task: handed-off` selector of a collector. Checked before any request.
 */
import { createHash } from 'node:crypto'
import { Input } from '../constants.js'
import { formatDuration } from '../input-formats/duration.js'
import { InputError, readBoolean, readDuration, type InputReader } from './read.js'

/** `task: handed-off`: every task of this repository a step handed off, not one task. */
export const HANDED_OFF_SELECTOR = 'handed-off'

/** The tag a task carries when its step may hand it off: the collector lists tasks by it. */
export const HAND_OFF_TAG_PREFIX = 'gha-handoff-'
/**
 * The label of a task created with hand-off-after: when its step hands it off (ISO 8601). A task that ended before
 * then was followed to its end and reported by its own step; only one that ran past it was handed off.
 */
export const HAND_OFF_AT_LABEL = 'github-hand-off-at'

export interface ContinueWith {
  /** The workflow file's name under .github/workflows (`collect.yml`). */
  readonly workflow: string
  /** `owner/repo`. */
  readonly repository: string
  /** The branch or tag the dispatched run runs on (the run's own). */
  readonly ref: string
}

export interface HandOffSettings {
  /** Counted from the step's start, as `timeout` is. */
  readonly afterMs: number
  /** Undefined without `continue-with`: a scheduled collector (or a person) collects the task. */
  readonly continueWith: ContinueWith | undefined
}

export interface LongRunSettings {
  readonly handOff: HandOffSettings | undefined
  /** `snapshot-interval` in ms; undefined when off. */
  readonly snapshotIntervalMs: number | undefined
  /** The tag put on created tasks so that `task: handed-off` finds them; undefined without hand-off-after. */
  readonly handOffTag: string | undefined
}

/** Longer than any GitHub job runs: a hand-off later than this would never happen. */
const LONGEST_HAND_OFF = {
  ms: 7 * 24 * 3_600_000,
  why: 'no GitHub job runs that long (6 hours on a hosted runner, 5 days on a self-hosted one)'
}

/** The tag of the tasks handed off in a repository (the same for every workflow of it). */
export function handOffTag(repository: string | undefined): string {
  const digest = createHash('sha256')
    .update(repository ?? '')
    .digest('hex')
  return `${HAND_OFF_TAG_PREFIX}${digest.slice(0, 20)}`
}

/** A dispatchable ref: GitHub runs workflow_dispatch on a branch or a tag only. */
function dispatchRef(env: NodeJS.ProcessEnv): string | undefined {
  const ref = env.GITHUB_REF ?? ''
  return /^refs\/(heads|tags)\/./.test(ref) ? ref : undefined
}

function readContinueWith(read: InputReader, env: NodeJS.ProcessEnv): ContinueWith | undefined {
  const text = read(Input.ContinueWith)
  if (text === '') return undefined
  const workflow = text.replace(/^\.?\/?\.github\/workflows\//, '')
  if (!/^[A-Za-z0-9_.-]+\.ya?ml$/.test(workflow))
    throw new InputError(
      Input.ContinueWith,
      `"${text.slice(0, 80)}" is not a workflow file name; write the name of a file in .github/workflows, e.g. collect.yml`
    )
  if (read(Input.GithubToken) === '')
    throw new InputError(
      Input.ContinueWith,
      "dispatches the workflow through GitHub's API with github-token, which is empty; pass github-token: ${{ github.token }} and grant the job permissions: actions: write"
    )
  const repository = env.GITHUB_REPOSITORY ?? ''
  if (!/^[^/\s]+\/[^/\s]+$/.test(repository))
    throw new InputError(
      Input.ContinueWith,
      'needs the repository of the run (GITHUB_REPOSITORY), which is not set: it works in a workflow run only'
    )
  const ref = dispatchRef(env)
  if (!ref)
    throw new InputError(
      Input.ContinueWith,
      `GitHub dispatches a workflow on a branch or a tag, and this run's ref (${env.GITHUB_REF || 'none'}) is neither (a pull request's run has refs/pull/...); collect with a scheduled workflow instead (docs/long-runs.md)`
    )
  return { workflow, repository, ref }
}

/**
 * Reads the long-run inputs. `wait`, `timeoutMs`, `following` (the `task` input), `selector` (it is
 * `handed-off`), `results` (set or not) and the task's tag count come from the rest of the settings.
 */
export function readLongRun(
  read: InputReader,
  env: NodeJS.ProcessEnv,
  facts: {
    readonly wait: boolean
    readonly timeoutMs: number | undefined
    readonly creating: boolean
    readonly selector: boolean
    readonly results: boolean
    readonly tagCount: number
  }
): LongRunSettings {
  const afterMs = readDuration(read, Input.HandOffAfter, LONGEST_HAND_OFF)
  const continueWith = readContinueWith(read, env)
  if (continueWith && afterMs === undefined)
    throw new InputError(
      Input.ContinueWith,
      'names the workflow dispatched when the step hands its task off, and hand-off-after is not set; set hand-off-after: 5h30m, or remove continue-with'
    )
  if (afterMs !== undefined) checkHandOff(read, afterMs, facts)
  const snapshotIntervalMs = readDuration(read, Input.SnapshotInterval, LONGEST_HAND_OFF)
  if (snapshotIntervalMs !== undefined && !facts.results)
    throw new InputError(
      Input.SnapshotInterval,
      "uploads the instances' files to the results bucket while the task runs, and results is not set; set results: out (the folder the command writes to), or remove snapshot-interval"
    )
  if (snapshotIntervalMs !== undefined && facts.selector)
    throw new InputError(
      Input.SnapshotInterval,
      `cannot be used with task: ${HANDED_OFF_SELECTOR}, which follows no task; set it on the step that creates the task`
    )
  return {
    handOff: afterMs === undefined ? undefined : { afterMs, continueWith },
    snapshotIntervalMs,
    handOffTag: afterMs !== undefined && facts.creating ? handOffTag(env.GITHUB_REPOSITORY) : undefined
  }
}

function checkHandOff(read: InputReader, afterMs: number, facts: Parameters<typeof readLongRun>[2]): void {
  if (!facts.wait)
    throw new InputError(
      Input.HandOffAfter,
      'ends a step that follows its task, and wait is false (the step does not follow it at all); remove one of them'
    )
  if (facts.selector)
    throw new InputError(
      Input.HandOffAfter,
      `cannot be used with task: ${HANDED_OFF_SELECTOR}, which reports the handed-off tasks that ended and follows none; remove hand-off-after`
    )
  if (facts.timeoutMs !== undefined && facts.timeoutMs <= afterMs)
    throw new InputError(
      Input.HandOffAfter,
      `${formatDuration(afterMs)} is not before the timeout (${formatDuration(facts.timeoutMs)}), which would abort the task first; make hand-off-after shorter than timeout, or remove timeout`
    )
  if (facts.creating && readBoolean(read, Input.AutoDelete, false))
    throw new InputError(
      Input.HandOffAfter,
      'cannot be used with auto-delete: true: Qarnot would delete the task when it ends, before the step that collects it reads it; remove auto-delete'
    )
  // Qarnot takes fewer than 10 tags: the hand-off tag is one more of the action's own.
  if (facts.tagCount >= 9)
    throw new InputError(
      Input.Tags,
      `with hand-off-after the task carries one more tag of the action's own (to be found by task: ${HANDED_OFF_SELECTOR}), and Qarnot takes fewer than 10; remove a tag`
    )
}
