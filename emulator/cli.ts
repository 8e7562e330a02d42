/**
 * `npm run emulator`: the Qarnot emulator on its own, for trying the action or an SDK by hand.
 * Options: --port N, --token T, --max-running N, --dispatch-ms N, --environment-ms N, --upload-ms N, --cancel-ms N,
 * --no-storage (a cluster without storage), --storage-latency-ms N (added to every storage request).
 */
import { parseArgs } from 'node:util'
import { startEmulator } from './server.js'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    token: { type: 'string' },
    'max-running': { type: 'string' },
    'dispatch-ms': { type: 'string' },
    'environment-ms': { type: 'string' },
    'upload-ms': { type: 'string' },
    'cancel-ms': { type: 'string' },
    'no-storage': { type: 'boolean', default: false },
    'storage-latency-ms': { type: 'string' }
  }
})

const number = (text: string | undefined): number | undefined =>
  text === undefined ? undefined : Number(text)

const emulator = await startEmulator({
  port: Number(values.port),
  token: values.token,
  maxRunningInstances: number(values['max-running']),
  timings: {
    ...(values['dispatch-ms'] !== undefined && { dispatchMs: Number(values['dispatch-ms']) }),
    ...(values['environment-ms'] !== undefined && { environmentMs: Number(values['environment-ms']) }),
    ...(values['upload-ms'] !== undefined && { uploadMs: Number(values['upload-ms']) }),
    ...(values['cancel-ms'] !== undefined && { cancelMs: Number(values['cancel-ms']) })
  },
  storage: values['no-storage'] ? false : { latencyMs: number(values['storage-latency-ms']) }
})
// By hand the storage is started at once, to show where it is (tests start it on first need).
const storage = emulator.hasStorage ? await emulator.storage() : undefined

console.log(`Qarnot emulator listening on ${emulator.url}`)
console.log(`Token: ${emulator.token}`)
console.log(
  storage
    ? `Storage (S3): ${storage.url}, access key ${emulator.email}, secret key the token`
    : 'No storage (GET /settings answers {"storage": null})'
)
console.log('')
console.log('Try it:')
console.log(`  export QARNOT_CLUSTER_URL=${emulator.url} QARNOT_CLIENT_TOKEN=${emulator.token}`)
console.log(
  `  curl -s -H "Authorization: $QARNOT_CLIENT_TOKEN" -H 'Content-Type: application/json' -d '{"name":"hello","profile":"docker-batch","instanceCount":4,"constants":[{"key":"DOCKER_CMD","value":"echo hello world from node \${INSTANCE_ID}!"}]}' $QARNOT_CLUSTER_URL/tasks`
)
console.log('Request counts: GET /__emulator/requests. Stop with Ctrl-C.')

const shutdown = async (): Promise<void> => {
  await emulator.stop()
  process.exit(0)
}
process.on('SIGINT', () => void shutdown())
process.on('SIGTERM', () => void shutdown())
