/**
 * The shape the code keeps: main.ts reads as one flow on one screen, and no function of the action's own code
 * (the emulator and the local runner aside) is longer than 60 lines. Measured with the TypeScript parser.
 */
import { describe, expect, it } from '@jest/globals'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { PROJECT_ROOT } from '../src/local-runner/runner.js'

const SRC = join(PROJECT_ROOT, 'src')
const NOT_THE_ACTION = ['emulator', 'local-runner']

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    if (statSync(path).isDirectory())
      return NOT_THE_ACTION.includes(name) && dir === SRC ? [] : sourceFiles(path)
    return name.endsWith('.ts') ? [path] : []
  })
}

/** Every function-like node with its name and length in lines. */
function functionLengths(path: string): { where: string; lines: number }[] {
  const text = readFileSync(path, 'utf8')
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true)
  const found: { where: string; lines: number }[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = file.getLineAndCharacterOfPosition(node.getStart()).line
      const end = file.getLineAndCharacterOfPosition(node.getEnd()).line
      const name = node.name?.getText() ?? '(anonymous)'
      found.push({ where: `${relative(PROJECT_ROOT, path)}:${start + 1} ${name}`, lines: end - start + 1 })
    }
    ts.forEachChild(node, visit)
  }
  visit(file)
  return found
}

describe('the shape of the code', () => {
  it('has no function longer than 60 lines in the action (emulator and local runner aside)', () => {
    const all = sourceFiles(SRC).flatMap(functionLengths)
    expect(all.length).toBeGreaterThan(100)
    expect(all.filter(f => f.lines > 60)).toEqual([])
  })

  it('keeps main.ts to one screen', () => {
    expect(readFileSync(join(SRC, 'main.ts'), 'utf8').split('\n').length).toBeLessThanOrEqual(150)
  })
})
