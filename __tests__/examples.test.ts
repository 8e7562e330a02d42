/** The example workflows and the repository's own parse, and use only inputs and outputs action.yml declares. */
import { describe, expect, it } from '@jest/globals'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { PROJECT_ROOT, readActionDefinition } from '../src/local-runner/runner.js'

interface Step {
  id?: string
  uses?: string
  with?: Record<string, unknown>
}
interface Workflow {
  on: unknown
  jobs: Record<string, { steps: Step[] }>
}

const definition = readActionDefinition()
const files = [
  ...readdirSync(join(PROJECT_ROOT, 'examples')).map(f => join('examples', f)),
  ...readdirSync(join(PROJECT_ROOT, '.github', 'workflows')).map(f => join('.github', 'workflows', f))
]
const isOurs = (uses: string | undefined) => uses === './' || /qarnot-action@/.test(uses ?? '')

describe('workflow files', () => {
  it('include the four examples and the repository checks', () => {
    expect(files.sort()).toEqual(
      [
        '.github/workflows/check-dist.yml',
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
})
