/** A fake of the few GitHub REST endpoints the pull-request comment uses: a real HTTP server on 127.0.0.1. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FakeComment {
  id: number
  body: string
  issue: number
  /** Who wrote it: the workflow's token writes as github-actions[bot]. */
  user: { login: string; type: 'Bot' | 'User' }
}

export const WORKFLOW_BOT = { login: 'github-actions[bot]', type: 'Bot' } as const

/** A workflow_dispatch GitHub took: `POST /repos/{owner}/{repo}/actions/workflows/{file}/dispatches`. */
export interface FakeDispatch {
  repository: string
  workflow: string
  body: { ref?: string; inputs?: Record<string, string> }
}

/** More endpoints: answers (and returns true) when it serves the request. */
export type FakeRoute = (
  request: { method: string; path: string; url: URL },
  send: (status: number, payload: unknown, headers?: Record<string, string>) => void
) => boolean

export class FakeGitHub {
  readonly comments: FakeComment[] = []
  readonly routes: FakeRoute[] = []
  readonly dispatches: FakeDispatch[] = []
  /** The workflow files that exist (any, when empty); another is a 404 as GitHub answers. */
  readonly workflows = new Set<string>()
  readonly requests: { method: string; path: string; authorization?: string }[] = []
  /** When set, every request is refused with this status, as GitHub does for a read-only token. */
  refuseWith: number | undefined
  /** Takes requests and never answers them. */
  stall = false
  private server: Server | undefined
  private nextId = 1000
  url = ''

  async start(): Promise<this> {
    this.server = createServer((request, response) => void this.handle(request, response))
    await new Promise<void>(resolve => this.server?.listen(0, '127.0.0.1', () => resolve()))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    {
      const chunks: Buffer[] = []
      for await (const chunk of request) chunks.push(chunk as Buffer)
      const body =
        chunks.length > 0
          ? (JSON.parse(Buffer.concat(chunks).toString()) as { body?: string } & FakeDispatch['body'])
          : {}
      const path = new URL(request.url ?? '/', 'http://x').pathname
      this.requests.push({ method: request.method ?? '', path, authorization: request.headers.authorization })
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        response.writeHead(status, { 'Content-Type': 'application/json', ...headers })
        response.end(JSON.stringify(payload))
      }
      if (this.stall) return // a GitHub API that never answers
      if (this.refuseWith) return send(this.refuseWith, { message: 'Resource not accessible by integration' })
      const url = new URL(request.url ?? '/', this.url)
      if (this.routes.some(route => route({ method: request.method ?? '', path, url }, send))) return
      const dispatch = /^\/repos\/([^/]+)\/([^/]+)\/actions\/workflows\/([^/]+)\/dispatches$/.exec(path)
      if (dispatch && request.method === 'POST') {
        const workflow = decodeURIComponent(dispatch[3])
        if (this.workflows.size > 0 && !this.workflows.has(workflow))
          return send(404, { message: 'Not Found' })
        if (typeof body.ref !== 'string') return send(422, { message: 'Invalid request: ref is missing' })
        this.dispatches.push({ repository: `${dispatch[1]}/${dispatch[2]}`, workflow, body })
        response.writeHead(204)
        return void response.end()
      }
      let match = /^\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/comments$/.exec(path)
      if (match && request.method === 'GET')
        return send(
          200,
          this.comments.filter(c => c.issue === Number(match?.[1]))
        )
      if (match && request.method === 'POST') {
        const comment = {
          id: this.nextId++,
          body: body.body ?? '',
          issue: Number(match[1]),
          user: { ...WORKFLOW_BOT }
        }
        this.comments.push(comment)
        return send(201, comment)
      }
      match = /^\/repos\/[^/]+\/[^/]+\/issues\/comments\/(\d+)$/.exec(path)
      if (match && request.method === 'PATCH') {
        const comment = this.comments.find(c => c.id === Number(match?.[1]))
        if (!comment) return send(404, { message: 'Not Found' })
        // Only its author edits a comment (the token here is always the workflow's bot).
        if (comment.user.login !== WORKFLOW_BOT.login) return send(403, { message: 'Forbidden' })
        comment.body = body.body ?? ''
        return send(200, comment)
      }
      send(404, { message: 'Not Found' })
    }
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise<void>(resolve => this.server?.close(() => resolve()))
  }
}
