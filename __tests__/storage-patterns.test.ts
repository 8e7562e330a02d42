import { afterAll, describe, expect, it } from '@jest/globals'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { StorageInputError } from '../src/storage/errors.js'
import {
  parseResourcePatterns,
  resolveResources,
  resolveResultsFolder,
  validateResultFilters
} from '../src/storage/resource-patterns.js'
import { removeTempDirs, tempDir, workspace } from './helpers/storage.js'

afterAll(removeTempDirs)

const files = {
  'src/simulate.py': 'print(1)\n',
  'src/lib/util.py': 'x = 2\n',
  'src/lib/cache.pyc': 'junk',
  'data/a.csv': 'a,b\n1,2\n',
  'data/b.csv': 'c\n',
  'data/notes.txt': 'n',
  'params.yaml': 'k: v\n',
  '.hidden/x': 'h'
}

async function refusal(promise: Promise<unknown>): Promise<StorageInputError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e
  )
  expect(error).toBeInstanceOf(StorageInputError)
  return error as StorageInputError
}

describe('resources: what the input names', () => {
  it('expands directories to their files, matches globs, sorts by path and gives sizes', async () => {
    const root = workspace(files)
    const resolved = await resolveResources(root, 'src\ndata/*.csv\nparams.yaml')
    expect(resolved).toEqual([
      { path: 'data/a.csv', size: 8 },
      { path: 'data/b.csv', size: 2 },
      { path: 'params.yaml', size: 5 },
      { path: 'src/lib/cache.pyc', size: 4 },
      { path: 'src/lib/util.py', size: 6 },
      { path: 'src/simulate.py', size: 9 }
    ])
  })

  it('takes commas, comments, ./ and blank lines; ! excludes wherever it stands', async () => {
    const root = workspace(files)
    const resolved = await resolveResources(root, '!**/*.pyc\n# the code\n./src ,  data/*.csv\n\n')
    expect(resolved.map(f => f.path)).toEqual([
      'data/a.csv',
      'data/b.csv',
      'src/lib/util.py',
      'src/simulate.py'
    ])
  })

  it('takes the whole workspace with ".", hidden files included, and follows symlinks that stay inside', async () => {
    const root = workspace(files)
    symlinkSync(join(root, 'data'), join(root, 'linked'))
    const resolved = (await resolveResources(root, '.')).map(f => f.path)
    expect(resolved).toContain('.hidden/x')
    expect(resolved).toContain('linked/a.csv')
    expect(resolved).toHaveLength(Object.keys(files).length + 3)
  })

  it('keeps paths with spaces, unicode and glob characters in the workspace path', async () => {
    const root = join(tempDir('ws [x] *'), 'inner?')
    mkdirSync(root)
    writeFileSync(join(root, 'été 1.txt'), 'x')
    expect((await resolveResources(root, 'été 1.txt')).map(f => f.path)).toEqual(['été 1.txt'])
  })
})

describe('resources: every bad input is refused before any request, naming the input and the fix', () => {
  const root = workspace(files)
  const cases: [string, string, RegExp][] = [
    [
      'a pattern matching nothing',
      'src\nmissing/*.csv',
      /"missing\/\*\.csv" matches no file in the workspace/
    ],
    ['a folder with no file', 'empty', /"empty" matches no file/],
    ['..', 'src/../../etc/passwd', /leaves the workspace with "\.\."/],
    ['.. at the start', '../other', /leaves the workspace/],
    [
      'an absolute path outside',
      '/etc/passwd',
      /"\/etc\/passwd" is an absolute path; write it relative to the workspace/
    ],
    ['~', '~/secrets', /starts with ~/],
    ['a bare !', 'src\n!', /"!" alone excludes nothing/],
    ['nothing at all', ' \n # comment only\n', /names no file/],
    ['everything excluded', 'data/*.csv\n!data', /every file matched is excluded/]
  ]
  mkdirSync(join(root, 'empty'))
  it.each(cases)('%s', async (_label, text, message) => {
    const error = await refusal(resolveResources(root, text))
    expect(error.input).toBe('resources')
    expect(error.message).toMatch(/^Input 'resources': /)
    expect(error.message).toMatch(message)
  })

  it('suggests the relative form of an absolute path inside the workspace', async () => {
    const error = await refusal(resolveResources(root, join(root, 'data/a.csv')))
    expect(error.message).toContain('e.g. "data/a.csv"')
  })

  it('refuses a symbolic link to a file outside the workspace, and one inside a matched folder', async () => {
    const outside = workspace({ 'secret.txt': 'top secret' })
    const here = workspace({ 'src/ok.py': '1' })
    symlinkSync(join(outside, 'secret.txt'), join(here, 'src', 'leak.txt'))
    for (const text of ['src', 'src/leak.txt']) {
      const error = await refusal(resolveResources(here, text))
      expect(error.message).toMatch(
        /"src\/leak\.txt" is a symbolic link to .*secret\.txt, outside the workspace/
      )
    }
  })

  it('refuses a symbolic link to a folder outside the workspace', async () => {
    const outside = workspace({ 'etc/passwd': 'root' })
    const here = workspace({ 'a.txt': '1' })
    symlinkSync(join(outside, 'etc'), join(here, 'etc'))
    for (const text of ['etc', '.', '**/passwd']) {
      const error = await refusal(resolveResources(here, text))
      expect(error.message).toMatch(/"etc" is a symbolic link to .*etc, outside the workspace; .*"!etc"/)
    }
    // The fix the message gives works: the link excluded, it is not followed.
    expect((await resolveResources(here, '.\n!etc')).map(f => f.path)).toEqual(['a.txt'])
  })

  it('refuses a broken symbolic link', async () => {
    const here = workspace({ 'a.txt': '1' })
    symlinkSync(join(here, 'nowhere'), join(here, 'dangling'))
    const error = await refusal(resolveResources(here, 'dangling'))
    expect(error.message).toMatch(/broken symbolic link/)
  })

  it('refuses a workspace that does not exist', async () => {
    const error = await refusal(resolveResources(join(tempDir(), 'gone'), 'src'))
    expect(error.message).toMatch(/does not exist; run actions\/checkout first/)
  })

  it('parses without touching the disk', () => {
    expect(parseResourcePatterns('a, b\n!c\n#d\n./e/', '/ws')).toEqual({
      include: ['a', 'b', 'e/'],
      exclude: ['c']
    })
  })
})

