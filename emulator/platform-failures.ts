/**
 * Failures of the platform rather than of the command, injected by a quirk (docs/emulator.md,
 * `platformFailures`): a node preempted or lost under a running instance, an image that cannot be pulled. Each
 * ends the instance in Failure with an error code. Qarnot publishes no code for any of them in a source read here
 * (docs/infrastructure-retries.md): the codes are this emulator's placeholders, not Qarnot's.
 */
import type { QError } from './wire.js'

export type PlatformFailureKind = 'preempted' | 'node-lost' | 'image-pull'

export interface PlatformFailureQuirk {
  readonly kind: PlatformFailureKind
  readonly instanceIds: readonly number[]
  /** How long after an instance starts its node goes (preempted, node-lost; default 100 ms). */
  readonly afterMs?: number
  /** How many tasks, in the order they are created, it strikes (default 1); later tasks run normally. */
  readonly tasks?: number
}

/** What one task is to suffer: for each instance, the failure and when. */
export type PlatformFailurePlan = ReadonlyMap<number, { kind: PlatformFailureKind; afterMs: number }>

/** The error each kind leaves on the completed instance (placeholder codes: see the file comment). */
export const PLATFORM_ERRORS: Readonly<Record<PlatformFailureKind | 'resources-download', QError>> = {
  preempted: {
    code: 'instance-preempted',
    message: 'The instance was stopped: its node was preempted',
    debug: null
  },
  'node-lost': {
    code: 'node-lost',
    message: 'The instance was stopped: the connection with its node was lost',
    debug: null
  },
  'image-pull': {
    code: 'image-pull-failed',
    message: 'The instance could not start: its docker image could not be pulled',
    debug: null
  },
  /** Not a quirk: what an instance whose resources cannot be laid out in its $TASK_PATH fails with. */
  'resources-download': {
    code: 'resources-download-failed',
    message: 'The instance could not start: its resources could not be downloaded',
    debug: null
  }
}

/** Hands each new task the failures still to strike, counting the tasks each quirk has struck. */
export class PlatformFailureSchedule {
  private readonly struck: number[]

  constructor(private readonly quirks: readonly PlatformFailureQuirk[]) {
    this.struck = quirks.map(() => 0)
  }

  /** The plan of the next task created. */
  nextTask(): PlatformFailurePlan | undefined {
    const plan = new Map<number, { kind: PlatformFailureKind; afterMs: number }>()
    this.quirks.forEach((quirk, index) => {
      if (this.struck[index] >= (quirk.tasks ?? 1)) return
      this.struck[index]++
      for (const id of quirk.instanceIds)
        if (!plan.has(id)) plan.set(id, { kind: quirk.kind, afterMs: quirk.afterMs ?? 100 })
    })
    return plan.size > 0 ? plan : undefined
  }
}
