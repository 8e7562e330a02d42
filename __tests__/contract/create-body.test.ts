/**
 * The action's create bodies (src/task/create-body.ts, from settings read as the runner passes inputs) validate
 * against TaskCreationInput through exceptions.ts only, for every input that shapes the body, and the emulator
 * takes them (docs/qarnot-api.md §3).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { QarnotEmulator } from '../../emulator/server.js'
import { readSettings } from '../../src/inputs/settings.js'
import { evaluateDefault, readActionDefinition } from '../../src/local-runner/runner.js'
import { buildCreateBody } from '../../src/task/create-body.js'
import { call, fastEmulator } from '../helpers/emulator.js'
import { validate } from './validate.js'

const defaults = Object.fromEntries(
  Object.entries(readActionDefinition().inputs).map(([name, input]) => [name, evaluateDefault(input.default)])
)

/** The body the action would send for these inputs (action.yml defaults for the rest). */
function bodyFor(inputs: Record<string, string>): object {
  const values: Record<string, string> = { ...defaults, token: 'secret-token', command: 'echo hi', ...inputs }
  const settings = readSettings(name => (values[name] ?? '').trim(), {
    env: { GITHUB_REPOSITORY: 'o/r', GITHUB_RUN_ID: '42', GITHUB_RUN_ATTEMPT: '1' },
    randomHex: 'abcdef0123',
    trace: { labels: { 'github-repository': 'o/r', 'github-run-id': '42' }, tag: 'github-actions' }
  })
  if (!settings.task) throw new Error('these inputs create no task')
  return buildCreateBody(settings.task)
}

const POOL = '62e80aae-d20a-4608-b873-ec8bff991733'

const CASES: Record<string, Record<string, string>> = {
  'a count': { 'instance-count': '4' },
  'a range, an image, constants with a secret, tags, labels and a name': {
    'instance-range': '25-30,1-6,15,20',
    'docker-image': 'ghcr.io/org/image:1.2',
    constants: 'GREETING=hello\nQARNOT_SECRET__API_KEY=s3cr3t\nmy.key-1=x=y',
    tags: 'nightly, render',
    labels: 'team=ci\nowner=someone',
    name: 'Nightly render'
  },
  'a pool': { pool: POOL, 'instance-count': '2' },
  'every hardware constraint': {
    hardware:
      'min-cores=16, max-cores=32, min-ram=32GB, max-ram=64GB, min-ram-per-core=2GB, max-ram-per-core=8GB, gpu, ssd, cpu-model=AMD Ryzen 7 3700X, specification=8c-32g-amd-rz3700x'
  },
  'no gpu and no ssd': { hardware: 'no-gpu\nno-ssd' },
  'flex scheduling': { scheduling: 'flex' },
  'on-demand scheduling': { scheduling: 'on-demand' },
  'reserved scheduling': { scheduling: 'reserved' },
  'retries per instance': { 'max-retries-per-instance': '3' },
  'auto-delete': { 'auto-delete': 'true' },
  'a custom profile without a command': { profile: 'custom-profile', command: '' }
}

describe("the action's create bodies against TaskCreationInput", () => {
  let emulator: QarnotEmulator
  beforeAll(async () => {
    emulator = await fastEmulator()
  })
  afterAll(async () => {
    await emulator.stop()
  })

  for (const [label, inputs] of Object.entries(CASES)) {
    it(`with ${label}`, () => {
      const body = bodyFor(inputs)
      expect({ label, body, errors: validate('TaskCreationInput', body) }).toEqual({
        label,
        body,
        errors: []
      })
    })
  }

  it('the emulator takes them, in a pool too', async () => {
    const pool = emulator.createPool({ instanceCount: 2 })
    for (const [index, [label, inputs]] of Object.entries(CASES).entries()) {
      if (inputs.profile === 'custom-profile') continue // not a profile the emulator knows
      const body = bodyFor(inputs.pool ? { ...inputs, pool: pool.uuid } : inputs) as Record<string, unknown>
      const answer = await call(emulator, 'POST', '/tasks', {
        ...body,
        shortname: `${String(body.shortname)}-${index}`
      })
      expect({ label, status: answer.status, answer: answer.text }).toMatchObject({ label, status: 200 })
    }
  })
})
