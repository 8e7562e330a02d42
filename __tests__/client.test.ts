import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import type { QarnotEmulator } from '../src/emulator/server.js'
import { QarnotClient, decodeOutputBody } from '../src/qarnot/client.js'
import {
  QarnotApiError,
  QarnotNetworkError,
  QarnotRetriesExhaustedError,
  errorMessageFromBody,
  invalidFields
} from '../src/qarnot/errors.js'
import { parseRetryAfter, retryDelayMs, DEFAULT_RETRY_POLICY, type RetryPolicy } from '../src/qarnot/retry.js'
import { ActionsHttpTransport } from '../src/qarnot/transport.js'
import { submitTask } from '../src/task/submit.js'
import { USER_AGENT } from '../src/version.js'
import { fastEmulator, helloBody, waitForState } from './helpers/emulator.js'

let emulator: QarnotEmulator
let transport: ActionsHttpTransport
let sleeps: number[]

function client(
  options: { timeoutMs?: number; retry?: Partial<RetryPolicy>; token?: string } = {}
): QarnotClient {
  return new QarnotClient({
    baseUrl: emulator.url,
    token: options.token ?? emulator.token,
    userAgent: USER_AGENT,
    transport,
    timeoutMs: options.timeoutMs ?? 5000,
    retry: { ...DEFAULT_RETRY_POLICY, ...options.retry },
    random: () => 0.5,
    sleep: async ms => {
      sleeps.push(ms)
    }
  })
}

beforeEach(async () => {
  emulator = await fastEmulator()
  transport = new ActionsHttpTransport(USER_AGENT, 5000)
  sleeps = []
})
afterEach(async () => {
  transport.close()
  await emulator.stop()
})

describe('QarnotClient against the emulator', () => {
  it('sends the raw token, its User-Agent and JSON; bodyless POSTs carry no body', async () => {
    const { uuid } = await client().createTask(helloBody())
    expect(emulator.lastRequest?.headers.authorization).toBe(emulator.token)
    expect(emulator.lastRequest?.headers['user-agent']).toBe(USER_AGENT)
    expect(emulator.lastRequest?.headers['content-type']).toBe('application/json')
    await client().freshTaskOutput(uuid, 'stdout')
    expect(emulator.lastRequest?.headers['content-type']).toBeUndefined()
    expect(emulator.lastRequest?.headers['content-length']).toBe('0')
    expect(emulator.lastRequest?.body).toBe('')
  })

  it('reads a task by shortname, outputs, profiles, info and settings', async () => {
    const c = client()
    const { uuid } = await c.createTask({ ...helloBody(), shortname: 'by-name' })
    expect((await c.getTask('by-name')).uuid).toBe(uuid)
    await waitForState(emulator, uuid, ['Success'])
    expect(await c.instanceOutput(uuid, 'stdout', 1)).toBe('hello world from node 1!\n')
    expect((await c.taskOutput(uuid, 'stdout')).split('\n').filter(Boolean)).toHaveLength(4)
    expect(await c.listProfiles()).toContain('docker-batch')
    expect((await c.getProfile('docker-batch')).constants.map(x => x.name)).toContain('DOCKER_CMD')
    expect((await c.getInfo()).maxTask).toBe(1000)
    expect((await c.getSettings()).storage).toMatch(/^https:/)
    expect(await c.abortTask(uuid)).toBe('already-ended')
    await c.deleteTask(uuid)
    await expect(c.getTask(uuid)).rejects.toMatchObject({ status: 404, apiMessage: 'Task not found' })
  })

  it('retries 5xx with growing backoff, then succeeds', async () => {
    emulator.faults.add({ endpoint: 'GET /profiles', fault: { type: 'status', status: 503 }, times: 3 })
    expect(await client().listProfiles()).toContain('docker-batch')
    expect(emulator.requestCount('GET /profiles')).toBe(4)
    expect(sleeps).toEqual([375, 750, 1500])
  })

  it("honours the server's Retry-After on 429", async () => {
    emulator.faults.add({ endpoint: 'GET /info', fault: { type: 'status', status: 429, retryAfter: '7' } })
    await client().getInfo()
    expect(sleeps).toEqual([7000])
  })

  it('never retries 401 and says what the server said', async () => {
    const error = await client({ token: 'wrong' })
      .getInfo()
      .catch(e => e)
    expect(error).toBeInstanceOf(QarnotApiError)
    expect(error).toMatchObject({ status: 401 })
    expect(error.message).toContain('Unauthorized')
    expect(emulator.requestCount('GET /info')).toBe(1)
    expect(sleeps).toEqual([])
  })

  it('rides through connection resets and answers slower than its timeout', async () => {
    emulator.faults.add(
      { endpoint: 'GET /profiles', fault: { type: 'reset' } },
      { endpoint: 'GET /profiles', fault: { type: 'delay', ms: 1500 } }
    )
    expect(await client({ timeoutMs: 400 }).listProfiles()).toContain('docker-batch')
    expect(emulator.requestCount('GET /profiles')).toBe(3)
  })

  it('gives up with a clear error after its attempts', async () => {
    emulator.faults.add({ endpoint: 'GET /info', fault: { type: 'status', status: 502 }, times: 100 })
    const error = await client({ retry: { maxAttempts: 3 } })
      .getInfo()
      .catch(e => e)
    expect(error).toBeInstanceOf(QarnotRetriesExhaustedError)
    expect(error.message).toMatch(/answered 502.*gave up after 3 attempts/)
  })

  it('does not retry a fresh-output read, whose repetition would skip output', async () => {
    emulator.faults.add({ endpoint: 'POST /tasks/{uuid}/stdout', fault: { type: 'status', status: 503 } })
    const { uuid } = await client().createTask(helloBody())
    await expect(client().freshTaskOutput(uuid, 'stdout')).rejects.toBeInstanceOf(QarnotApiError)
    expect(emulator.requestCount('POST /tasks/{uuid}/stdout')).toBe(1)
  })

  it('creates one task when the answer to the create is lost, adopting it by shortname', async () => {
    emulator.faults.add({ endpoint: 'POST /tasks', fault: { type: 'lose-answer' } })
    const body = { ...helloBody(), name: 'once', shortname: 'gha-1-1-abc' } as never
    const submission = await submitTask(client(), body)
    expect(submission.adopted).toBe(true)
    expect(emulator.allTasks()).toHaveLength(1)
    expect(emulator.allTasks()[0].uuid).toBe(submission.uuid)
    expect(emulator.requestCount('POST /tasks')).toBe(2)
  })

  it('reports a refused connection as a network error', async () => {
    const url = emulator.url
    await emulator.stop()
    const offline = new QarnotClient({
      baseUrl: url,
      token: 't',
      userAgent: USER_AGENT,
      transport,
      retry: { ...DEFAULT_RETRY_POLICY, maxAttempts: 1 }
    })
    await expect(offline.getInfo()).rejects.toBeInstanceOf(QarnotNetworkError)
    emulator = await fastEmulator()
  })
})