describe('resources: symbolic links are judged by where they lead', () => {
  it('leaves out links into .git (a folder link, a file link), warning with their names', async () => {
    const root = workspace({
      'run.sh': 'echo',
      '.git/config': '[http] extraheader = AUTHORIZATION: basic c2VjcmV0',
      '.git/hooks/pre-commit': 'x',
      'sub/.git/config': 'y'
    })
    symlinkSync(join(root, '.git'), join(root, 'g'))
    symlinkSync(join(root, '.git', 'config'), join(root, 'c'))
    symlinkSync(join(root, 'sub', '.git'), join(root, 'sg'))
    const warnings: string[] = []
    const resolved = await resolveResources(root, '.', { warn: w => warnings.push(w) })
    expect(resolved.map(f => f.path)).toEqual(['run.sh'])
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(
      /^Input 'resources': "c", "g" and "sg" are symbolic links leading into \.git, left out/
    )
    for (const text of ['g/config', 'c', 'g']) {
      const error = await refusal(resolveResources(root, text))
      expect(error.message).toMatch(/names only "(g\/config|c|g)", a symbolic link leading into \.git/)
    }
    // A pattern naming .git itself still takes what it names.
    expect((await resolveResources(root, '.git/config')).map(f => f.path)).toEqual(['.git/config'])
  })

  it('a lattice of links to folders ends in a clear refusal naming resources, not an endless walk', async () => {
    // Seven folders, each linking to every other and to the top: some 13,700 paths without a cycle (twenty would
    // make more paths than any walk could finish).
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
    const root = workspace(Object.fromEntries(names.map(n => [`${n}/${n}.txt`, n])))
    for (const from of names)
      for (const to of [...names, '.'])
        if (to !== from) symlinkSync(join(root, to), join(root, from, `to-${to}`))
    const limits = { entries: 5_000, depth: 64, files: 100_000 }
    const error = await refusal(resolveResources(root, '.', { limits }))
    expect(error.message).toMatch(/^Input 'resources': "\." leads to more than 5,000 files and folders/)
    const deep = await refusal(
      resolveResources(root, '**/*.py', { limits: { ...limits, entries: 1e9, depth: 6 } })
    )
    expect(deep.message).toMatch(
      /more than 6 folders deep \(symbolic links to folders leading into one another\?\)/
    )
    const flat = workspace({ 'a/1': '1', 'a/2': '2', 'a/3': '3' })
    const many = await refusal(resolveResources(flat, 'a', { limits: { ...limits, files: 2 } }))
    expect(many.message).toMatch(/^Input 'resources': names more than 2 files; name fewer/)
  })

  it('a walk stops when its signal aborts', async () => {
    const root = workspace({ 'a/x.txt': '1' })
    const controller = new AbortController()
    controller.abort(new Error('the timeout of 1 ms has passed'))
    const error = await resolveResources(root, '.', { signal: controller.signal }).catch((e: Error) => e)
    expect((error as Error).message).toBe('the timeout of 1 ms has passed')
  })

  it('matches globs segment by segment: *, ?, [...], **, a trailing /, dot files', async () => {
    const root = workspace({
      'src/a.py': '1',
      'src/lib/b.py': '2',
      'src/lib/.c.py': '3',
      'data/a.csv': '4',
      'data/b.csv': '5',
      'data/c.csv': '6',
      'data/x1.txt': '7',
      d: '8'
    })
    const paths = async (text: string) => (await resolveResources(root, text)).map(f => f.path)
    expect(await paths('**/*.py')).toEqual(['src/a.py', 'src/lib/.c.py', 'src/lib/b.py'])
    expect(await paths('src/*.py')).toEqual(['src/a.py'])
    expect(await paths('data/[ab].csv')).toEqual(['data/a.csv', 'data/b.csv'])
    expect(await paths('data/[!ab].csv')).toEqual(['data/c.csv'])
    expect(await paths('data/x?.txt')).toEqual(['data/x1.txt'])
    expect(await paths('src/**/b.py')).toEqual(['src/lib/b.py'])
    expect(await paths('d, data/')).toEqual(['d', 'data/a.csv', 'data/b.csv', 'data/c.csv', 'data/x1.txt'])
    expect(await paths('s*')).toEqual(['src/a.py', 'src/lib/.c.py', 'src/lib/b.py'])
  })
})

