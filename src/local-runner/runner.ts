/**
 * A stand-in for the GitHub runner: starts `dist/index.js` as a child process the way the runner starts a
 * JavaScript action (every declared input as INPUT_<NAME> with its action.yml default, the GITHUB_* command files
 * in a temporary folder), then runs the post step with the saved state as STATE_<name>. Used by `npm start` and
 * the end-to-end tests; never bundled.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface ActionDefinition {
  inputs: Record<string, { default?: string; required?: boolean }>
  outputs: Record<string, { description?: string }>
  runs: { using?: string; main?: string; post?: string }
}

export function readActionDefinition(path = join(PROJECT_ROOT, 'action.yml')): ActionDefinition {
  const parsed = parseYaml(readFileSync(path, 'utf8')) as Partial<ActionDefinition>
  return { inputs: parsed.inputs ?? {}, outputs: parsed.outputs ?? {}, runs: parsed.runs ?? {} }
}

/** An input's default as the runner evaluates it: `${{ github.token }}` is the job's token (GITHUB_TOKEN here). */
export function evaluateDefault(
  value: string | undefined,
  env: Record<string, string | undefined> = {}
): string {
  return (value ?? '').replace(/\$\{\{\s*github\.token\s*\}\}/g, env.GITHUB_TOKEN ?? '')
}

/** Reads a GITHUB_OUTPUT / GITHUB_STATE file: `name=value` lines and `name<<DELIMITER` heredocs. */
export function parseCommandFile(text: string): Record<string, string> {
  const values: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (line === '') continue
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const [, name, delimiter] = heredoc
      const body: string[] = []
      for (i++; i < lines.length && lines[i] !== delimiter; i++) body.push(lines[i])
      values[name] = body.join('\n')
      continue
    }
    const equals = line.indexOf('=')
    if (equals > 0) values[line.slice(0, equals)] = line.slice(equals + 1)
  }
  return values
}

export interface StepOptions {
  /** Inputs as a workflow's `with:` gives them; the others get their action.yml default. */
  readonly inputs: Record<string, string>
  /** Extra environment (e.g. ACTIONS_STEP_DEBUG). */
  readonly env?: Record<string, string>
  /** Which script of action.yml's `runs` to start (default main); the post step gets `state` from main. */
  readonly phase?: 'main' | 'post'
  readonly entry?: string
  /** Folder for the command files; one is made when absent. */
  readonly workDir?: string
  /** Saved state from main, for the post step. */
  readonly state?: Record<string, string>
  /** Receives the step's stdout and stderr as they come. */
  readonly onOutput?: (text: string) => void
}

export interface StepResult {
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null
  /** stdout and stderr interleaved as the runner's log would show them. */
  readonly log: string
  readonly outputs: Record<string, string>
  readonly state: Record<string, string>
  readonly summary: string
  readonly durationMs: number
}

export interface RunningStep {
  readonly child: ChildProcess
  readonly result: Promise<StepResult>
}

/** The environment the runner gives a step: inputs, command files, and the usual GITHUB_* variables. */
export function stepEnvironment(options: StepOptions, workDir: string): NodeJS.ProcessEnv {
  const definition = readActionDefinition()
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: process.env.LANG ?? 'C.UTF-8',
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_REPOSITORY: 'octo-org/qarnot-demo',
    GITHUB_WORKFLOW: 'local',
    GITHUB_JOB: 'compute',
    GITHUB_RUN_ID: String(1_000_000 + Math.floor(Math.random() * 1_000_000)),
    GITHUB_RUN_NUMBER: '1',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_EVENT_NAME: 'workflow_dispatch',
    GITHUB_SHA: '0000000000000000000000000000000000000000',
    GITHUB_REF: 'refs/heads/main',
    RUNNER_TEMP: workDir,
    GITHUB_OUTPUT: join(workDir, 'output'),
    GITHUB_STATE: join(workDir, 'state'),
    GITHUB_ENV: join(workDir, 'env'),
    GITHUB_PATH: join(workDir, 'path'),
    GITHUB_STEP_SUMMARY: join(workDir, 'summary')
  }
  for (const [name, input] of Object.entries(definition.inputs)) {
    env[`INPUT_${name.toUpperCase()}`] = options.inputs[name] ?? evaluateDefault(input.default, options.env)
  }
  for (const name of Object.keys(options.inputs)) {
    if (!(name in definition.inputs)) throw new Error(`'${name}' is not an input of action.yml`)
  }
  for (const [name, value] of Object.entries(options.state ?? {})) env[`STATE_${name}`] = value
  return { ...env, ...options.env }
}

/** Starts one step (main, or post when `state` is given) as a child process. */
export function startStep(options: StepOptions): RunningStep {
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'qarnot-step-'))
  const env = stepEnvironment(options, workDir)
  for (const file of ['output', 'state', 'env', 'path', 'summary']) writeFileSync(join(workDir, file), '')
  const started = Date.now()
  const runs = readActionDefinition().runs
  const script = (options.phase === 'post' ? runs.post : runs.main) ?? 'dist/index.js'
  const child = spawn(process.execPath, [options.entry ?? join(PROJECT_ROOT, script)], {
    cwd: workDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let log = ''
  const collect = (chunk: Buffer): void => {
    const text = chunk.toString('utf8')
    log += text
    options.onOutput?.(text)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const result = new Promise<StepResult>((resolveResult, reject) => {
    child.on('error', reject)
    child.on('close', (exitCode, signal) =>
      resolveResult({
        exitCode,
        signal,
        log,
        outputs: parseCommandFile(readFileSync(join(workDir, 'output'), 'utf8')),
        state: parseCommandFile(readFileSync(join(workDir, 'state'), 'utf8')),
        summary: readFileSync(join(workDir, 'summary'), 'utf8'),
        durationMs: Date.now() - started
      })
    )
  })
  return { child, result }
}

export interface ActionRun {
  readonly main: StepResult
  readonly post: StepResult
}

/** Main then post, as a job runs a step that has a post script. */
export async function runAction(options: StepOptions): Promise<ActionRun> {
  const main = await startStep(options).result
  const post = await startStep({ ...options, phase: 'post', state: main.state }).result
  return { main, post }
}
