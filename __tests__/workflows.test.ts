/** Made for workflows: traceability labels, pull-request comments, fire-and-forget then collect. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { QarnotEmulator } from '../emulator/server.js'
import { readRunContext, traceLabels } from '../src/github/context.js'
import { commentOnPullRequest } from '../src/github/comment-step.js'
import { upsertComment, type CommentsApi } from '../src/github/pr-comment.js'
import { NO_OUTPUT } from '../src/report/model.js'
import { runAction } from '../src/local-runner/runner.js'
import { run } from '../src/main.js'
import { systemClock } from '../src/task/clock.js'
import { FakeGitHub } from './helpers/fake-github.js'
import { fastEmulator } from './helpers/emulator.js'
import { recordingIO } from './helpers/recording-io.js'

let emulator: QarnotEmulator
let github: FakeGitHub
beforeEach(async () => {
  emulator = await fastEmulator()
  github = await new FakeGitHub().start()
})
afterEach(async () => {
  await emulator.stop()
  await github.stop()
})

/** The environment of a pull_request run, with its event file. */
function pullRequestEnv(extra: Record<string, string> = {}): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'event-'))
  const eventPath = join(dir, 'event.json')
  writeFileSync(eventPath, JSON.stringify({ pull_request: { number: 42 } }))
  return {
    GITHUB_REPOSITORY: 'octo-org/render',
    GITHUB_WORKFLOW: 'render',
    GITHUB_JOB: 'frames',
    GITHUB_ACTION: 'qarnot',
    GITHUB_RUN_ID: '777',
    GITHUB_RUN_ATTEMPT: '2',
    GITHUB_RUN_NUMBER: '31',
    GITHUB_SHA: 'abcdef1234567890',
    GITHUB_REF: 'refs/pull/42/merge',
    GITHUB_EVENT_NAME: 'pull_request',
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: github.url,
    RUNNER_TEMP: dir,
    ...extra
  }
}

async function runIn(env: Record<string, string>, inputs: Record<string, string>) {
  const io = recordingIO({ token: emulator.token, 'api-url': emulator.url, ...inputs })
  await run({ io, env, clock: systemClock, stop: new AbortController().signal })
  return io
}

describe('traceability', () => {
  it('labels and tags the task so that Tasq leads back to the run', async () => {
    const io = await runIn(pullRequestEnv(), { command: 'echo hi', labels: 'team=render', tags: 'nightly' })
    const body = emulator.allTasks()[0].body
    expect(body.tags).toEqual(['nightly', 'github-actions', expect.stringMatching(/^gha-step-[0-9a-f]{24}$/)])
    expect(body.labels).toEqual({
      'github-repository': 'octo-org/render',
      'github-workflow': 'render',
      'github-job': 'frames',
      'github-run-id': '777',
      'github-run-attempt': '2',
      'github-sha': 'abcdef1234567890',
      'github-ref': 'refs/pull/42/merge',
      'github-event': 'pull_request',
      'github-pull-request': '42',
      'github-run-url': 'https://github.com/octo-org/render/actions/runs/777/attempts/2',
      team: 'render'
    })
    expect(body.name).toBe('octo-org/render / render / frames #31')
    expect(io.summary).toContain(io.outputs['task-url'])
  })

  it('finds the pull request from the ref when the event has none, and leaves out what is unknown', () => {
    const context = readRunContext({ GITHUB_REF: 'refs/pull/7/merge', GITHUB_REPOSITORY: 'o/r' })
    expect(context.pullRequest).toBe(7)
    expect(traceLabels(context)).toEqual({
      'github-repository': 'o/r',
      'github-ref': 'refs/pull/7/merge',
      'github-pull-request': '7'
    })
  })
})

