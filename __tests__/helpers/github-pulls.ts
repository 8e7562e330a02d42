/**
 * A stand-in for the GitHub REST endpoints the fork check reads, served by FakeGitHub (a real HTTP server), with
 * GitHub's shapes: the pull request (head.sha, head.repo.full_name and pushed_at, base.repo.full_name, labels),
 * its timeline (paginated with a Link header), a user's permission, and the pull requests of a head branch.
 * Time is GitHub's own clock, one second per action; the timeline sorts `committed` by the commit's committer
 * date, as a back-dated commit would try to use, and everything else by when GitHub recorded it.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FakeGitHub, FakeRoute } from './fake-github.js'

export type Role = 'admin' | 'maintain' | 'write' | 'triage' | 'read'

interface Item {
  readonly at: number
  readonly event: Record<string, unknown>
}

const user = (login: string) => ({ login, id: login.length, type: 'User', site_admin: false })

export class GitHubPulls {
  /** GitHub's clock (ms). */
  now = Date.parse('2025-03-01T10:00:00Z')
  readonly roles = new Map<string, Role>()
  readonly items: Item[] = []
  labels: string[] = []
  headSha: string
  pushedAt: number
  headRepo: string | null
  requests = 0

  constructor(
    readonly base: string,
    readonly number: number,
    options: { headRepo: string | null; headSha: string; branch?: string }
  ) {
    this.headRepo = options.headRepo
    this.headSha = options.headSha
    this.branch = options.branch ?? 'patch-1'
    this.pushedAt = this.tick()
    this.items.push({ at: this.pushedAt, event: this.committed(options.headSha, this.pushedAt) })
  }

  readonly branch: string

  private tick(): number {
    this.now += 1000
    return this.now
  }

  private iso(ms: number): string {
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
  }

  private committed(sha: string, dated: number): Record<string, unknown> {
    const signature = { name: 'Mallory', email: 'm@example.com', date: this.iso(dated) }
    return {
      event: 'committed',
      sha,
      node_id: `C_${sha}`,
      url: `https://api.github.com/repos/${this.headRepo}/git/commits/${sha}`,
      html_url: `https://github.com/${this.headRepo}/commit/${sha}`,
      author: signature,
      committer: signature,
      tree: { sha: '0'.repeat(40), url: '' },
      message: 'change',
      parents: [],
      verification: { verified: false, reason: 'unsigned', signature: null, payload: null }
    }
  }

  private issueEvent(kind: string, login: string, extra: Record<string, unknown> = {}): Item {
    const at = this.tick()
    return {
      at,
      event: {
        id: this.items.length + 1,
        node_id: `E_${this.items.length + 1}`,
        url: '',
        actor: user(login),
        event: kind,
        commit_id: null,
        commit_url: null,
        created_at: this.iso(at),
        performed_via_github_app: null,
        ...extra
      }
    }
  }

  /** A push to the fork's branch: a new head; `committerDate` is what the commit claims (default: now). */
  push(sha: string, committerDate?: string): void {
    this.pushedAt = this.tick()
    this.headSha = sha
    const dated = committerDate ? Date.parse(committerDate) : this.pushedAt
    this.items.push({ at: dated, event: this.committed(sha, dated) })
  }

  forcePush(sha: string, login = 'mallory'): void {
    const item = this.issueEvent('head_ref_force_pushed', login, { commit_id: sha })
    this.pushedAt = item.at
    this.headSha = sha
    this.items.push(item)
  }

  /** A push to another branch of the fork: the fork's pushed_at moves, the pull request's head does not. */
  pushElsewhere(): void {
    this.pushedAt = this.tick()
  }

  label(login: string, name: string): void {
    if (!this.labels.includes(name)) this.labels.push(name)
    this.items.push(this.issueEvent('labeled', login, { label: { name, color: 'ededed' } }))
  }

  unlabel(login: string, name: string): void {
    this.labels = this.labels.filter(l => l !== name)
    this.items.push(this.issueEvent('unlabeled', login, { label: { name, color: 'ededed' } }))
  }

  /** Other events that make a timeline long: comments. */
  comment(login: string, count: number): void {
    for (let i = 0; i < count; i++) this.items.push(this.issueEvent('commented', login, { body: 'lgtm' }))
  }

  private pullRequest(): Record<string, unknown> {
    const [owner] = (this.headRepo ?? 'ghost/x').split('/')
    return {
      number: this.number,
      state: 'open',
      labels: this.labels.map(name => ({ name, color: 'ededed' })),
      head: {
        label: `${owner}:${this.branch}`,
        ref: this.branch,
        sha: this.headSha,
        user: user(owner),
        repo: this.headRepo
          ? {
              full_name: this.headRepo,
              fork: this.headRepo !== this.base,
              pushed_at: this.iso(this.pushedAt)
            }
          : null
      },
      base: {
        label: 'octo-org:main',
        ref: 'main',
        sha: 'b'.repeat(40),
        repo: { full_name: this.base, fork: false }
      }
    }
  }

  private timeline(): Record<string, unknown>[] {
    return [...this.items].sort((a, b) => a.at - b.at).map(item => item.event)
  }

  /** The routes, for FakeGitHub.routes. */
  readonly route: FakeRoute = ({ method, path, url }, send) => {
    if (method !== 'GET') return false
    const repo = `/repos/${this.base}`
    const counted = (status: number, payload: unknown, headers?: Record<string, string>) => {
      this.requests++
      send(status, payload, headers)
    }
    if (path === `${repo}/pulls/${this.number}`) return (counted(200, this.pullRequest()), true)
    if (path === `${repo}/pulls`) {
      const wanted = url.searchParams.get('head')
      const pr = this.pullRequest() as { head: { label: string } }
      return (counted(200, pr.head.label === wanted ? [pr] : []), true)
    }
    if (path === `${repo}/issues/${this.number}/timeline`) {
      const perPage = Number(url.searchParams.get('per_page') ?? 30)
      const page = Number(url.searchParams.get('page') ?? 1)
      const all = this.timeline()
      const next = page * perPage < all.length
      const link = new URL(url)
      link.searchParams.set('page', String(page + 1))
      counted(
        200,
        all.slice((page - 1) * perPage, page * perPage),
        next ? { Link: `<${link.toString()}>; rel="next"` } : {}
      )
      return true
    }
    const permission = new RegExp(`^${repo}/collaborators/([^/]+)/permission$`).exec(path)
    if (permission) {
      const role = this.roles.get(decodeURIComponent(permission[1]))
      if (!role) return (counted(404, { message: 'Not Found' }), true)
      const legacy = role === 'maintain' ? 'write' : role === 'triage' ? 'read' : role
      return (counted(200, { permission: legacy, role_name: role, user: user(permission[1]) }), true)
    }
    return false
  }

  /** The runner's environment for an event about this pull request, its payload written to `dir`. */
  env(
    github: FakeGitHub,
    dir: string,
    eventName: string,
    payload: Record<string, unknown>
  ): Record<string, string> {
    const eventPath = join(dir, `event-${Math.random().toString(16).slice(2)}.json`)
    writeFileSync(eventPath, JSON.stringify(payload))
    return {
      GITHUB_REPOSITORY: this.base,
      GITHUB_WORKFLOW: 'render',
      GITHUB_JOB: 'frames',
      GITHUB_ACTION: 'qarnot',
      GITHUB_RUN_ID: '901',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_RUN_NUMBER: '12',
      GITHUB_SHA: 'b'.repeat(40),
      GITHUB_EVENT_NAME: eventName,
      GITHUB_EVENT_PATH: eventPath,
      GITHUB_API_URL: github.url,
      RUNNER_TEMP: dir
    }
  }

  /** A pull_request(_target) payload as GitHub sends it now (head as it is at the moment of the event). */
  payload(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      action: 'synchronize',
      number: this.number,
      pull_request: this.pullRequest(),
      sender: user('mallory'),
      ...extra
    }
  }
}
