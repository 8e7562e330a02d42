/**
 * `continue-with`: GitHub's workflow_dispatch, `POST /repos/{owner}/{repo}/actions/workflows/{file}/dispatches`
 * with `{ref, inputs}` (docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event), with the job's
 * token, which needs `actions: write`. One attempt: a dispatch is not idempotent, and two collectors of one task
 * would both report it. Every refusal is explained with what fixes it.
 */
import { errorMessage, oneLine } from '../words.js'

export interface DispatchRequest {
  /** GITHUB_API_URL (https://api.github.com by default). */
  readonly apiUrl: string
  readonly token: string
  /** `owner/repo`. */
  readonly repository: string
  readonly workflow: string
  readonly ref: string
  readonly inputs: Readonly<Record<string, string>>
  readonly userAgent: string
  readonly fetch?: typeof fetch
  readonly timeoutMs?: number
  /** The step's stop: the dispatch is given up at once. */
  readonly stop?: AbortSignal
}

/** GitHub must not hold the step for longer than this. */
export const DISPATCH_TIMEOUT_MS = 20_000

export class DispatchError extends Error {}

export async function dispatchWorkflow(request: DispatchRequest): Promise<void> {
  const { repository, workflow } = request
  const [owner, repo] = repository.split('/')
  const url = `${request.apiUrl.replace(/\/+$/, '')}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/actions/workflows/${encodeURIComponent(workflow)}/dispatches`
  let response: Response
  try {
    response = await (request.fetch ?? fetch)(url, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${request.token}`,
        Accept: 'application/vnd.github+json',
        'X-GitHub-Api-Version': '2022-11-28',
        'Content-Type': 'application/json',
        'User-Agent': request.userAgent
      },
      body: JSON.stringify({ ref: request.ref, inputs: request.inputs }),
      signal: AbortSignal.any([
        AbortSignal.timeout(request.timeoutMs ?? DISPATCH_TIMEOUT_MS),
        ...(request.stop ? [request.stop] : [])
      ])
    })
  } catch (error) {
    if (request.stop?.aborted)
      throw new DispatchError(
        'the step was cancelled before GitHub took the dispatch; it may or may not have been made'
      )
    throw new DispatchError(`GitHub could not be reached (${oneLine(errorMessage(error), 200)})`)
  }
  if (response.ok) return
  const said = await gitHubMessage(response)
  throw new DispatchError(explainRefusal(response.status, said, request))
}

async function gitHubMessage(response: Response): Promise<string> {
  try {
    const text = await response.text()
    const message = (JSON.parse(text) as { message?: unknown } | null)?.message
    return oneLine(typeof message === 'string' ? message : text, 300)
  } catch {
    return ''
  }
}

function explainRefusal(status: number, said: string, request: DispatchRequest): string {
  const answer = `${status}${said ? `: ${said}` : ''}`
  if (status === 401) return `GitHub refused the token (${answer}); pass github-token: \${{ github.token }}`
  if (status === 403)
    return `the token may not dispatch workflows (${answer}); grant the job permissions: actions: write (a pull request from a fork gets a read-only token)`
  if (status === 404)
    return `GitHub found no workflow ${request.workflow} in ${request.repository} (${answer}); it must be a file of .github/workflows on ${request.ref}, and the token must see the repository`
  if (status === 422)
    return `GitHub refused the dispatch (${answer}); ${request.workflow} needs on: workflow_dispatch with an input task-uuid, and no other required input`
  return `GitHub answered ${answer}`
}
