/**
 * The notices shipped with the bundles: dist/licenses.txt for dist/index.js (and the chunks beside it), and
 * dist/post/licenses.txt for dist/post/index.js. ncc's own `--license` lists only the packages whose license its
 * plugin manages to find, and left out @actions/core, @actions/exec, @actions/io, undici and tunnel; this reads
 * the build's module list instead (webpack stats, from `ncc build --stats-out`), so every package with a module
 * in a bundle is named with its version, its license and the texts of its LICENSE and NOTICE files.
 *
 * `npm run package` runs it after ncc: `tsx scripts/licenses.ts [<stats.json> <licenses.txt>]...` (default: the
 * two bundles of the package script). `--check` first: fail when a licenses.txt leaves out a package its stats
 * name anywhere (CI and the release workflow run it after the rebuild).
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { basename, join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface StatsModule {
  name?: string
  nameForCondition?: string
  chunks?: (string | number)[]
  modules?: StatsModule[]
}
export interface Stats {
  modules?: StatsModule[]
  children?: Stats[]
}

export interface BundledPackage {
  name: string
  version: string
  license: string
  /** The package's license and notice files, by file name, as the package ships them. */
  texts: { file: string; text: string }[]
}

const NODE_MODULES = `${sep}node_modules${sep}`
const LICENSE_FILE = /^(licen[cs]e|copying|notice)([.\-_].*)?$/i
export const SEPARATOR = '='.repeat(80)

/**
 * The files of every module that is in the output: a module in a chunk, and each module concatenated into one.
 * A module in no chunk (an orphan) was left out of the bundle, or is listed again inside its concatenation.
 */
export function bundledFiles(stats: Stats): string[] {
  const files: string[] = []
  const add = (module: StatsModule): void => {
    if (module.nameForCondition) files.push(module.nameForCondition)
    for (const inner of module.modules ?? []) add(inner)
  }
  for (const module of stats.modules ?? []) if ((module.chunks ?? []).length > 0) add(module)
  for (const child of stats.children ?? []) files.push(...bundledFiles(child))
  return files
}

/** The package folder a file belongs to: the folder after its last node_modules (a nested copy is its own package). */
export function packageDirOf(file: string): string | undefined {
  const at = file.lastIndexOf(NODE_MODULES)
  if (at < 0) return undefined
  const parts = file.slice(at + NODE_MODULES.length).split(sep)
  const length = parts[0].startsWith('@') ? 2 : 1
  if (parts.length <= length) return undefined
  return file.slice(0, at + NODE_MODULES.length) + parts.slice(0, length).join(sep)
}

/** package.json's license in its modern (`license`) or legacy (`licenses: [{type}]`) form. */
export function licenseOf(manifest: Record<string, unknown>): string {
  const license = manifest.license
  if (typeof license === 'string' && license.trim() !== '') return license.trim()
  if (license && typeof license === 'object' && typeof (license as { type?: unknown }).type === 'string')
    return (license as { type: string }).type
  if (Array.isArray(manifest.licenses)) {
    const types = manifest.licenses
      .map(entry => (typeof entry === 'string' ? entry : (entry as { type?: unknown })?.type))
      .filter((type): type is string => typeof type === 'string')
    if (types.length > 0) return types.join(' OR ')
  }
  return 'UNKNOWN'
}

export function readPackage(dir: string): BundledPackage {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>
  const name = typeof manifest.name === 'string' ? manifest.name : basename(dir)
  const version = typeof manifest.version === 'string' ? manifest.version : 'unknown'
  const texts = readdirSync(dir, { withFileTypes: true })
    .filter(entry => entry.isFile() && LICENSE_FILE.test(entry.name))
    .map(entry => entry.name)
    .sort()
    .map(file => ({ file, text: readFileSync(join(dir, file), 'utf8').replace(/\r\n?/g, '\n').trimEnd() }))
  return { name, version, license: licenseOf(manifest), texts }
}

/** The packages of a build, one per name and version, sorted. */
export function bundledPackages(stats: Stats): BundledPackage[] {
  const dirs = new Set<string>()
  for (const file of bundledFiles(stats)) {
    const dir = packageDirOf(file)
    if (dir !== undefined && existsSync(join(dir, 'package.json'))) dirs.add(dir)
  }
  const byKey = new Map<string, BundledPackage>()
  for (const dir of dirs) {
    const found = readPackage(dir)
    byKey.set(`${found.name}@${found.version}`, found)
  }
  return [...byKey.values()].sort((a, b) =>
    a.name === b.name ? a.version.localeCompare(b.version) : a.name < b.name ? -1 : 1
  )
}

