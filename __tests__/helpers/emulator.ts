/** Starting and using the emulator from tests. */
import { afterAll } from '@jest/globals'
import { request as httpRequest } from 'node:http'
import type { TaskCreateBody } from '../../src/qarnot/types.js'
import { startEmulator, type EmulatorOptions, type QarnotEmulator } from '../../emulator/server.js'

export const FAST_TIMINGS = { dispatchMs: 20, environmentMs: 10, uploadMs: 20, cancelMs: 50 }

export function fastEmulator(options: EmulatorOptions = {}): Promise<QarnotEmulator> {
  return startEmulator({ timings: FAST_TIMINGS, ...options })
}

/**
 * A starter of fast emulators for one test file: each test may start its own (tests run side by side), and all of
 * them are stopped after the file. Call it at the top level of the file.
 */
export function emulatorsOfThisFile(): (options?: EmulatorOptions) => Promise<QarnotEmulator> {
  const running = new Set<QarnotEmulator>()
  afterAll(async () => {
    await Promise.all([...running].map(e => e.stop()))
  })
  return async (options = {}) => {
    const emulator = await fastEmulator(options)
    running.add(emulator)
    return emulator
  }
}

/** A plain HTTP call as any client of the real API would make it (raw token, JSON body). */
export async function call(
  emulator: QarnotEmulator,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = emulator.token
): Promise<{ status: number; json: () => unknown; text: string; headers: Headers }> {
  const headers: Record<string, string> = {}
  if (token !== null) headers.Authorization = token
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const response = await fetch(`${emulator.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await response.text()
  return { status: response.status, text, json: () => JSON.parse(text), headers: response.headers }
}

export async function waitForState(
  emulator: QarnotEmulator,
  uuid: string,
  states: string[],
  timeoutMs = 10_000
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const task = (await call(emulator, 'GET', `/tasks/${uuid}`)).json() as Record<string, unknown>
    if (states.includes(task.state as string)) return task
    if (Date.now() > deadline) throw new Error(`task ${uuid} still ${String(task.state)}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

export function helloBody(fields: Record<string, unknown> = {}): TaskCreateBody {
  return {
    name: 'hello',
    profile: 'docker-batch',
    instanceCount: 4,
    constants: [{ key: 'DOCKER_CMD', value: 'echo hello world from node ${INSTANCE_ID}!' }],
    ...fields
  }
}

/** What a raw HTTP exchange gave: the status and headers, every body chunk with its arrival time, and how it ended. */
export interface RawExchange {
  status?: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  chunks: { at: number; length: number }[]
  /** `complete`: the whole body came; `cut`: the connection ended before; `error`: no answer; `timeout`: gave up. */
  ended: 'complete' | 'cut' | 'error' | 'timeout'
  error?: string
}

/**
 * One request on a fresh connection with node:http, watching the answer arrive chunk by chunk: what a fault such as
 * drip or cut does is visible here (fetch only shows the end). Gives up after `timeoutMs` (default 10 s).
 */
export function rawCall(
  emulator: QarnotEmulator,
  method: string,
  path: string,
  options: { body?: unknown; timeoutMs?: number; token?: string | null } = {}
): Promise<RawExchange> {
  const token = options.token === undefined ? emulator.token : options.token
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
  const headers: Record<string, string> = {}
  if (token !== null) headers.Authorization = token
  if (payload !== undefined) headers['Content-Type'] = 'application/json'
  return new Promise(resolve => {
    const exchange: RawExchange = { headers: {}, body: Buffer.alloc(0), chunks: [], ended: 'error' }
    const parts: Buffer[] = []
    let settled = false
    const settle = (ended: RawExchange['ended'], error?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      exchange.ended = ended
      if (error !== undefined) exchange.error = error
      exchange.body = Buffer.concat(parts)
      resolve(exchange)
    }
    const request = httpRequest(`${emulator.url}${path}`, { method, headers, agent: false }, response => {
      exchange.status = response.statusCode
      exchange.headers = response.headers
      response.on('data', (chunk: Buffer) => {
        parts.push(chunk)
        exchange.chunks.push({ at: Date.now(), length: chunk.length })
      })
      response.on('end', () => settle(response.complete ? 'complete' : 'cut'))
      response.on('error', error => settle('cut', error.message))
      response.on('close', () => settle(response.complete ? 'complete' : 'cut'))
    })
    const timer = setTimeout(() => {
      settle('timeout')
      request.destroy()
    }, options.timeoutMs ?? 10_000)
    request.on('error', error => settle(exchange.status === undefined ? 'error' : 'cut', error.message))
    request.end(payload)
  })
}

/** Creates a task over HTTP and returns its uuid; throws the refusal when the emulator refuses it. */
export async function createTask(emulator: QarnotEmulator, body: unknown): Promise<string> {
  const answer = await call(emulator, 'POST', '/tasks', body)
  if (answer.status !== 200) throw new Error(`create refused: ${answer.status} ${answer.text}`)
  return (answer.json() as { uuid: string }).uuid
}

/** One instance's whole stdout (`GET /tasks/{uuid}/stdout/{instanceId}`). */
export async function instanceStdout(
  emulator: QarnotEmulator,
  uuid: string,
  instanceId: number
): Promise<string> {
  return (await call(emulator, 'GET', `/tasks/${uuid}/stdout/${instanceId}`)).text
}
