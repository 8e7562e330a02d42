import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { QarnotEmulator } from '../emulator/server.js'
import { QarnotClient, decodeOutputBody } from '../src/qarnot/client.js'
import {
  QarnotAnswerError,
  QarnotApiError,
  QarnotCancelledError,
  QarnotNetworkError,
  QarnotRetriesExhaustedError,
  errorMessageFromBody,
  invalidFields
} from '../src/qarnot/errors.js'
import { DEFAULT_RETRY, parseRetryAfter, retryDelayMs, type RetryPolicy } from '../src/qarnot/retry.js'
import { ActionsHttpTransport } from '../src/qarnot/transport.js'
import { USER_AGENT } from '../src/version.js'
import { call, fastEmulator, helloBody, waitForState } from './helpers/emulator.js'

let emulator: QarnotEmulator
let transport: ActionsHttpTransport
let sleeps: number[]

function client(
  options: {
    timeoutMs?: number
    retry?: Partial<RetryPolicy>
    token?: string
    baseUrl?: string
    signal?: AbortSignal
  } = {}
): QarnotClient {
  return new QarnotClient({
    baseUrl: options.baseUrl ?? emulator.url,
    token: options.token ?? emulator.token,
    userAgent: USER_AGENT,
    transport,
    timeoutMs: options.timeoutMs ?? 5000,
    streamTimeoutMs: options.timeoutMs ?? 5000,
    retry: { ...DEFAULT_RETRY, ...options.retry },
    signal: options.signal,
    random: () => 0.5,
    sleep: async ms => {
      sleeps.push(ms)
    }
  })
}

async function text(read: (sink: (chunk: Buffer) => void) => Promise<void>): Promise<string> {
  const chunks: Buffer[] = []
  await read(chunk => void chunks.push(chunk))
  return Buffer.concat(chunks).toString('utf8')
}

/** A bare HTTP server whose every answer `handler` writes: for answers no emulator would give. */
async function rawServer(
  handler: Parameters<typeof createServer>[1]
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer(handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections()
      return new Promise(resolve => server.close(() => resolve()))
    }
  }
}