describe('error bodies and retry arithmetic', () => {
  it.each([
    ['{"message":"Not enough credits"}', 'Not enough credits'],
    ['{"error":"bad token"}', 'bad token'],
    ['{"error":{"message":"expired","code":401},"data":{}}', 'expired'],
    [
      '{"type":"x","title":"One or more validation errors occurred.","status":400,"traceId":"t","errors":{"Name":["required"]}}',
      'One or more validation errors occurred. (Name: required)'
    ],
    ['Service Unavailable', 'Service Unavailable'],
    ['', ''],
    ['"quoted"', 'quoted']
  ])('reads %s', (body, message) => {
    expect(errorMessageFromBody(body)).toBe(message)
  })

  it('reads invalid field tags', () => {
    expect(invalidFields('Invalid task file. Invalid fields: name, shortname-uniqueness')).toEqual([
      'name',
      'shortname-uniqueness'
    ])
  })

  it('decodes output sent as a JSON string, and leaves plain text alone', () => {
    expect(
      decodeOutputBody({ status: 200, headers: { 'content-type': 'application/json' }, body: '"0> a\\n"' })
    ).toBe('0> a\n')
    expect(decodeOutputBody({ status: 200, headers: {}, body: '"0> a\\n"' })).toBe('0> a\n')
    expect(decodeOutputBody({ status: 200, headers: { 'content-type': 'text/plain' }, body: '"x"' })).toBe(
      '"x"'
    )
  })

  it('reads Retry-After as seconds or a date, and caps it', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000)
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000)
    expect(parseRetryAfter('soon', 0)).toBeUndefined()
    expect(retryDelayMs(DEFAULT_RETRY_POLICY, 1, 0, 3_600_000)).toBe(DEFAULT_RETRY_POLICY.maxRetryAfterMs)
    expect(retryDelayMs(DEFAULT_RETRY_POLICY, 10, 1, undefined)).toBe(DEFAULT_RETRY_POLICY.maxDelayMs)
  })
})
