/**
 * Whether a fork's pull request is approved for its head commit (docs/security.md, "Approval"). Pure: GitHub's
 * answers come in, a decision with its reason goes out.
 *
 * Approved when the approval label is on the pull request, was added by someone whose permission on the base
 * repository is write or admin, and was added after the head commit was pushed. "After" is told by what GitHub
 * itself recorded, never by commit dates (a commit's author and committer dates are whatever its author wrote):
 * - the label event comes later in the timeline than every event that changed the head (`committed`,
 *   `head_ref_force_pushed`, `head_ref_restored`);
 * - the label was added after every force push (their time is GitHub's) and after the fork's `pushed_at`, the
 *   time GitHub last took a push to the head repository, so that a commit back-dated to sort before the label
 *   does not pass either;
 * - the commit the run was started for is the pull request's head now.
 */

/** One item of `GET /repos/{owner}/{repo}/issues/{number}/timeline`, the fields read here. */
export interface TimelineEvent {
  readonly event?: string
  readonly actor?: { readonly login?: string } | null
  readonly created_at?: string
  readonly label?: { readonly name?: string } | null
  /** `committed`: the commit. */
  readonly sha?: string
  /** `head_ref_force_pushed`: the new head. */
  readonly commit_id?: string | null
}

export interface ApprovalFacts {
  readonly label: string
  /** The pull request's head commit, as GitHub answers now. */
  readonly headSha: string
  /** The head commit the event was sent for, when the payload says. */
  readonly eventHeadSha?: string
  /** When GitHub last took a push to the head repository (`head.repo.pushed_at`). */
  readonly headPushedAt: string | undefined
  /** The labels on the pull request now. */
  readonly labels: readonly string[]
  readonly timeline: readonly TimelineEvent[]
  /** Permission on the base repository of each user who added the label (`admin`, `write`, `read`, ...). */
  readonly permissions: ReadonlyMap<string, string>
}

export type Approval =
  | { readonly approved: true; readonly by: string; readonly sha: string; readonly at: string }
  | { readonly approved: false; readonly reason: string }

/** Events after which the head may be another commit. */
const HEAD_CHANGES = new Set(['committed', 'head_ref_force_pushed', 'head_ref_restored'])
/** `permission` as GitHub gives it: maintain reads as write, triage as read; `maintain` is accepted too. */
const WRITERS = new Set(['admin', 'maintain', 'write'])

export function mayApprove(permission: string | undefined): boolean {
  return WRITERS.has(permission ?? '')
}

const short = (sha: string): string => sha.slice(0, 7)
const time = (at: string | undefined): number => (at ? Date.parse(at) : Number.NaN)

/**
 * The users whose permission the decision needs: those who added the label after it was last removed and after
 * the last change of the head, newest last.
 */
export function labelAdders(timeline: readonly TimelineEvent[], label: string): string[] {
  const logins = labelsSince(timeline, label).afterPush.map(({ event }) => event.actor?.login)
  return [...new Set(logins.filter((login): login is string => Boolean(login)))]
}

interface Indexed {
  readonly event: TimelineEvent
  readonly index: number
}

/** The label's `labeled` events since it was last removed, and those of them after the last change of the head. */
function labelsSince(
  timeline: readonly TimelineEvent[],
  label: string
): { readonly since: Indexed[]; readonly afterPush: Indexed[] } {
  const removed = lastIndex(timeline, e => e.event === 'unlabeled' && e.label?.name === label)
  const pushed = lastIndex(timeline, e => HEAD_CHANGES.has(e.event ?? ''))
  const since = timeline
    .map((event, index) => ({ event, index }))
    .filter(({ event, index }) => event.event === 'labeled' && event.label?.name === label && index > removed)
  return { since, afterPush: since.filter(({ index }) => index > pushed) }
}

function lastIndex(timeline: readonly TimelineEvent[], test: (e: TimelineEvent) => boolean): number {
  for (let i = timeline.length - 1; i >= 0; i--) if (test(timeline[i])) return i
  return -1
}

export function decideApproval(facts: ApprovalFacts): Approval {
  const { label, headSha } = facts
  const ask = `someone with write access adds the label '${label}' after reviewing commit ${short(headSha)}`
  if (facts.eventHeadSha && facts.eventHeadSha !== headSha)
    return refused(
      `this run was started for commit ${short(facts.eventHeadSha)}, but the pull request's head is now ${short(headSha)}; the newer commit needs its own approval and run`
    )
  if (!facts.labels.includes(label)) return refused(`the pull request does not carry the label '${label}'`)
  const { since, afterPush } = labelsSince(facts.timeline, label)
  if (since.length === 0)
    return refused(`the timeline shows no '${label}' label added since it was last removed; ${ask}`)
  if (afterPush.length === 0)
    return refused(`the label '${label}' was added before the last push to the pull request; ${ask}`)
  const writers = afterPush.filter(({ event }) => mayApprove(facts.permissions.get(event.actor?.login ?? '')))
  if (writers.length === 0) {
    const who = afterPush.map(({ event }) => {
      const login = event.actor?.login ?? 'someone unknown'
      return `${login} (permission ${facts.permissions.get(login) ?? 'none'})`
    })
    return refused(
      `the label '${label}' was added by ${[...new Set(who)].join(', ')}: only someone with write or admin permission on the repository approves`
    )
  }
  return checkTimes(writers[writers.length - 1].event, facts, ask)
}

/** The label's time against what GitHub recorded of pushes: strictly later, to the second GitHub gives. */
function checkTimes(approval: TimelineEvent, facts: ApprovalFacts, ask: string): Approval {
  const at = time(approval.created_at)
  const by = approval.actor?.login ?? ''
  if (Number.isNaN(at)) return refused(`GitHub gave no time for the label added by ${by}; ${ask}`)
  const forced = facts.timeline.filter(e => e.event === 'head_ref_force_pushed' && !(time(e.created_at) < at))
  if (forced.length > 0)
    return refused(
      `the head was force-pushed at ${forced[0].created_at ?? 'an unknown time'}, not before the label (${approval.created_at}); ${ask}`
    )
  const pushedAt = time(facts.headPushedAt)
  if (Number.isNaN(pushedAt))
    return refused(
      'GitHub did not say when the head repository was last pushed to, so the approval cannot be dated'
    )
  if (!(pushedAt < at))
    return refused(
      `the head repository was pushed to at ${facts.headPushedAt}, not before the label was added (${approval.created_at}); ${ask}`
    )
  return { approved: true, by, sha: facts.headSha, at: approval.created_at ?? '' }
}

function refused(reason: string): Approval {
  return { approved: false, reason }
}
