/**
 * What the report says of instances the platform failed (docs/infrastructure-retries.md): which were recovered by
 * a follow-up task, which failed again, which were not re-run and why. Pure.
 */
import { formatIds } from '../ranges.js'
import type { Verdict } from '../task/verdict.js'
import { plural } from '../words.js'

/** One follow-up round: the task whose instances the platform failed, those ids with why, and the follow-up. */
export interface PlatformRetryRound {
  readonly fromTask: string
  readonly failed: ReadonlyMap<number, string>
  /** The follow-up task, once created. */
  readonly followUp: string | undefined
}

export interface PlatformRetryFacts {
  readonly limit: number
  readonly rounds: readonly PlatformRetryRound[]
  /** Platform failures of the last task followed that were not re-run, and why not. */
  readonly left?: {
    readonly fromTask: string
    readonly failed: ReadonlyMap<number, string>
    readonly why: string
  }
}

/** `its node was preempted (error code x): 1,3; its image could not be pulled (...): 2` */
function reasons(failed: ReadonlyMap<number, string>): string {
  const byReason = new Map<string, number[]>()
  for (const [id, reason] of failed) byReason.set(reason, [...(byReason.get(reason) ?? []), id])
  return [...byReason].map(([reason, ids]) => `${reason}: ${formatIds(ids)}`).join('; ')
}

const instances = (ids: readonly number[]): string =>
  `${ids.length > 1 ? 'Instances' : 'Instance'} ${formatIds(ids)}`

/** The pronouns of one instance or several: they, their, them. */
const words = (ids: readonly number[]) =>
  ids.length > 1 ? { they: 'they', their: 'their', them: 'them' } : { they: 'it', their: 'its', them: 'it' }

/** The notes for the summary and the log, one per round and one for what was left. */
export function describePlatformRetries(facts: PlatformRetryFacts, verdict: Verdict | undefined): string[] {
  const final = new Map((verdict?.instances ?? []).map(i => [i.id, i.state]))
  const notes: string[] = []
  for (const round of facts.rounds) {
    const ids = [...round.failed.keys()].sort((a, b) => a - b)
    const recovered = ids.filter(id => final.get(id) === 'Success')
    const notRecovered = ids.filter(id => final.get(id) !== 'Success')
    const by = round.followUp ? `follow-up task ${round.followUp}` : 'a follow-up task that could not be made'
    const causes = `in task ${round.fromTask} for a reason not their command's (${reasons(round.failed)})`
    if (recovered.length > 0) {
      const w = words(recovered)
      notes.push(
        `${instances(recovered)} recovered after a platform failure: ${w.they} failed ${causes}, and ${by} ran ${w.them} again.`
      )
    }
    if (notRecovered.length > 0)
      notes.push(`${instances(notRecovered)} failed ${causes}, and did not succeed in ${by}.`)
  }
  const left = facts.left
  if (left) {
    const ids = [...left.failed.keys()].sort((a, b) => a - b)
    const after = facts.rounds.length > 0 ? ` after ${plural(facts.rounds.length, 'follow-up task')}` : ''
    notes.push(
      `${instances(ids)} failed in task ${left.fromTask} for a reason not ${words(ids).their} command's (${reasons(left.failed)})${after}; not re-run: ${left.why}.`
    )
  }
  return notes
}
