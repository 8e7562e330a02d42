/**
 * `npm start`: runs the built action (dist/index.js) exactly as the GitHub runner would, on the hello-world example
 * (4 instances), against the embedded Qarnot emulator, and shows the log, the outputs and the job summary.
 * With QARNOT_CLIENT_TOKEN set it talks to the real API (QARNOT_CLUSTER_URL, default https://api.qarnot.com).
 * Override any input: npm start -- instance-range=1-6,15,20,25-30 "command=sh -c 'exit \$((INSTANCE_ID % 2))'"
 * The files demo: npm start -- --files (examples/files-demo up as resources, each instance's result back in out/).
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { startEmulator, type QarnotEmulator } from '../emulator/server.js'
import { PROJECT_ROOT, startStep } from '../src/local-runner/runner.js'

const HELLO_WORLD = { 'instance-count': '4', command: 'echo hello world from node ${INSTANCE_ID}!' }
/** `npm start -- --files`: the repository's small files demo, resources up and results back into out/. */
const FILES_DEMO = {
  'instance-count': '4',
  resources: 'examples/files-demo',
  results: 'out',
  command: 'sh examples/files-demo/simulate.sh ${INSTANCE_ID}'
}

function parseOverrides(args: string[]): Record<string, string> {
  const overrides: Record<string, string> = {}
  for (const arg of args) {
    if (arg === '--files') {
      Object.assign(overrides, FILES_DEMO)
      continue
    }
    const equals = arg.indexOf('=')
    if (equals <= 0) throw new Error(`"${arg}" is not NAME=VALUE (an input of action.yml and its value)`)
    overrides[arg.slice(0, equals)] = arg.slice(equals + 1)
  }
  return overrides
}

function section(title: string): void {
  console.log(`\n==================== ${title} ====================`)
}

async function main(): Promise<number> {
  if (!existsSync(join(PROJECT_ROOT, 'dist', 'index.js'))) {
    console.error('dist/index.js is missing: run npm run package first.')
    return 1
  }
  const overrides = parseOverrides(process.argv.slice(2))
  const realToken = process.env.QARNOT_CLIENT_TOKEN
  let emulator: QarnotEmulator | undefined
  let api: Record<string, string>
  if (realToken) {
    api = { token: realToken, 'api-url': process.env.QARNOT_CLUSTER_URL ?? '' }
    console.log(
      `QARNOT_CLIENT_TOKEN is set: running against the real API (${process.env.QARNOT_CLUSTER_URL || 'https://api.qarnot.com'}).`
    )
  } else {
    emulator = await startEmulator()
    api = { token: emulator.token, 'api-url': emulator.url }
    console.log(`Qarnot emulator on ${emulator.url} (set QARNOT_CLIENT_TOKEN to use the real API).`)
  }
  try {
    // An instance selection given on the command line replaces the example's, rather than clashing with it.
    const example: Record<string, string> = { ...HELLO_WORLD }
    if ('instance-range' in overrides || 'instance-count' in overrides || 'task' in overrides)
      delete example['instance-count']
    if ('task' in overrides) delete example.command
    const inputs = { ...example, ...overrides, ...api }
    section('log of the main step (node dist/index.js)')
    // The repository is the workspace, as after actions/checkout: resources and results are relative to it.
    const env = { GITHUB_WORKSPACE: PROJECT_ROOT }
    const main = await startStep({ inputs, env, onOutput: text => process.stdout.write(text) }).result
    console.log(`\n(main step exit code: ${main.exitCode})`)
    section('log of the post step')
    const post = await startStep({ inputs, env, phase: 'post', state: main.state }).result
    process.stdout.write(post.log)
    const run = { main, post }
    section('outputs')
    for (const [name, value] of Object.entries(run.main.outputs)) {
      const shown = value.length > 2000 ? `${value.slice(0, 2000)}... (${value.length} characters)` : value
      console.log(`${name}=${shown.includes('\n') ? `\n${shown.replace(/^/gm, '    ')}` : shown}`)
    }
    section('job summary (Markdown)')
    console.log(run.main.summary)
    if (emulator) {
      section('requests the emulator received')
      for (const [endpoint, count] of emulator.requests)
        console.log(`${String(count).padStart(5)}  ${endpoint}`)
    }
    return run.main.exitCode ?? 1
  } finally {
    await emulator?.stop()
  }
}

main().then(
  code => process.exit(code),
  error => {
    console.error(error instanceof Error ? error.message : error)
    process.exit(1)
  }
)
