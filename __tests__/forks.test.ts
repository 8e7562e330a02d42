/**
 * Pull requests from forks, end to end: run() against the emulator and a stand-in of GitHub's REST API (a real
 * HTTP server, read through Octokit as on a runner). A fork's pull request computes only once approved for its
 * head commit; refused, not one request reaches Qarnot.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { QarnotEmulator } from '../emulator/server.js'
import { run } from '../src/main.js'
import { octokitPullRequests } from '../src/github/pull-request-api.js'
import { post } from '../src/post.js'
import { systemClock } from '../src/task/clock.js'
import { fastEmulator } from './helpers/emulator.js'
import { FakeGitHub } from './helpers/fake-github.js'
import { GitHubPulls } from './helpers/github-pulls.js'
import { recordingIO, type RecordingIO } from './helpers/recording-io.js'

const BASE = 'octo-org/render'
const FORK = 'mallory/render'
const FIRST = '1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
const SECOND = '2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'

let emulator: QarnotEmulator
let github: FakeGitHub
let pulls: GitHubPulls
let dir: string
beforeEach(async () => {
  emulator = await fastEmulator()
  github = await new FakeGitHub().start()
  pulls = new GitHubPulls(BASE, 42, { headRepo: FORK, headSha: FIRST })
  pulls.roles.set('alice', 'admin').set('bob', 'write').set('tom', 'triage').set('rita', 'read')
  github.routes.push(pulls.route)
  dir = mkdtempSync(join(tmpdir(), 'forks-'))
})
afterEach(async () => {
  await emulator.stop()
  await github.stop()
})

async function runFor(
  env: Record<string, string>,
  inputs: Record<string, string> = {},
  extra: { sourceCheckTimeoutMs?: number } = {}
): Promise<RecordingIO> {
  const io = recordingIO({
    token: emulator.token,
    'api-url': emulator.url,
    command: 'echo computed ${INSTANCE_ID}',
    'github-token': 'ghs_job_token',
    ...inputs
  })
  await run({ io, env, clock: systemClock, stop: new AbortController().signal, ...extra })
  return io
}

/** pull_request_target as GitHub sends it: the pull request as it is now. */
const target = (extra: Record<string, unknown> = {}) =>
  pulls.env(github, dir, 'pull_request_target', pulls.payload(extra))

function expectRefused(io: RecordingIO, outcome: string, ...messages: RegExp[]): void {
  expect(io.failures).toHaveLength(1)
  for (const message of messages) expect(io.failures[0]).toMatch(message)
  expect(io.outputs).toEqual({
    'qarnot-outcome': outcome,
    'instance-count': '0',
    'succeeded-count': '0',
    'failed-count': '0'
  })
  expect(emulator.requestCount()).toBe(0)
  expect(io.state).toEqual({})
}

