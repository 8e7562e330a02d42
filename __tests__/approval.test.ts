/** The pure parts of the fork check: the approval decision, the event payloads, the inputs. */
import { describe, expect, it } from '@jest/globals'
import {
  decideApproval,
  labelAdders,
  type ApprovalFacts,
  type TimelineEvent
} from '../src/github/approval.js'
import { isFork, isPullRequestRun, readPullRequestEvent } from '../src/github/pull-request-event.js'
import { readForkSettings } from '../src/inputs/forks.js'
import { InputError } from '../src/inputs/read.js'

const HEAD = 'c0ffee1234567890c0ffee1234567890c0ffee12'
const LABEL = 'safe-to-compute'

const committed = (sha: string, date: string): TimelineEvent =>
  ({ event: 'committed', sha, committer: { date } }) as TimelineEvent
const labeled = (login: string, at: string, name = LABEL): TimelineEvent => ({
  event: 'labeled',
  actor: { login },
  created_at: at,
  label: { name }
})
const unlabeled = (login: string, at: string): TimelineEvent => ({
  ...labeled(login, at),
  event: 'unlabeled'
})

function facts(timeline: TimelineEvent[], extra: Partial<ApprovalFacts> = {}): ApprovalFacts {
  return {
    label: LABEL,
    headSha: HEAD,
    headPushedAt: '2025-03-01T10:00:00Z',
    labels: [LABEL],
    timeline,
    permissions: new Map([
      ['alice', 'admin'],
      ['bob', 'write'],
      ['carol', 'read'],
      ['dave', 'none']
    ]),
    ...extra
  }
}

describe('decideApproval', () => {
  const pushed = committed(HEAD, '2025-03-01T10:00:00Z')

  it('approves a label a writer added after the push, naming who and which commit', () => {
    expect(decideApproval(facts([pushed, labeled('bob', '2025-03-01T10:05:00Z')]))).toEqual({
      approved: true,
      by: 'bob',
      sha: HEAD,
      at: '2025-03-01T10:05:00Z'
    })
  })

  it('names the newest of several writers, and passes over a reader among them', () => {
    const decision = decideApproval(
      facts([pushed, labeled('bob', '2025-03-01T10:05:00Z'), labeled('carol', '2025-03-01T10:06:00Z')])
    )
    expect(decision).toMatchObject({ approved: true, by: 'bob' })
  })

  it.each([
    ['no label on the pull request', [pushed], { labels: [] }, /does not carry the label 'safe-to-compute'/],
    [
      'a label from a reader',
      [pushed, labeled('carol', '2025-03-01T10:05:00Z')],
      {},
      /added by carol \(permission read\): only someone with write or admin/
    ],
    [
      'a label from someone with no permission',
      [pushed, labeled('dave', '2025-03-01T10:05:00Z'), labeled('eve', '2025-03-01T10:06:00Z')],
      {},
      /dave \(permission none\), eve \(permission none\)/
    ],
    [
      'a push after the label',
      [pushed, labeled('bob', '2025-03-01T10:05:00Z'), committed('beef', '2025-03-01T10:06:00Z')],
      {},
      /added before the last push.*reviewing commit c0ffee1/
    ],
    [
      'a force push after the label',
      [pushed, labeled('bob', '2025-03-01T10:05:00Z'), { event: 'head_ref_force_pushed', created_at: 'x' }],
      {},
      /added before the last push/
    ],
    [
      'a label removed since',
      [pushed, labeled('bob', '2025-03-01T10:05:00Z'), unlabeled('bob', '2025-03-01T10:06:00Z')],
      {},
      /no 'safe-to-compute' label added since it was last removed/
    ],
    [
      'a reader re-adding a label a writer removed',
      [
        pushed,
        labeled('bob', '2025-03-01T10:05:00Z'),
        unlabeled('bob', '2025-03-01T10:06:00Z'),
        labeled('carol', '2025-03-01T10:07:00Z')
      ],
      {},
      /added by carol/
    ],
    [
      // A commit back-dated to sort before the label: the fork's pushed_at is GitHub's time, and later.
      'a back-dated commit pushed after the label',
      [pushed, committed('beef', '2025-03-01T10:01:00Z'), labeled('bob', '2025-03-01T10:05:00Z')],
      { headSha: 'beef'.padEnd(40, '0'), headPushedAt: '2025-03-01T10:09:00Z' },
      /head repository was pushed to at 2025-03-01T10:09:00Z, not before the label was added/
    ],
    [
      'a push in the same second as the label',
      [pushed, labeled('bob', '2025-03-01T10:05:00Z')],
      { headPushedAt: '2025-03-01T10:05:00Z' },
      /not before the label/
    ],
    [
      'a force push GitHub dated after the label, sorted before it',
      [
        pushed,
        { event: 'head_ref_force_pushed', created_at: '2025-03-01T10:06:00Z' },
        labeled('bob', '2025-03-01T10:05:00Z')
      ],
      {},
      /force-pushed at 2025-03-01T10:06:00Z/
    ],
    [
      'no pushed_at from GitHub',
      [pushed, labeled('bob', '2025-03-01T10:05:00Z')],
      { headPushedAt: undefined },
      /cannot be dated/
    ],
    [
      'a label without a time',
      [pushed, { ...labeled('bob', ''), created_at: undefined }],
      {},
      /no time for the label added by bob/
    ],
    [
      'a run started for an older head',
      [pushed, labeled('bob', '2025-03-01T10:05:00Z')],
      { eventHeadSha: 'a'.repeat(40) },
      /started for commit aaaaaaa, but the pull request's head is now c0ffee1/
    ],
    [
      'another label',
      [pushed, labeled('bob', '2025-03-01T10:05:00Z', 'lgtm')],
      {},
      /no 'safe-to-compute' label added/
    ]
  ] as [string, TimelineEvent[], Partial<ApprovalFacts>, RegExp][])(
    'refuses %s',
    (_what: string, timeline: TimelineEvent[], extra: Partial<ApprovalFacts>, reason: RegExp) => {
      const decision = decideApproval(facts(timeline, extra))
      expect(decision.approved).toBe(false)
      expect(decision.approved === false && decision.reason).toMatch(reason)
    }
  )

  it('asks only about those who added the label since its removal and the last push', () => {
    const timeline = [
      labeled('dave', '2025-03-01T09:00:00Z'),
      pushed,
      labeled('carol', '2025-03-01T10:03:00Z'),
      unlabeled('bob', '2025-03-01T10:04:00Z'),
      labeled('bob', '2025-03-01T10:05:00Z'),
      labeled('alice', '2025-03-01T10:06:00Z'),
      labeled('bob', '2025-03-01T10:07:00Z')
    ]
    expect(labelAdders(timeline, LABEL)).toEqual(['bob', 'alice'])
  })
})