export function noticesText(packages: BundledPackage[], bundle: string): string {
  const head = [
    `Third-party software bundled into ${bundle} (${packages.length} packages), each with its license and the`,
    'license and notice files it ships. Written by scripts/licenses.ts from the build; do not edit.'
  ]
  const blocks = packages.map(found => {
    // A package without its own file (some @aws-sdk ones) is pointed at the same license's text given for another.
    const same = packages.find(other => other.license === found.license && other.texts.length > 0)
    const texts =
      found.texts.length > 0
        ? found.texts.map(({ file, text }) => `--- ${file}\n${text}`)
        : [
            `(the package ships no license file; its package.json says ${found.license}` +
              (same ? `, whose text is given here for ${same.name})` : ')')
          ]
    return [SEPARATOR, `${found.name}@${found.version}`, `License: ${found.license}`, '', ...texts].join('\n')
  })
  return `${[head.join('\n'), ...blocks].join('\n\n')}\n`
}

/** The `name@version` of every package a licenses.txt names (the line after each separator). */
export function namedPackages(text: string): { name: string; version: string }[] {
  const lines = text.split('\n')
  const named: { name: string; version: string }[] = []
  lines.forEach((line, index) => {
    if (line !== SEPARATOR || index + 1 >= lines.length) return
    const id = lines[index + 1]
    const at = id.lastIndexOf('@')
    if (at > 0) named.push({ name: id.slice(0, at), version: id.slice(at + 1) })
  })
  return named
}

export function writeNotices(statsFile: string, out: string, bundle: string): BundledPackage[] {
  const stats = JSON.parse(readFileSync(statsFile, 'utf8')) as Stats
  const packages = bundledPackages(stats)
  // A build whose module list names no file at all is a stats file of the wrong shape, not a bundle of nothing.
  if (bundledFiles(stats).length === 0) throw new Error(`${statsFile}: no bundled module listed`)
  writeFileSync(out, noticesText(packages, bundle))
  return packages
}

/**
 * The names of the packages a stats document mentions anywhere, read as text (independent of the walk above):
 * what `--check` holds every licenses.txt to. ncc's own loaders are in every module's identifier, not bundled.
 */
export function packagesNamedIn(statsText: string): string[] {
  const names = new Set<string>()
  for (const [, name] of statsText.matchAll(/node_modules[\\/]+((?:@[\w.-]+[\\/]+)?[\w.-]+)/g)) {
    const normal = name.replace(/[\\/]+/, '/')
    if (normal !== '@vercel/ncc' && !normal.startsWith('.')) names.add(normal)
  }
  return [...names].sort()
}

/** What a licenses.txt leaves out of the packages its build's stats name; empty when it names them all. */
export function unlisted(statsText: string, licensesText: string): string[] {
  const listed = new Set(namedPackages(licensesText).map(found => found.name))
  return packagesNamedIn(statsText).filter(name => !listed.has(name))
}

const DEFAULT_PAIRS = [
  ['.tmp/ncc-main.json', 'dist/licenses.txt'],
  ['.tmp/ncc-post.json', 'dist/post/licenses.txt']
]

function main(args: string[]): void {
  const check = args[0] === '--check'
  const rest = check ? args.slice(1) : args
  const pairs = rest.length > 0 ? [] : DEFAULT_PAIRS
  for (let i = 0; i + 1 < rest.length; i += 2) pairs.push([rest[i], rest[i + 1]])
  for (const [stats, out] of pairs) {
    if (check) {
      const missing = unlisted(readFileSync(stats, 'utf8'), readFileSync(out, 'utf8'))
      if (missing.length > 0) {
        console.error(
          `${out} does not name ${missing.join(', ')}, which ${stats} names: run npm run package.`
        )
        process.exitCode = 1
      } else console.log(`${out} names every package ${stats} names.`)
      continue
    }
    const packages = writeNotices(stats, out, 'the index.js beside this file and its chunks')
    const bare = packages.filter(found => found.texts.length === 0).map(found => found.name)
    console.log(
      `${out}: ${packages.length} packages${bare.length ? `; no license file in ${bare.join(', ')}` : ''}`
    )
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  main(process.argv.slice(2))