describe('a fork pull request', () => {
  it('without approval creates nothing, and says which fork, which commit and how to approve', async () => {
    const io = await runFor(target())
    expectRefused(
      io,
      'awaiting-approval',
      /^Pull request #42 comes from the fork mallory\/render \(commit 1111111\) and is not approved/,
      /does not carry the label 'safe-to-compute'/,
      /someone with write access to octo-org\/render reviews commit 1111111 and adds the label 'safe-to-compute'/,
      /Nothing was sent to Qarnot/
    )
    expect(github.requests.map(r => r.path)).toEqual([`/repos/${BASE}/pulls/42`])
    expect(github.requests[0].authorization).toBe('token ghs_job_token')
    // The post step finds nothing to clean up, and sends nothing either.
    const after = recordingIO({ token: emulator.token, 'api-url': emulator.url }, io.state)
    await post({ io: after, env: {} })
    expect(after.log.join('\n')).toMatch(/nothing to clean up/)
    expect(emulator.requestCount()).toBe(0)
  })

  it('runs with a label a writer added after the last push; the task and the comment say who approved what', async () => {
    pulls.label('bob', 'safe-to-compute')
    const io = await runFor(target({ action: 'labeled', label: { name: 'safe-to-compute' } }), {
      'pr-comment': 'true'
    })
    expect(io.failures).toEqual([])
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(io.log).toContain(
      `This fork's pull request was approved by bob for commit 1111111 (label added at ${new Date(pulls.now).toISOString().replace('.000', '')}).`
    )
    const task = emulator.allTasks()[0].body
    expect(task.labels).toMatchObject({ 'github-approved-by': 'bob', 'github-approved-sha': FIRST })
    expect(github.comments).toHaveLength(1)
    expect(github.comments[0].body).toContain('Approved by bob for commit 1111111 (fork pull request).')
    // Only bob's permission was asked for.
    expect(github.requests.filter(r => r.path.includes('/collaborators/')).map(r => r.path)).toEqual([
      `/repos/${BASE}/collaborators/bob/permission`
    ])
  })

  it('is refused again once a push comes after the label', async () => {
    pulls.label('alice', 'safe-to-compute')
    pulls.push(SECOND)
    const io = await runFor(target())
    expectRefused(io, 'awaiting-approval', /commit 2222222/, /added before the last push/)
  })

  it('is refused when the push after the label is a commit back-dated to sort before it', async () => {
    pulls.label('alice', 'safe-to-compute')
    pulls.push(SECOND, '2025-03-01T09:00:00Z')
    const io = await runFor(target())
    expectRefused(
      io,
      'awaiting-approval',
      /commit 2222222/,
      /head repository was pushed to at .* not before the label/
    )
  })

  it('is refused after a force push that followed the label', async () => {
    pulls.label('alice', 'safe-to-compute')
    pulls.forcePush(SECOND)
    const io = await runFor(target())
    expectRefused(io, 'awaiting-approval', /added before the last push/)
  })

  it.each([['tom'], ['rita'], ['stranger']])(
    'does not count a label added by %s (no write permission)',
    async (login: string) => {
      pulls.label(login, 'safe-to-compute')
      const io = await runFor(target())
      expectRefused(io, 'awaiting-approval', new RegExp(`added by ${login} \\(permission (read|none)\\)`))
    }
  )

  it('is refused when the run was started for a head the pull request has since moved from', async () => {
    const stale = target()
    pulls.push(SECOND)
    pulls.label('bob', 'safe-to-compute')
    const io = await runFor(stale)
    expectRefused(
      io,
      'awaiting-approval',
      /started for commit 1111111, but the pull request's head is now 2222222/
    )
  })

  it('reads a long timeline page by page (the label at its end)', async () => {
    pulls.comment('mallory', 250)
    pulls.label('bob', 'safe-to-compute')
    const io = await runFor(target())
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(github.requests.filter(r => r.path.endsWith('/timeline'))).toHaveLength(3)
  })

  it('is approved from an issue comment, the pull request read from GitHub', async () => {
    pulls.label('alice', 'safe-to-compute')
    const env = pulls.env(github, dir, 'issue_comment', { issue: { number: 42, pull_request: {} } })
    const io = await runFor(env)
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(emulator.allTasks()[0].body.labels).toMatchObject({ 'github-approved-by': 'alice' })
  })

  it('is found by its head branch from a workflow_run, and refused without approval', async () => {
    const env = pulls.env(github, dir, 'workflow_run', {
      workflow_run: {
        head_sha: FIRST,
        head_branch: 'patch-1',
        head_repository: { full_name: FORK, owner: { login: 'mallory' } },
        pull_requests: []
      }
    })
    const io = await runFor(env)
    expectRefused(io, 'awaiting-approval', /Pull request #42 comes from the fork mallory\/render/)
    expect(github.requests[0].path).toBe(`/repos/${BASE}/pulls`)
  })

  it('with pull-requests-from-forks: never is refused without asking GitHub', async () => {
    pulls.label('alice', 'safe-to-compute')
    const io = await runFor(target(), { 'pull-requests-from-forks': 'never' })
    expectRefused(
      io,
      'refused-fork',
      /mallory\/render \(commit 1111111\), and pull-requests-from-forks is never/
    )
    expect(github.requests).toEqual([])
  })

  it('with pull-requests-from-forks: always runs unchecked, with a warning', async () => {
    const io = await runFor(target(), { 'pull-requests-from-forks': 'always' })
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(io.log.join('\n')).toMatch(/::warning::pull-requests-from-forks is always/)
    expect(github.requests).toEqual([])
  })

  it('without github-token is refused, naming the input', async () => {
    pulls.label('alice', 'safe-to-compute')
    const io = await runFor(target(), { 'github-token': '' })
    expectRefused(io, 'awaiting-approval', /the input 'github-token' is empty/)
  })

  it('is refused, within the timeout, when GitHub does not answer', async () => {
    github.stall = true
    const started = Date.now()
    const io = await runFor(target(), {}, { sourceCheckTimeoutMs: 300 })
    expectRefused(
      io,
      'failure',
      /Could not check .*GitHub did not answer in time.*nothing was sent to Qarnot/
    )
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('is refused after a push to another branch of the fork (GitHub dates pushes per repository, not per branch)', async () => {
    pulls.label('bob', 'safe-to-compute')
    pulls.pushElsewhere()
    const io = await runFor(target())
    expectRefused(io, 'awaiting-approval', /head repository was pushed to at/)
  })

  it('is refused when its fork was deleted', async () => {
    pulls.label('bob', 'safe-to-compute')
    pulls.headRepo = null
    const io = await runFor(
      pulls.env(github, dir, 'issue_comment', { issue: { number: 42, pull_request: {} } })
    )
    expectRefused(io, 'awaiting-approval', /comes from the fork a deleted fork/, /cannot be dated/)
  })

  it('under pull_request with the secrets (a private repository sending them to forks) is checked the same', async () => {
    const io = await runFor(pulls.env(github, dir, 'pull_request', pulls.payload()))
    expectRefused(io, 'awaiting-approval', /not approved/)
  })

  it('is refused, not half read, when its timeline is longer than the check reads', async () => {
    pulls.comment('mallory', 250)
    const api = await octokitPullRequests('t', github.url, new AbortController().signal)
    await expect(api.timeline(...(BASE.split('/') as [string, string]), 42, 150)).rejects.toThrow(
      'the timeline of pull request #42 has more than 150 events'
    )
    expect(await api.timeline('octo-org', 'render', 42, 300)).toHaveLength(251)
  })

  it('ends as cancelled, sending nothing, when the step is stopped while GitHub is asked', async () => {
    github.stall = true
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 100)
    const io = recordingIO({
      token: emulator.token,
      'api-url': emulator.url,
      command: 'echo',
      'github-token': 't'
    })
    await run({ io, env: target(), clock: systemClock, stop: stop.signal })
    expectRefused(
      io,
      'cancelled',
      /cancelled while the pull request was being checked; nothing was sent to Qarnot/
    )
  })

  it('is refused when GitHub refuses the token', async () => {
    github.refuseWith = 403
    const io = await runFor(target())
    expectRefused(io, 'failure', /Could not check .*Resource not accessible by integration/)
  })
})

describe('a pull_request run from a fork', () => {
  it('without the secrets says so plainly, with the two safe ways, and sends nothing', async () => {
    const io = await runFor(pulls.env(github, dir, 'pull_request', pulls.payload()), { token: '' })
    expectRefused(
      io,
      'refused-fork',
      /^This run \(pull_request\) is for pull request #42 from the fork mallory\/render: GitHub gives such runs no secrets/,
      /pull_request_target and have someone with write access approve each commit with the label 'safe-to-compute'/,
      /push the reviewed commits to a branch of octo-org\/render/
    )
    expect(io.failures[0]).not.toMatch(/Input 'token'/)
    expect(github.requests).toEqual([])
  })
})

describe("the repository's own pull requests", () => {
  it('run as before, without a question to GitHub', async () => {
    pulls.headRepo = BASE
    const io = await runFor(target())
    expect(io.failures).toEqual([])
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(github.requests).toEqual([])
    expect(Object.keys(emulator.allTasks()[0].body.labels ?? {})).not.toContain('github-approved-by')
  })

  it('run as before from an issue comment, once GitHub says the head is the repository', async () => {
    pulls.headRepo = BASE
    const io = await runFor(
      pulls.env(github, dir, 'issue_comment', { issue: { number: 42, pull_request: {} } })
    )
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(github.requests.map(r => r.path)).toEqual([`/repos/${BASE}/pulls/42`])
  })

  it('still name the token when it is empty', async () => {
    pulls.headRepo = BASE
    const io = await runFor(pulls.env(github, dir, 'pull_request', pulls.payload()), { token: '' })
    expect(io.failures[0]).toMatch(/^Input 'token': is empty/)
    expect(io.outputs['qarnot-outcome']).toBe('failure')
  })
})
