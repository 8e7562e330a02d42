/** Starting and using the emulator from tests. */
import type { TaskCreateBody } from '../../src/qarnot/types.js'
import { startEmulator, type EmulatorOptions, type QarnotEmulator } from '../../src/emulator/server.js'

export const FAST_TIMINGS = { dispatchMs: 20, environmentMs: 10, uploadMs: 20, cancelMs: 50 }

export function fastEmulator(options: EmulatorOptions = {}): Promise<QarnotEmulator> {
  return startEmulator({ timings: FAST_TIMINGS, ...options })
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