beforeEach(async () => {
  emulator = await fastEmulator()
  transport = new ActionsHttpTransport(USER_AGENT)
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
    await client().readTaskOutput(uuid, 'stdout', 'fresh', () => undefined)
    expect(emulator.lastRequest?.headers['content-type']).toBeUndefined()
    expect(emulator.lastRequest?.headers['content-length']).toBe('0')
    expect(emulator.lastRequest?.body).toBe('')
  })

  it('reads a task by shortname, and its outputs whole, fresh and per instance', async () => {
    const c = client()
    const { uuid } = await c.createTask({ ...helloBody(), shortname: 'by-name' })
    expect((await c.getTask('by-name')).uuid).toBe(uuid)
    await waitForState(emulator, uuid, ['Success'])
    expect(await text(sink => c.readInstanceOutput(uuid, 'stdout', 1, sink))).toBe(
      'hello world from node 1!\n'
    )
    expect(
      (await text(sink => c.readTaskOutput(uuid, 'stdout', 'whole', sink))).split('\n').filter(Boolean)
    ).toHaveLength(4)
    expect(
      (await text(sink => c.readTaskOutput(uuid, 'stdout', 'fresh', sink))).split('\n').filter(Boolean)
    ).toHaveLength(4)
    expect(await text(sink => c.readTaskOutput(uuid, 'stdout', 'fresh', sink))).toBe('')
    expect(await c.abortTask(uuid)).toBe('already-ended')
    await call(emulator, 'DELETE', `/tasks/${uuid}`)
    await expect(c.getTask(uuid)).rejects.toMatchObject({ status: 404, apiMessage: 'Task not found' })
  })

  it('retries 5xx with growing backoff, then succeeds', async () => {
    const { uuid } = await client().createTask(helloBody())
    emulator.faults.add({ endpoint: 'GET /tasks/{uuid}', fault: { type: 'status', status: 503 }, times: 3 })
    expect((await client().getTask(uuid)).uuid).toBe(uuid)
    expect(emulator.requestCount('GET /tasks/{uuid}')).toBe(4)
    expect(sleeps).toEqual([375, 750, 1500])
  })

  it("honours the server's Retry-After on 429, and a rate limit does not use up the attempts", async () => {
    const { uuid } = await client().createTask(helloBody())
    emulator.faults.add({
      endpoint: 'GET /tasks/{uuid}',
      fault: { type: 'status', status: 429, retryAfter: '7' },
      times: 5
    })
    await client({ retry: { maxAttempts: 2 } }).getTask(uuid)
    expect(sleeps).toEqual([7000, 7000, 7000, 7000, 7000])
  })

  it('clamps Retry-After: a day waits the policy maximum, a negative value waits the usual backoff', async () => {
    const { uuid } = await client().createTask(helloBody())
    emulator.faults.add(
      { endpoint: 'GET /tasks/{uuid}', fault: { type: 'status', status: 429, retryAfter: '86400' } },
      { endpoint: 'GET /tasks/{uuid}', fault: { type: 'status', status: 503, retryAfter: '-5' }, times: 2 }
    )
    await client().getTask(uuid)
    expect(sleeps).toEqual([DEFAULT_RETRY.maxRetryAfterMs, 375, 750])
  })

  it('never retries 401 and says what the server said', async () => {
    const error = await client({ token: 'wrong' })
      .getTask('x')
      .catch(e => e)
    expect(error).toBeInstanceOf(QarnotApiError)
    expect(error).toMatchObject({ status: 401 })
    expect(error.message).toContain('Unauthorized')
    expect(emulator.requestCount('GET /tasks/{uuid}')).toBe(1)
    expect(sleeps).toEqual([])
  })

  it('rides through connection resets and answers slower than its timeout', async () => {
    const { uuid } = await client().createTask(helloBody())
    emulator.faults.add(
      { endpoint: 'GET /tasks/{uuid}', fault: { type: 'reset' } },
      { endpoint: 'GET /tasks/{uuid}', fault: { type: 'delay', ms: 1500 } }
    )
    expect((await client({ timeoutMs: 400 }).getTask(uuid)).uuid).toBe(uuid)
    expect(emulator.requestCount('GET /tasks/{uuid}')).toBe(3)
  })

  it('gives up with a clear error after its attempts', async () => {
    emulator.faults.add({ endpoint: 'GET /tasks/{uuid}', fault: { type: 'status', status: 502 }, times: 100 })
    const error = await client({ retry: { maxAttempts: 3 } })
      .getTask('x')
      .catch(e => e)
    expect(error).toBeInstanceOf(QarnotRetriesExhaustedError)
    expect(error.message).toMatch(/answered 502.*gave up after 3 attempts/)
  })

  it('does not retry a fresh-output read, whose repetition would skip output', async () => {
    emulator.faults.add({ endpoint: 'POST /tasks/{uuid}/stdout', fault: { type: 'status', status: 503 } })
    const { uuid } = await client().createTask(helloBody())
    await expect(client().readTaskOutput(uuid, 'stdout', 'fresh', () => undefined)).rejects.toBeInstanceOf(
      QarnotApiError
    )
    expect(emulator.requestCount('POST /tasks/{uuid}/stdout')).toBe(1)
  })

  it('reports a refused connection as a network error', async () => {
    const url = emulator.url
    await emulator.stop()
    await expect(client({ baseUrl: url, retry: { maxAttempts: 1 } }).getTask('x')).rejects.toBeInstanceOf(
      QarnotNetworkError
    )
    emulator = await fastEmulator()
  })
})