describe('pull-request comment', () => {
  it('creates one comment, then updates it in place on a re-run, through Octokit over HTTP', async () => {
    const env = pullRequestEnv()
    // Odd instances fail until the marker exists: the same step, failing, then passing on a re-run.
    const marker = join(mkdtempSync(join(tmpdir(), 'comment-')), 'fixed')
    const inputs = {
      command: `sh -c 'test $((INSTANCE_ID % 2)) = 0 || test -e ${marker}'`,
      'instance-count': '3',
      'pr-comment': 'true',
      'github-token': 'ghs_test'
    }
    const first = await runIn(env, inputs)
    expect(first.log.join('\n')).toMatch(/pr-comment: comment 1000 created on pull request #42/)
    expect(github.comments).toHaveLength(1)
    // Without labels the marker is the step's (as before legs were told apart): an existing comment still matches.
    expect(github.comments[0].body).toContain('<!-- qarnot-action:render/frames/qarnot -->')
    expect(github.comments[0].body).toContain('❌ Qarnot task failed: 1 of 3 instances did not succeed')
    expect(github.requests[0].authorization).toBe('token ghs_test')

    writeFileSync(marker, '')
    const second = await runIn(env, inputs)
    expect(second.log.join('\n')).toMatch(/pr-comment: comment 1000 updated/)
    expect(github.comments).toHaveLength(1)
    expect(github.comments[0].body).toContain('✅ Qarnot task succeeded: 3/3 instances')
    expect(github.requests.filter(r => r.method === 'PATCH')).toHaveLength(1)
  })

  it('keeps separate comments for separate steps', async () => {
    await runIn(pullRequestEnv(), { command: 'echo', 'pr-comment': 'true', 'github-token': 't' })
    await runIn(pullRequestEnv({ GITHUB_ACTION: 'second' }), {
      command: 'echo',
      'pr-comment': 'true',
      'github-token': 't'
    })
    expect(github.comments).toHaveLength(2)
  })

  it('keeps separate comments for matrix legs of one step, and passes over a marker someone else pasted', async () => {
    const env = pullRequestEnv()
    // Matrix legs give distinct labels (as re-runs ask them to); the range changing alone would not tell them apart.
    const leg = (range: string) => ({
      command: 'echo',
      'instance-range': range,
      labels: `shard=${range}`,
      'pr-comment': 'true',
      'github-token': 'ghs_test'
    })
    await runIn(env, leg('0-1'))
    const marker = /<!-- qarnot-action:[^>]+ -->/.exec(github.comments[0].body)?.[0] ?? ''
    github.comments.unshift({
      id: 1,
      body: `${marker}\nfake ✅`,
      issue: 42,
      user: { login: 'someone', type: 'User' }
    })
    await runIn(env, leg('2-3'))
    await runIn(env, leg('0-1'))
    // Leg 0-1 updated its own comment (not the stranger's), and leg 2-3 has its own.
    expect(github.comments.map(c => c.id).sort()).toEqual([1, 1000, 1001])
    expect(github.comments.find(c => c.id === 1)?.body).toBe(`${marker}\nfake ✅`)
    expect(github.requests.filter(r => r.method === 'PATCH')).toHaveLength(1)
  })

  it('warns and keeps the verdict when the token may not comment', async () => {
    github.refuseWith = 403
    const io = await runIn(pullRequestEnv(), {
      command: 'echo fine',
      'pr-comment': 'true',
      'github-token': 'read-only'
    })
    expect(io.failures).toEqual([])
    expect(io.outputs['qarnot-outcome']).toBe('success')
    expect(io.log.join('\n')).toMatch(
      /::warning::pr-comment: the token may not comment on pull request #42 .*pull-requests: write/
    )
  })

  it('gives up on a GitHub API that stalls, within its bound, and keeps the verdict', async () => {
    github.stall = true
    const io = recordingIO({})
    const report = {
      outcome: 'success',
      title: '✅ Qarnot task succeeded: 1/1 instance',
      headline: 'ok',
      task: undefined,
      state: 'Success',
      verdict: undefined,
      requestedCount: 1,
      outputs: NO_OUTPUT,
      logsDir: undefined,
      elapsedMs: 0,
      notes: []
    } as const
    const started = Date.now()
    await commentOnPullRequest({ io, env: pullRequestEnv(), token: 'ghs_x', report, timeoutMs: 500 })
    expect(Date.now() - started).toBeLessThan(3000)
    expect(github.requests).toHaveLength(1)
    expect(io.log.join('\n')).toMatch(
      /::warning::pr-comment: could not write the comment \(GitHub did not answer within 0.5 s\)/
    )
  })

  it('writes no comment outside pull requests', async () => {
    const io = await runIn(
      pullRequestEnv({ GITHUB_EVENT_NAME: 'push', GITHUB_EVENT_PATH: '', GITHUB_REF: 'refs/heads/main' }),
      {
        command: 'echo',
        'pr-comment': 'true',
        'github-token': 't'
      }
    )
    expect(io.log.join('\n')).toMatch(/pr-comment: this run \(push\) has no pull request/)
    expect(github.requests).toHaveLength(0)
  })

  it('comments from the bundled action too, with the runner-provided token', async () => {
    const env = pullRequestEnv({ GITHUB_TOKEN: 'ghs_from_runner' })
    const { main } = await runAction({
      inputs: {
        token: emulator.token,
        'api-url': emulator.url,
        command: 'echo bundled',
        'pr-comment': 'true'
      },
      env
    })
    expect(main.exitCode).toBe(0)
    expect(github.comments).toHaveLength(1)
    expect(github.requests[0].authorization).toBe('token ghs_from_runner')
    const unmasked = main.log.split('\n').filter(line => !line.startsWith('::add-mask::'))
    expect(unmasked.join('\n')).not.toContain('ghs_from_runner')
    expect(main.log).toContain('::add-mask::ghs_from_runner')
  })
})

describe('fire and forget, then collect', () => {
  it('submits with wait: false, then a second step follows the task to the same verdict', async () => {
    const submit = await runIn(pullRequestEnv(), {
      command: "sh -c 'sleep 0.5; echo done ${INSTANCE_ID}; exit $((INSTANCE_ID == 2))'",
      'instance-count': '3',
      wait: 'false'
    })
    expect(submit.outputs).toEqual({
      'task-uuid': emulator.allTasks()[0].uuid,
      'task-url': `https://tasq.qarnot.com/tasks/${emulator.allTasks()[0].uuid}`,
      'qarnot-outcome': 'submitted',
      state: 'Submitted',
      'instance-count': '3',
      'succeeded-count': '0',
      'failed-count': '0',
      'failed-instances': '',
      instances: '[]',
      stdout: '',
      'logs-dir': '',
      truncated: 'false',
      credits: '',
      'carbon-gco2eq': '',
      'energy-wh': '',
      'energy-reused-wh': '',
      'results-dir': '',
      'cached-count': '0',
      'cached-instances': ''
    })
    expect(submit.summary).toContain('## 📤 Qarnot task submitted')
    const collect = await runIn(pullRequestEnv(), { task: submit.outputs['task-uuid'], command: '' })
    expect(collect.outputs).toMatchObject({
      'qarnot-outcome': 'failure',
      'failed-instances': '2',
      'instance-count': '3'
    })
    expect(collect.outputs.stdout).toBe('0> done 0\n1> done 1\n2> done 2\n')
    expect(collect.failures[0]).toMatch(/instance 2 failed/)
    expect(emulator.allTasks()).toHaveLength(1)
  })

  it('follows a task by its shortname', async () => {
    await runIn(pullRequestEnv(), { command: 'echo by name', wait: 'false' })
    const shortname = emulator.allTasks()[0].shortname
    const collect = await runIn(pullRequestEnv(), { task: shortname, command: '' })
    expect(collect.outputs).toMatchObject({
      'qarnot-outcome': 'success',
      'task-uuid': emulator.allTasks()[0].uuid,
      stdout: '0> by name\n'
    })
  })
})

describe('upsertComment', () => {
  it("writes a new comment when the only one with the marker is someone else's", async () => {
    const created: string[] = []
    const api: CommentsApi = {
      list: async () => [{ id: 7, body: '<!-- m -->\nplanted', user: { login: 'someone', type: 'User' } }],
      create: async (_owner, _repo, _issue, body) => (created.push(body), { id: 8, body }),
      update: async () => {
        throw Object.assign(new Error('Forbidden'), { status: 403 })
      }
    }
    const target = { owner: 'o', repo: 'r', issue: 1 }
    expect(await upsertComment(api, target, '<!-- m -->', 'report')).toEqual({ action: 'created', id: 8 })
    expect(created).toEqual(['<!-- m -->\nreport'])
  })
})
