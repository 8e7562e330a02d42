/**
 * `npm run conformance`: the conformance scenarios against an API (docs/conformance.md).
 *
 *   npm run conformance                                   # against an emulator started in this process
 *   npm run conformance -- --api-url https://api.qarnot.com --token "$QARNOT_TOKEN" --json observations.json
 *
 * Options: --api-url (or QARNOT_API_URL), --token (or QARNOT_TOKEN), --profile (default docker-batch),
 * --storage-url (overrides GET /settings; or QARNOT_STORAGE_URL), --only create,ranges,..., --json <file>,
 * --poll-ms, --task-timeout-ms, --cancel-timeout-ms. Exits 1 when a scenario fails, 2 on a usage error.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startEmulator } from '../emulator/server.js'
import { renderTable, runConformance, type ConformanceReport } from './run.js'

/** Emulator timings for a run by hand: fast, yet every state lasts long enough to be seen. */
const EMULATOR_TIMINGS = { dispatchMs: 40, environmentMs: 20, uploadMs: 40, cancelMs: 80 }

const { values } = parseArgs({
  options: {
    'api-url': { type: 'string' },
    token: { type: 'string' },
    profile: { type: 'string' },
    'storage-url': { type: 'string' },
    only: { type: 'string' },
    json: { type: 'string' },
    'poll-ms': { type: 'string' },
    'task-timeout-ms': { type: 'string' },
    'cancel-timeout-ms': { type: 'string' }
  }
})

const number = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`not a positive number: ${text}`)
    process.exit(2)
  }
  return value
}

const apiUrl = values['api-url'] ?? process.env.QARNOT_API_URL
const token = values.token ?? process.env.QARNOT_TOKEN
if (apiUrl && !token) {
  console.error('--api-url needs a token: --token or QARNOT_TOKEN')
  process.exit(2)
}

const settings = {
  ...(values.profile !== undefined && { profile: values.profile }),
  ...((values['storage-url'] ?? process.env.QARNOT_STORAGE_URL) && {
    storageUrl: values['storage-url'] ?? process.env.QARNOT_STORAGE_URL
  }),
  ...(values['poll-ms'] !== undefined && { pollMs: number(values['poll-ms']) }),
  ...(values['task-timeout-ms'] !== undefined && { taskTimeoutMs: number(values['task-timeout-ms']) }),
  ...(values['cancel-timeout-ms'] !== undefined && { cancelTimeoutMs: number(values['cancel-timeout-ms']) })
}
const only = values.only
  ?.split(',')
  .map(name => name.trim())
  .filter(Boolean)

let report: ConformanceReport
try {
  if (apiUrl && token) {
    report = await runConformance({ apiUrl, token, target: 'api', settings, only })
  } else {
    const emulator = await startEmulator({ timings: EMULATOR_TIMINGS })
    try {
      report = await runConformance({
        apiUrl: emulator.url,
        token: emulator.token,
        target: 'emulator',
        settings,
        only
      })
    } finally {
      await emulator.stop()
    }
  }
} catch (error) {
  const message = error instanceof Error ? error.message : String(error)
  console.error(token ? message.split(token).join('[token]') : message)
  process.exit(2)
}

console.log(renderTable(report))
if (values.json) {
  writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`)
  console.log(`Observations written to ${values.json}`)
}
process.exit(report.passed ? 0 : 1)
