/**
 * The notices shipped with the bundles: scripts/licenses.ts on a made-up build, and the committed dist/ itself
 * (every package the bundle's own module paths name is in its licenses.txt, each named package is installed at that
 * version, and no chunk file lies there that nothing loads).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { PROJECT_ROOT } from '../src/local-runner/runner.js'
import {
  SEPARATOR,
  bundledFiles,
  bundledPackages,
  licenseOf,
  namedPackages,
  noticesText,
  packageDirOf,
  packagesNamedIn,
  unlisted,
  type Stats
} from '../scripts/licenses.js'

describe('scripts/licenses.ts on a made-up build', () => {
  let root: string
  let stats: Stats
  const put = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
  }
  const nm = (path: string) => join(root, 'node_modules', path)

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'licenses-'))
    put('node_modules/a/package.json', '{"name":"a","version":"1.0.0","license":"MIT"}')
    put('node_modules/a/LICENSE', 'MIT text of a\r\nCopyright A\r\n')
    put('node_modules/a/lib/dist-cjs/package.json', '{"type":"commonjs"}')
    put('node_modules/@s/b/package.json', '{"name":"@s/b","version":"0.2.0","license":{"type":"ISC"}}')
    put('node_modules/@s/b/LICENSE.md', 'ISC text of b')
    put('node_modules/@s/b/NOTICE', 'b notice')
    put('node_modules/a/node_modules/c/package.json', '{"name":"c","version":"2.0.0","license":"Apache-2.0"}')
    put('node_modules/c/package.json', '{"name":"c","version":"1.0.0","licenses":[{"type":"Apache-2.0"}]}')
    put('node_modules/c/COPYING', 'Apache text of c')
    put('node_modules/orphan/package.json', '{"name":"orphan","version":"9.9.9","license":"MIT"}')
    stats = {
      modules: [
        {
          name: './src/index.ts + 2 modules',
          nameForCondition: join(root, 'src/index.ts'),
          chunks: [1],
          modules: [
            { nameForCondition: nm('a/lib/dist-cjs/index.js') },
            { nameForCondition: nm('@s/b/x.js') }
          ]
        },
        { nameForCondition: nm('a/node_modules/c/i.js'), chunks: [2] },
        { nameForCondition: nm('c/i.js'), chunks: [1] },
        // Left out of the bundle (in no chunk, in no concatenation): not shipped, so not listed.
        { nameForCondition: nm('orphan/i.js'), chunks: [] },
        { name: 'external "node:fs"', chunks: [1] }
      ]
    }
  })
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it('finds the package folder of a module, scoped and nested copies included', () => {
    expect(packageDirOf(nm('@s/b/lib/x.js'))).toBe(nm('@s/b'))
    expect(packageDirOf(nm('a/node_modules/c/i.js'))).toBe(nm('a/node_modules/c'))
    expect(packageDirOf(join(root, 'src/a.ts'))).toBeUndefined()
    expect(packageDirOf(nm('a'))).toBeUndefined()
  })

  it('lists every bundled package once per version, with its license and texts, and no orphan', () => {
    expect(bundledFiles(stats)).not.toContain(nm('orphan/i.js'))
    const packages = bundledPackages(stats)
    expect(packages.map(p => `${p.name}@${p.version} ${p.license}`)).toEqual([
      '@s/b@0.2.0 ISC',
      'a@1.0.0 MIT',
      'c@1.0.0 Apache-2.0',
      'c@2.0.0 Apache-2.0'
    ])
    expect(packages[0].texts).toEqual([
      { file: 'LICENSE.md', text: 'ISC text of b' },
      { file: 'NOTICE', text: 'b notice' }
    ])
    expect(packages[1].texts).toEqual([{ file: 'LICENSE', text: 'MIT text of a\nCopyright A' }])
  })

  it('writes a file that names each package, and points one without a license file at the same license', () => {
    const text = noticesText(bundledPackages(stats), 'index.js')
    expect(namedPackages(text)).toEqual([
      { name: '@s/b', version: '0.2.0' },
      { name: 'a', version: '1.0.0' },
      { name: 'c', version: '1.0.0' },
      { name: 'c', version: '2.0.0' }
    ])
    expect(text).toContain('--- NOTICE\nb notice')
    expect(text).toContain(
      `${SEPARATOR}\nc@2.0.0\nLicense: Apache-2.0\n\n(the package ships no license file; its package.json says ` +
        'Apache-2.0, whose text is given here for c)'
    )
    expect(text).not.toContain(root)
  })

  it('--check finds a package left out of a licenses.txt, and the ones mentioned only as orphans', () => {
    const shipped = { modules: stats.modules!.filter(m => !m.nameForCondition?.includes('orphan')) }
    const text = noticesText(bundledPackages(stats), 'index.js')
    expect(unlisted(JSON.stringify(shipped), text)).toEqual([])
    const withoutA = text.replace(/={80}\na@1\.0\.0\n/, '')
    expect(unlisted(JSON.stringify(shipped), withoutA)).toEqual(['a'])
    // Read as text, the stats name even a package whose modules were all dropped: the check errs on listing more.
    expect(unlisted(JSON.stringify(stats), text)).toEqual(['orphan'])
  })

  it.each([
    [{ license: 'MIT' }, 'MIT'],
    [{ license: '(MIT OR Apache-2.0)' }, '(MIT OR Apache-2.0)'],
    [{ license: { type: 'BSD-3-Clause' } }, 'BSD-3-Clause'],
    [{ licenses: [{ type: 'MIT' }, { type: 'GPL-2.0' }] }, 'MIT OR GPL-2.0'],
    [{}, 'UNKNOWN']
  ])('reads the license of %j as %s', (manifest, expected) => {
    expect(licenseOf(manifest)).toBe(expected)
  })
})

describe('the committed dist/', () => {
  const lock = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string }>
  }
  const installed = (name: string, version: string) =>
    Object.entries(lock.packages).some(
      ([path, entry]) =>
        (path === `node_modules/${name}` || path.endsWith(`/node_modules/${name}`)) &&
        entry.version === version
    )
  const bundleText = (dir: string) =>
    readdirSync(join(PROJECT_ROOT, dir))
      .filter(file => file.endsWith('.js'))
      .map(file => readFileSync(join(PROJECT_ROOT, dir, file), 'utf8'))
      .join('\n')

  it.each(['dist', 'dist/post'])('%s/licenses.txt names every package the bundle names', dir => {
    const named = namedPackages(readFileSync(join(PROJECT_ROOT, dir, 'licenses.txt'), 'utf8')).map(
      p => p.name
    )
    const inBundle = packagesNamedIn(bundleText(dir))
    // The ones ncc's --license left out: a bundle that no longer names them is a test to rethink, not a pass.
    expect(inBundle).toEqual(
      expect.arrayContaining(['@actions/core', '@actions/exec', '@actions/io', 'undici', 'tunnel'])
    )
    expect(inBundle.filter(name => !named.includes(name))).toEqual([])
  })

  it.each(['dist', 'dist/post'])('%s/licenses.txt names installed packages, each with a license', dir => {
    const text = readFileSync(join(PROJECT_ROOT, dir, 'licenses.txt'), 'utf8')
    const named = namedPackages(text)
    expect(named.length).toBeGreaterThan(0)
    for (const { name, version } of named) {
      expect(`${name}@${version} ${installed(name, version)}`).toBe(`${name}@${version} true`)
      const block = text.split(`${SEPARATOR}\n${name}@${version}\n`)[1].split(SEPARATOR)[0]
      expect(block).toMatch(/^License: (?!UNKNOWN)\S/)
      expect(block).toMatch(/\n--- \S+\n.{20,}|ships no license file.*whose text is given here/s)
    }
  })

  it.each(['dist', 'dist/post'])('%s holds only chunks its bundle loads', dir => {
    const files = readdirSync(join(PROJECT_ROOT, dir))
    const chunks = files.filter(file => /^\d+\.index\.js$/.test(file)).sort()
    const loaded = [...bundleText(dir).matchAll(/\.e\((?:\/\*[^*]*\*\/\s*)?(\d+)\)/g)].map(
      m => `${m[1]}.index.js`
    )
    expect(chunks).toEqual([...new Set(loaded)].sort())
  })
})