describe('QarnotClient against answers no API should give', () => {
  it.each([
    ['an HTML page', 'text/html', '<html>Gateway</html>'],
    ['an empty object', 'application/json', '{}'],
    ['null', 'application/json', 'null'],
    ['a uuid that is not one', 'application/json', '{"uuid":"x\\n::error::y"}']
  ])('refuses a create answered with %s as unreadable', async (_what, type, body) => {
    const server = await rawServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': type })
      response.end(body)
    })
    try {
      await expect(client({ baseUrl: server.url }).createTask(helloBody())).rejects.toBeInstanceOf(
        QarnotAnswerError
      )
    } finally {
      await server.close()
    }
  })

  it.each([
    ['no state', { uuid: '0e2c7d2e-1b1a-4c55-9a57-000000000001' }],
    [
      'a null completed instance',
      { uuid: '0e2c7d2e-1b1a-4c55-9a57-000000000001', state: 'Success', completedInstances: [null] }
    ],
    [
      'a state with a line break',
      { uuid: '0e2c7d2e-1b1a-4c55-9a57-000000000001', state: 'Success\n::error::x' }
    ],
    [
      'a range that does not parse',
      { uuid: '0e2c7d2e-1b1a-4c55-9a57-000000000001', state: 'Success', status: { failedRange: 'x' } }
    ]
  ])('refuses a task document with %s', async (_what, document) => {
    const server = await rawServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' })
      response.end(JSON.stringify(document))
    })
    try {
      await expect(client({ baseUrl: server.url }).getTask('t')).rejects.toBeInstanceOf(QarnotAnswerError)
    } finally {
      await server.close()
    }
  })

  it('ends a body that drips, within the total time of the request', async () => {
    const server = await rawServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/plain' })
      const drip = setInterval(() => response.write('0> x\n'), 100)
      response.on('close', () => clearInterval(drip))
    })
    const started = Date.now()
    try {
      const error = await client({ baseUrl: server.url, timeoutMs: 700 })
        .readTaskOutput('t', 'stdout', 'fresh', () => undefined)
        .catch(e => e)
      expect(error).toBeInstanceOf(QarnotNetworkError)
      expect(Date.now() - started).toBeLessThan(3000)
    } finally {
      await server.close()
    }
  })

  it('ends a request under way, and every wait between retries, the moment its signal aborts', async () => {
    const server = await rawServer(() => undefined) // never answers
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 200)
    const started = Date.now()
    try {
      const slow = new QarnotClient({
        baseUrl: server.url,
        token: 't',
        userAgent: USER_AGENT,
        transport,
        timeoutMs: 30_000,
        signal: stop.signal
      })
      await expect(slow.getTask('t')).rejects.toBeInstanceOf(QarnotCancelledError)
      expect(Date.now() - started).toBeLessThan(1500)
    } finally {
      await server.close()
    }
  })

  it('refuses a JSON answer larger than any task document', async () => {
    const server = await rawServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' })
      response.end(`"${'x'.repeat(2048)}"`)
    })
    try {
      const small = new QarnotClient({
        baseUrl: server.url,
        token: 't',
        userAgent: USER_AGENT,
        transport: {
          exchange: request => transport.exchange({ ...request, maxBodyBytes: 1024 }),
          close: () => undefined
        },
        retry: { ...DEFAULT_RETRY, maxAttempts: 1 }
      })
      await expect(small.getTask('t')).rejects.toThrow(/larger than 1024 bytes/)
    } finally {
      await server.close()
    }
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

  it('reads Retry-After as seconds or a date, never as a negative number, and clamps it', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000)
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000)
    expect(parseRetryAfter('soon', 0)).toBeUndefined()
    expect(parseRetryAfter('-5', 0)).toBeUndefined()
    expect(retryDelayMs(DEFAULT_RETRY, 1, 0, 86_400_000)).toBe(DEFAULT_RETRY.maxRetryAfterMs)
    expect(retryDelayMs(DEFAULT_RETRY, 1, 0, 0)).toBe(DEFAULT_RETRY.baseDelayMs)
    expect(retryDelayMs(DEFAULT_RETRY, 10, 1, undefined)).toBe(DEFAULT_RETRY.maxDelayMs)
  })
})
