/**
 * What a conformance scenario works with: the API, the run's settings, a record of what it observed and of the
 * checks that failed, helpers to create tasks and wait for states, and the cleanup of everything it made (tasks
 * deleted, buckets emptied and removed) whatever happens, bounded in time.
 */
import { Api } from './http.js'
import { Storage } from './storage.js'

export interface Settings {
  /** The profile of every task (default `docker-batch`). */
  readonly profile: string
  /** A short random id of this run: in task names, tags and bucket names, so that runs never collide. */
  readonly runId: string
  /** How often a task is read while waiting. */
  readonly pollMs: number
  /** How long a task may take from its creation to its end. */
  readonly taskTimeoutMs: number
  /** How long an aborted task may take to reach `Cancelled`. */
  readonly cancelTimeoutMs: number
  /** How long a 404 of the credits or carbon service is read again after the task ended (§9: it may lag). */
  readonly figuresWaitMs: number
  /** How long the cleanup of one scenario may take. */
  readonly cleanupTimeoutMs: number
  /** The storage endpoint, overriding `GET /settings` (as `QARNOT_STORAGE_URL` does for the Python SDK). */
  readonly storageUrl?: string
}

/** The states a task ends in (docs/qarnot-api.md §5). */
export const FINAL_STATES = ['Success', 'Failure', 'Cancelled']

/** The tag every task of the suite carries, beside the run's own. */
export const SUITE_TAG = 'qarnot-conformance'

export type Json = Record<string, unknown>

export class ScenarioContext {
  /** What the scenario saw, by name: the suite's product, written to `--json`. */
  readonly observed: Json = {}
  /** The checks that failed: the scenario fails when there is any. */
  readonly failures: string[] = []
  /** One line for the table. */
  summary = ''
  private readonly tasks: string[] = []
  private readonly buckets: string[] = []
  private storagePromise: Promise<Storage> | undefined

  constructor(
    readonly name: string,
    readonly api: Api,
    readonly settings: Settings,
    readonly signal: AbortSignal
  ) {}

  observe(key: string, value: unknown): void {
    this.observed[key] = value
  }

  /** A check of what the documentation says: a failure is recorded and the scenario goes on. */
  check(ok: boolean, message: string): boolean {
    if (!ok) this.failures.push(message)
    return ok
  }

  /** The run's tag for this scenario: only its own tasks carry it. */
  get tag(): string {
    return `qconf-${this.settings.runId}-${this.name}`
  }

  /** A bucket name of this run (lower case, short enough for S3), removed at cleanup. */
  bucket(suffix: string): string {
    const name = `qconf-${this.settings.runId}-${this.name}-${suffix}`
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
    this.buckets.push(name)
    return name
  }

  /** A docker-batch create body: the run's name and tags, `DOCKER_CMD` set to `command`. */
  taskBody(label: string, command: string, fields: Json = {}): Json {
    return {
      name: `qarnot-conformance ${this.name} ${label} ${this.settings.runId}`,
      profile: this.settings.profile,
      instanceCount: 2,
      constants: [{ key: 'DOCKER_CMD', value: command }],
      tags: [SUITE_TAG, this.tag],
      ...fields
    }
  }

  /** Creates a task (deleted at cleanup) and returns its uuid; throws the refusal. */
  async createTask(body: Json): Promise<string> {
    const answer = await this.api.expect('POST', '/tasks', body)
    const uuid = (answer.json() as { uuid?: unknown }).uuid
    if (typeof uuid !== 'string')
      throw new Error(`POST /tasks answered no uuid: ${answer.text.slice(0, 200)}`)
    this.tasks.push(uuid)
    return uuid
  }

  async readTask(uuid: string): Promise<Json> {
    return (await this.api.json('GET', `/tasks/${uuid}`)) as Json
  }

  /**
   * Reads the task until `done` says so, within `timeoutMs`; returns the last document and every state seen, in
   * order. Throws on timeout with the states seen.
   */
  async waitFor(
    uuid: string,
    done: (task: Json) => boolean,
    timeoutMs = this.settings.taskTimeoutMs
  ): Promise<{ task: Json; states: string[]; ms: number }> {
    const start = Date.now()
    const states: string[] = []
    for (;;) {
      const task = await this.readTask(uuid)
      const state = String(task.state)
      if (states.at(-1) !== state) states.push(state)
      if (done(task)) return { task, states, ms: Date.now() - start }
      if (Date.now() - start > timeoutMs)
        throw new Error(`task ${uuid} not done after ${timeoutMs} ms (states: ${states.join(' > ')})`)
      await this.sleep(this.settings.pollMs)
    }
  }

  /** Waits for a final state. */
  waitForEnd(uuid: string): Promise<{ task: Json; states: string[]; ms: number }> {
    return this.waitFor(uuid, task => FINAL_STATES.includes(String(task.state)))
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.signal.aborted) return reject(new Error('scenario stopped'))
      const timer = setTimeout(() => {
        this.signal.removeEventListener('abort', stop)
        resolve()
      }, ms)
      const stop = (): void => {
        clearTimeout(timer)
        reject(new Error('scenario stopped'))
      }
      this.signal.addEventListener('abort', stop, { once: true })
    })
  }

  /** The cluster's storage: endpoint from `GET /settings` (or the override), access key from `GET /info`. */
  storage(): Promise<Storage> {
    this.storagePromise ??= (async () => {
      const settings = (await this.api.json('GET', '/settings')) as { storage?: unknown }
      const endpoint = this.settings.storageUrl ?? settings.storage
      if (typeof endpoint !== 'string' || endpoint === '')
        throw new Error(`GET /settings gives no storage endpoint: ${JSON.stringify(settings.storage)}`)
      const info = (await this.api.json('GET', '/info')) as { email?: unknown }
      if (typeof info.email !== 'string') throw new Error('GET /info gives no email (the storage access key)')
      this.observe('storageEndpoint', endpoint)
      return new Storage({ endpoint, email: info.email, token: this.api.secretKey() })
    })()
    return this.storagePromise
  }

  /**
   * Deletes every task the scenario made and removes every bucket it named (objects first), each bounded by
   * `cleanupTimeoutMs`; returns what went wrong, never throws.
   */
  async cleanup(): Promise<string[]> {
    const problems: string[] = []
    const bounded = async (what: string, work: Promise<unknown>): Promise<void> => {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), this.settings.cleanupTimeoutMs)
      })
      try {
        await Promise.race([work, timeout])
      } catch (error) {
        problems.push(this.api.redact(`${what}: ${(error as Error).message}`))
      } finally {
        clearTimeout(timer)
      }
    }
    await Promise.all(
      this.tasks.map(uuid =>
        bounded(
          `delete task ${uuid}`,
          this.api.call('DELETE', `/tasks/${uuid}`).then(answer => {
            if (answer.status !== 200 && answer.status !== 404) throw new Error(`answered ${answer.status}`)
          })
        )
      )
    )
    if (this.buckets.length > 0 && this.storagePromise) {
      const storage = await this.storagePromise.catch(() => undefined)
      if (storage) {
        await Promise.all(
          this.buckets.map(bucket => bounded(`remove bucket ${bucket}`, storage.removeBucket(bucket)))
        )
        storage.destroy()
      }
    }
    return problems
  }
}
