/**
 * The README's inputs and outputs tables, generated from action.yml so they cannot drift.
 * `npm run docs` rewrites them; `npm run docs -- --check` fails when the README differs (CI runs it).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { format, resolveConfig } from 'prettier'
import { PROJECT_ROOT, readActionDefinition } from '../src/local-runner/runner.js'

const README = join(PROJECT_ROOT, 'README.md')

function cell(text: string): string {
  return text
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ')
    .trim()
}

export function inputsTable(): string {
  const { inputs } = readActionDefinition()
  const rows = Object.entries(inputs).map(([name, input]) => {
    const spec = input as { description?: string; default?: string; required?: boolean }
    const fallback = spec.required ? '**required**' : spec.default ? `\`${spec.default}\`` : ''
    return `| \`${name}\` | ${cell(spec.description ?? '')} | ${fallback} |`
  })
  return ['| Input | Description | Default |', '| --- | --- | --- |', ...rows].join('\n')
}

export function outputsTable(): string {
  const { outputs } = readActionDefinition()
  const rows = Object.entries(outputs).map(
    ([name, output]) => `| \`${name}\` | ${cell(output.description ?? '')} |`
  )
  return ['| Output | Description |', '| --- | --- |', ...rows].join('\n')
}

function replaceBetween(text: string, marker: string, content: string): string {
  const begin = `<!-- ${marker}:begin (generated from action.yml by npm run docs) -->`
  const end = `<!-- ${marker}:end -->`
  const start = text.indexOf(begin)
  const stop = text.indexOf(end)
  if (start < 0 || stop < start) throw new Error(`README.md lacks the markers ${begin} ... ${end}`)
  return `${text.slice(0, start + begin.length)}\n${content}\n${text.slice(stop)}`
}

export function renderReadme(text: string): string {
  return replaceBetween(replaceBetween(text, 'inputs', inputsTable()), 'outputs', outputsTable())
}

const current = readFileSync(README, 'utf8')
// Formatted as Prettier (which lint checks) would format it, so the two never fight.
const wanted = await format(renderReadme(current), { ...(await resolveConfig(README)), filepath: README })
if (process.argv.includes('--check')) {
  if (current !== wanted) {
    console.error('README.md tables differ from action.yml: run npm run docs and commit README.md.')
    process.exit(1)
  }
  console.log('README.md tables match action.yml.')
} else if (current !== wanted) {
  writeFileSync(README, wanted)
  console.log('README.md tables updated from action.yml.')
}
