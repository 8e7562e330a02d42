/** The example workflows and the repository's own parse, and use only inputs and outputs action.yml declares. */
import { describe, expect, it } from '@jest/globals'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { readSettings } from '../src/inputs/settings.js'
import { PROJECT_ROOT, evaluateDefault, readActionDefinition } from '../src/local-runner/runner.js'

interface Step {
  id?: string
  uses?: string
  with?: Record<string, unknown>
}
interface Workflow {
  on: unknown
  jobs: Record<
    string,
    { 'runs-on'?: string; steps: Step[]; strategy?: { matrix?: Record<string, unknown[]> } }
  >
}

/** What an expression stands for when the example runs: each matrix value, or a plausible value of the input. */
function resolve(input: string, value: string, matrix: Record<string, unknown>): string {
  return value.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expression: string) => {
    const fromMatrix = /^matrix\.([\w-]+)$/.exec(expression)
    if (fromMatrix) return String(matrix[fromMatrix[1]])
    if (input === 'task') return 'gha-1-1-abcdef0123'
    return 'a-secret'
  })
}

/** Every leg of a job's matrix (one empty leg without a matrix). */
function legs(matrix: Record<string, unknown[]> | undefined): Record<string, unknown>[] {
  let result: Record<string, unknown>[] = [{}]
  for (const [key, values] of Object.entries(matrix ?? {})) {
    result = result.flatMap(leg => values.map(value => ({ ...leg, [key]: value })))
  }
  return result
}

const definition = readActionDefinition()
const files = [
  ...readdirSync(join(PROJECT_ROOT, 'examples'))
    .filter(f => f.endsWith('.yml'))
    .map(f => join('examples', f)),
  ...readdirSync(join(PROJECT_ROOT, '.github', 'workflows')).map(f => join('.github', 'workflows', f))
]
const isOurs = (uses: string | undefined) => uses === './' || /qarnot-action@/.test(uses ?? '')

describe('workflow files', () => {
  it('include the four examples and the repository checks', () => {
    expect(files.sort()).toEqual(
      [
        '.github/workflows/check-dist.yml',
        '.github/workflows/conformance.yml',
        '.github/workflows/release.yml',
        '.github/workflows/test.yml',
        'examples/ci.yml',
        'examples/nightly.yml',
        'examples/pr-compute.yml',
        'examples/submit-then-collect.yml'
      ].sort()
    )
  })

  it.each(files)('%s uses only declared inputs and outputs', file => {
    const text = readFileSync(join(PROJECT_ROOT, file), 'utf8')
    const workflow = parse(text) as Workflow
    expect(workflow.on).toBeDefined()
    const ourSteps: string[] = []
    for (const job of Object.values(workflow.jobs)) {
      for (const step of job.steps) {
        if (!isOurs(step.uses)) continue
        if (step.id) ourSteps.push(step.id)
        for (const input of Object.keys(step.with ?? {}))
          expect(Object.keys(definition.inputs)).toContain(input)
        expect(step.with).toHaveProperty('token')
      }
    }
    for (const [, stepId, output] of text.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
      if (ourSteps.includes(stepId)) expect(Object.keys(definition.outputs)).toContain(output)
    }
  })

  const withOurStep = files.filter(file =>
    /uses: (\.\/|\S*qarnot-action@)/.test(readFileSync(join(PROJECT_ROOT, file), 'utf8'))
  )
  it.each(withOurStep)('%s gives inputs the action itself accepts, in every matrix leg', file => {
    const workflow = parse(readFileSync(join(PROJECT_ROOT, file), 'utf8')) as Workflow
    let checked = 0
    for (const job of Object.values(workflow.jobs)) {
      expect(job['runs-on']).toBeDefined()
      for (const step of job.steps.filter(s => isOurs(s.uses))) {
        for (const matrix of legs(job.strategy?.matrix)) {
          const given: Record<string, string> = {}
          for (const [name, value] of Object.entries(step.with ?? {}))
            given[name] = resolve(name, String(value), matrix)
          const read = (name: string): string =>
            (given[name] ?? evaluateDefault(definition.inputs[name]?.default)).trim()
          expect(() => readSettings(read, { env: {}, randomHex: 'abcdef0123' })).not.toThrow()
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(0)
  })

  it('describes the action in under 125 characters, as the Marketplace requires', () => {
    const action = parse(readFileSync(join(PROJECT_ROOT, 'action.yml'), 'utf8')) as { description: string }
    expect(action.description.length).toBeLessThan(125)
  })
})
