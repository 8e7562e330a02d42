/**
 * The emulator's faults on a real socket (docs/emulator.md): statuses with any Retry-After, stalls, drips,
 * transformed answers and cut answers; and stop() ending the answers held open.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import type { QarnotEmulator } from '../emulator/server.js'
import { call, fastEmulator, helloBody, rawCall, waitForState } from './helpers/emulator.js'

let emulator: QarnotEmulator
beforeEach(async () => {
  emulator = await fastEmulator()
})
afterEach(async () => {
  await emulator.stop()
})

async function create(body: object = helloBody()): Promise<string> {
  const answer = await call(emulator, 'POST', '/tasks', body)
  expect(answer.status).toBe(200)
  return (answer.json() as { uuid: string }).uuid
}

/** A fetch that gives up after `ms`, as a client with a total time limit does. */
function callWithin(ms: number, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${emulator.url}${path}`, {
    method,
    headers: { Authorization: emulator.token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(ms)
  })
}

describe('status', () => {
  it('sends Retry-After exactly as written, however odd', async () => {
    emulator.faults.add(
      { endpoint: 'GET /profiles', fault: { type: 'status', status: 503, retryAfter: '86400' } },
      {
        endpoint: 'GET /info',
        fault: { type: 'status', status: 429, retryAfter: '-5', message: 'slow down' }
      }
    )
    const day = await call(emulator, 'GET', '/profiles')
    expect([day.status, day.headers.get('retry-after')]).toEqual([503, '86400'])
    const negative = await call(emulator, 'GET', '/info')
    expect([negative.status, negative.headers.get('retry-after')]).toEqual([429, '-5'])
    expect(negative.json()).toEqual({ message: 'slow down' })
  })
})

describe('stall', () => {
  it('takes the request and never answers it; the request is not handled', async () => {
    emulator.faults.add({ endpoint: 'POST /tasks', fault: { type: 'stall' } })
    const started = Date.now()
    await expect(callWithin(300, 'POST', '/tasks', helloBody({ shortname: 'stalled-1' }))).rejects.toThrow()
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    expect(emulator.requestCount('POST /tasks')).toBe(1)
    expect(emulator.allTasks()).toEqual([])
    // The next request is answered.
    expect((await call(emulator, 'POST', '/tasks', helloBody({ shortname: 'stalled-1' }))).status).toBe(200)
  })

  it('with handled: true, acts first: the task is made, and the answer never comes', async () => {
    emulator.faults.add({ endpoint: 'POST /tasks', fault: { type: 'stall', handled: true } })
    await expect(callWithin(300, 'POST', '/tasks', helloBody({ shortname: 'stalled-2' }))).rejects.toThrow()
    expect(emulator.allTasks().map(t => t.shortname)).toEqual(['stalled-2'])
  })

  it('keeps the connection open as long as the client waits', async () => {
    emulator.faults.add({ endpoint: 'GET /tasks/{uuid}', fault: { type: 'stall' } })
    const uuid = await create()
    const exchange = await rawCall(emulator, 'GET', `/tasks/${uuid}`, { timeoutMs: 1200 })
    expect(exchange.ended).toBe('timeout')
    expect(exchange.status).toBeUndefined()
  })
})

describe('drip', () => {
  it('sends the real 200 answer one piece every intervalMs', async () => {
    const whole = await call(emulator, 'GET', '/profiles')
    emulator.faults.add({ endpoint: 'GET /profiles', fault: { type: 'drip', intervalMs: 15 } })
    const exchange = await rawCall(emulator, 'GET', '/profiles')
    expect(exchange.ended).toBe('complete')
    expect(exchange.status).toBe(200)
    expect(exchange.headers['content-length']).toBe(String(whole.text.length))
    expect(exchange.body.toString()).toBe(whole.text)
    // One byte per chunk (a chunk may hold two that arrived together), each after the interval.
    expect(exchange.chunks.length).toBeGreaterThan(whole.text.length / 2)
    const span = exchange.chunks[exchange.chunks.length - 1].at - exchange.chunks[0].at
    expect(span).toBeGreaterThanOrEqual((whole.text.length - 1) * 15 - 20)
  })

  it('sends pieces of `bytes` bytes, and the request is handled (a task is made)', async () => {
    emulator.faults.add({ endpoint: 'POST /tasks', fault: { type: 'drip', intervalMs: 10, bytes: 8 } })
    const exchange = await rawCall(emulator, 'POST', '/tasks', { body: helloBody({ shortname: 'dripped' }) })
    const { uuid } = JSON.parse(exchange.body.toString()) as { uuid: string }
    expect(emulator.allTasks().map(t => t.uuid)).toEqual([uuid])
    expect(exchange.chunks.every(chunk => chunk.length <= 16)).toBe(true)
    expect(exchange.chunks.length).toBeGreaterThanOrEqual(Math.ceil(exchange.body.length / 16))
  })

  it('keeps a client that restarts its timer on every chunk waiting: the answer outlives its idle limit', async () => {
    emulator.faults.add({ endpoint: 'GET /info', fault: { type: 'drip', intervalMs: 100 } })
    const exchange = await rawCall(emulator, 'GET', '/info', { timeoutMs: 1000 })
    expect(exchange.ended).toBe('timeout')
    expect(exchange.status).toBe(200)
    // Never much more than the interval without a chunk: an idle timer of 500 ms never fires.
    const gaps = exchange.chunks.slice(1).map((chunk, i) => chunk.at - exchange.chunks[i].at)
    expect(Math.max(...gaps)).toBeLessThan(500)
    expect(exchange.chunks.length).toBeGreaterThanOrEqual(5)
  })
})

describe('transform', () => {
  it('answers a 200 with an HTML page, or {}, after the task was made', async () => {
    emulator.faults.add(
      {
        endpoint: 'POST /tasks',
        fault: {
          type: 'transform',
          transform: () => ({
            status: 200,
            body: '<html><body>Welcome</body></html>',
            contentType: 'text/html'
          })
        }
      },
      {
        endpoint: 'POST /tasks',
        fault: { type: 'transform', transform: answer => ({ ...answer, body: '{}' }) }
      }
    )
    const html = await call(emulator, 'POST', '/tasks', helloBody({ shortname: 'html-1' }))
    expect([html.status, html.headers.get('content-type'), html.text]).toEqual([
      200,
      'text/html',
      '<html><body>Welcome</body></html>'
    ])
    const empty = await call(emulator, 'POST', '/tasks', helloBody({ shortname: 'empty-1' }))
    expect(empty.json()).toEqual({})
    expect(emulator.allTasks().map(t => t.shortname)).toEqual(['html-1', 'empty-1'])
  })

  it('sees the real answer: a status document with completedInstances [null], a null body, another status', async () => {
    const uuid = await create(helloBody({ instanceCount: 2 }))
    await waitForState(emulator, uuid, ['Success'])
    const seen: { status: number; contentType: string }[] = []
    emulator.faults.add(
      {
        endpoint: 'GET /tasks/{uuid}',
        fault: {
          type: 'transform',
          transform: answer => {
            seen.push({ status: answer.status, contentType: answer.contentType })
            const task = JSON.parse(answer.body) as Record<string, unknown>
            return { ...answer, body: JSON.stringify({ ...task, completedInstances: [null] }) }
          }
        }
      },
      {
        endpoint: 'GET /tasks/{uuid}',
        fault: { type: 'transform', transform: answer => ({ ...answer, body: 'null' }) }
      },
      {
        endpoint: 'GET /tasks/{uuid}',
        fault: {
          type: 'transform',
          transform: answer => ({ ...answer, status: 503, headers: { 'Retry-After': '1' } })
        }
      }
    )
    const odd = (await call(emulator, 'GET', `/tasks/${uuid}`)).json() as Record<string, unknown>
    expect(odd).toMatchObject({ uuid, state: 'Success', completedInstances: [null] })
    expect(seen).toEqual([{ status: 200, contentType: 'application/json; charset=utf-8' }])
    const nothing = await call(emulator, 'GET', `/tasks/${uuid}`)
    expect([nothing.status, nothing.text]).toEqual([200, 'null'])
    const refused = await call(emulator, 'GET', `/tasks/${uuid}`)
    expect([refused.status, refused.headers.get('retry-after')]).toEqual([503, '1'])
    expect(refused.json()).toMatchObject({ uuid })
  })

  it('moves the fresh-output cursor even when the answer is replaced', async () => {
    const uuid = await create(helloBody({ instanceCount: 1 }))
    await waitForState(emulator, uuid, ['Success'])
    let real = ''
    emulator.faults.add({
      endpoint: 'POST /tasks/{uuid}/stdout',
      fault: {
        type: 'transform',
        transform: answer => {
          real = answer.body
          return { ...answer, body: '' }
        }
      }
    })
    expect((await call(emulator, 'POST', `/tasks/${uuid}/stdout`)).text).toBe('')
    expect(real).toBe('0> hello world from node 0!\n')
    expect((await call(emulator, 'POST', `/tasks/${uuid}/stdout`)).text).toBe('')
    expect((await call(emulator, 'GET', `/tasks/${uuid}/stdout`)).text).toBe(real)
  })
})

describe('cut', () => {
  it('sends the headers and the first bytes, then ends the connection: a read that ends early', async () => {
    const uuid = await create()
    const whole = await call(emulator, 'GET', `/tasks/${uuid}`)
    emulator.faults.add({ endpoint: 'GET /tasks/{uuid}', fault: { type: 'cut', bytes: 100 } })
    const exchange = await rawCall(emulator, 'GET', `/tasks/${uuid}`)
    expect(exchange.ended).toBe('cut')
    expect(exchange.status).toBe(200)
    expect(Number(exchange.headers['content-length'])).toBeGreaterThan(100)
    expect(exchange.body.length).toBe(100)
    expect(whole.text.startsWith(exchange.body.toString())).toBe(true)
    // fetch sees the same as a failed body read.
    emulator.faults.add({ endpoint: 'GET /tasks/{uuid}', fault: { type: 'cut', bytes: 10 } })
    const response = await callWithin(5000, 'GET', `/tasks/${uuid}`)
    expect(response.status).toBe(200)
    await expect(response.text()).rejects.toThrow()
  })

  it('handles the request first: a create cut before its body still made the task', async () => {
    emulator.faults.add({ endpoint: 'POST /tasks', fault: { type: 'cut', bytes: 0 } })
    const exchange = await rawCall(emulator, 'POST', '/tasks', { body: helloBody({ shortname: 'cut-1' }) })
    expect(exchange).toMatchObject({ ended: 'cut', status: 200 })
    expect(exchange.body.length).toBe(0)
    expect(emulator.allTasks().map(t => t.shortname)).toEqual(['cut-1'])
  })

  it('cuts an output read, after moving the fresh-output cursor', async () => {
    const uuid = await create(helloBody({ instanceCount: 1 }))
    await waitForState(emulator, uuid, ['Success'])
    emulator.faults.add({
      endpoint: 'POST /tasks/{uuid}/stdout/{instanceId}',
      fault: { type: 'cut', bytes: 5 }
    })
    const exchange = await rawCall(emulator, 'POST', `/tasks/${uuid}/stdout/0`)
    expect([exchange.ended, exchange.body.toString()]).toEqual(['cut', 'hello'])
    expect((await call(emulator, 'POST', `/tasks/${uuid}/stdout/0`)).text).toBe('')
  })
})

describe('stop()', () => {
  it('ends stalled and dripping answers at once', async () => {
    emulator.faults.add(
      { endpoint: 'GET /profiles', fault: { type: 'stall' } },
      { endpoint: 'GET /info', fault: { type: 'drip', intervalMs: 20_000 } },
      { endpoint: 'GET /settings', fault: { type: 'stall', handled: true } }
    )
    const stalled = rawCall(emulator, 'GET', '/profiles', { timeoutMs: 30_000 })
    const dripping = rawCall(emulator, 'GET', '/info', { timeoutMs: 30_000 })
    const silent = rawCall(emulator, 'GET', '/settings', { timeoutMs: 30_000 })
    // Wait until the emulator holds all three.
    const deadline = Date.now() + 5000
    while (emulator.requestCount() < 3 && Date.now() < deadline)
      await new Promise(resolve => setTimeout(resolve, 10))
    await new Promise(resolve => setTimeout(resolve, 50))
    const started = Date.now()
    await emulator.stop()
    const [a, b, c] = await Promise.all([stalled, dripping, silent])
    expect(Date.now() - started).toBeLessThan(2000)
    expect(a.ended).toBe('error')
    expect(b).toMatchObject({ ended: 'cut', status: 200 })
    expect(b.body.length).toBe(1)
    expect(c.ended).toBe('error')
    // afterEach stops it again: stop() twice is harmless.
  })
})