describe('results: a folder inside the workspace', () => {
  it('resolves a relative folder, existing or not', async () => {
    const root = workspace({ 'out/old.txt': 'x' })
    expect(await resolveResultsFolder(root, 'out')).toBe(join(root, 'out'))
    expect(await resolveResultsFolder(root, './results/run/')).toBe(join(root, 'results', 'run'))
  })

  const cases: [string, string, RegExp][] = [
    ['outside with ..', '../out', /leaves the workspace/],
    ['absolute', '/tmp/out', /is an absolute path/],
    ['the workspace itself', '.', /is the workspace itself; name a folder inside it/],
    ['a file', 'params.yaml', /"params\.yaml" is a file; name a folder/],
    ['under a file', 'params.yaml/x', /"params\.yaml" is a file/],
    ['a pattern', 'out/*', /is a pattern; name one folder/]
  ]
  it.each(cases)('refuses %s', async (_label, text, message) => {
    const root = workspace(files)
    const error = await refusal(resolveResultsFolder(root, text))
    expect(error.input).toBe('results')
    expect(error.message).toMatch(message)
  })

  it('refuses a folder reached through a symbolic link that leads outside', async () => {
    const outside = tempDir('outside')
    const root = workspace({ 'a.txt': '1' })
    symlinkSync(outside, join(root, 'out'))
    const error = await refusal(resolveResultsFolder(root, 'out/run'))
    expect(error.message).toMatch(
      /"out" is a symbolic link \(to .*\); results are never written through a link/
    )
  })

  it('refuses a folder reached through any symbolic link, even one leading inside the workspace (out -> .git)', async () => {
    const root = workspace({ '.git/config': '[core]', 'data/x': '1' })
    symlinkSync(join(root, '.git'), join(root, 'out'))
    symlinkSync(join(root, 'data'), join(root, 'd'))
    for (const [text, link] of [
      ['out', 'out'],
      ['out/hooks', 'out'],
      ['d/run', 'd']
    ]) {
      const error = await refusal(resolveResultsFolder(root, text))
      expect(error.input).toBe('results')
      expect(error.message).toContain(`"${link}" is a symbolic link`)
    }
  })
})

describe('results filters: regular expressions Qarnot applies to result paths', () => {
  it('passes valid ones through as resultsWhitelist / resultsBlacklist and leaves empty ones out', () => {
    expect(validateResultFilters({ include: '^out/.*\\.csv$', exclude: '' })).toEqual({
      resultsWhitelist: '^out/.*\\.csv$'
    })
    expect(validateResultFilters({ exclude: '.*\\.tmp$' })).toEqual({ resultsBlacklist: '.*\\.tmp$' })
    expect(validateResultFilters({})).toEqual({})
  })

  it('names the input of an invalid or too long one', () => {
    const invalid = (() => {
      try {
        validateResultFilters({ include: 'ok', exclude: '(unclosed' })
      } catch (error) {
        return error as StorageInputError
      }
    })()
    expect(invalid?.input).toBe('results-exclude')
    expect(invalid?.message).toMatch(
      /^Input 'results-exclude': "\(unclosed" is not a valid regular expression/
    )
    expect(() => validateResultFilters({ include: 'x'.repeat(2048) })).toThrow(/results-include.*under 2048/)
  })
})