describe('readPullRequestEvent', () => {
  const pr = (head: string | null, base = 'octo-org/render') => ({
    number: 7,
    head: { sha: HEAD, repo: head === null ? null : { full_name: head } },
    base: { repo: { full_name: base } }
  })

  it('reads a fork pull request: head, base and commit', () => {
    const event = readPullRequestEvent('pull_request_target', 'octo-org/render', {
      action: 'labeled',
      label: { name: LABEL },
      sender: { login: 'bob' },
      pull_request: pr('mallory/render')
    })
    expect(event).toMatchObject({
      number: 7,
      headRepo: 'mallory/render',
      baseRepo: 'octo-org/render',
      headSha: HEAD
    })
    expect(isFork(event.headRepo, event.baseRepo)).toBe(true)
  })

  it('tells the own repository (in any case) from a fork, and a deleted fork from an absent head', () => {
    expect(isFork('Octo-Org/Render', 'octo-org/render')).toBe(false)
    expect(isFork(null, 'octo-org/render')).toBe(true)
    expect(isFork(undefined, 'octo-org/render')).toBe(false)
    expect(readPullRequestEvent('pull_request', 'o/r', { pull_request: pr(null) }).headRepo).toBeNull()
  })

  it('reads an issue comment on a pull request (no head: GitHub is asked), and not on an issue', () => {
    const onPull = readPullRequestEvent('issue_comment', 'o/r', { issue: { number: 3, pull_request: {} } })
    expect(onPull).toMatchObject({ number: 3 })
    expect(onPull.headRepo).toBeUndefined()
    expect(isPullRequestRun(readPullRequestEvent('issue_comment', 'o/r', { issue: { number: 3 } }))).toBe(
      false
    )
  })

  it('reads a workflow_run from a fork (no pull request number) by its head branch', () => {
    const event = readPullRequestEvent('workflow_run', 'octo-org/render', {
      workflow_run: {
        head_sha: HEAD,
        head_branch: 'patch-1',
        head_repository: { full_name: 'mallory/render', owner: { login: 'mallory' } },
        pull_requests: []
      }
    })
    expect(event).toMatchObject({ headRepo: 'mallory/render', headLabel: 'mallory:patch-1', headSha: HEAD })
    expect(isPullRequestRun(event)).toBe(true)
    const own = readPullRequestEvent('workflow_run', 'octo-org/render', {
      workflow_run: {
        head_sha: HEAD,
        head_branch: 'main',
        head_repository: { full_name: 'octo-org/render', owner: { login: 'octo-org' } },
        pull_requests: []
      }
    })
    expect(isPullRequestRun(own)).toBe(false)
  })

  it.each([['push'], ['schedule'], ['workflow_dispatch']])(
    'finds no pull request in a %s run',
    (name: string) => {
      expect(isPullRequestRun(readPullRequestEvent(name, 'o/r', { ref: 'refs/heads/main' }))).toBe(false)
    }
  )
})

describe('readForkSettings', () => {
  const reader = (values: Record<string, string>) => (name: string) => values[name] ?? ''

  it('defaults to approved with safe-to-compute', () => {
    expect(readForkSettings(reader({}))).toEqual({ policy: 'approved', label: 'safe-to-compute' })
    expect(
      readForkSettings(reader({ 'pull-requests-from-forks': 'NEVER', 'approval-label': 'ok to test' }))
    ).toEqual({
      policy: 'never',
      label: 'ok to test'
    })
  })

  it.each([
    [
      { 'pull-requests-from-forks': 'yes' },
      /pull-requests-from-forks': "yes" is not a choice; write approved, never or always/
    ],
    [{ 'approval-label': 'x'.repeat(51) }, /approval-label': is not a label GitHub can hold/],
    [{ 'approval-label': 'a\u0007b' }, /approval-label'/]
  ] as [Record<string, string>, RegExp][])(
    'refuses %j',
    (values: Record<string, string>, message: RegExp) => {
      expect(() => readForkSettings(reader(values))).toThrow(InputError)
      expect(() => readForkSettings(reader(values))).toThrow(message)
    }
  )
})
