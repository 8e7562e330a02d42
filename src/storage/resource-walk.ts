/**
 * The walk behind the `resources` input (docs/storage.md, "Inputs"): glob patterns matched segment by segment
 * while the workspace is walked, following symbolic links by where they lead. The walk is bounded (entries seen,
 * folder depth, files chosen) so that links to folders leading into one another cannot make it endless, is
 * abortable, refuses links leading outside the workspace, and leaves out links leading into a `.git` folder and
 * files that hold credentials unless named whole.
 */
import type { Stats } from 'node:fs'
import { lstat, readdir, realpath, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { StorageInputError, abortReason } from './errors.js'
import { throughGitFolder } from './layout.js'
import { holdsSecret } from './secret-files.js'

/** How far one resolution of `resources` may go. */
export interface WalkLimits {
  /** Files and folders seen while walking, through links included. */
  readonly entries: number
  /** Folders nested below the workspace. */
  readonly depth: number
  /** Files chosen. */
  readonly files: number
}

export const WALK_LIMITS: WalkLimits = { entries: 1_000_000, depth: 64, files: 100_000 }

const GLOBSTAR = Symbol('**')
type Segment = typeof GLOBSTAR | RegExp | string

/**
 * One segment of a pattern: a literal name, or a RegExp for `*`, `?` and `[...]` (`[!...]` negates); a backslash
 * takes the next character literally. `*` matches names starting with a dot too.
 */
function compileSegment(text: string): Segment {
  if (text === '**') return GLOBSTAR
  if (!/[*?[\\]/.test(text)) return text
  let source = ''
  let literal = true
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '\\' && i + 1 < text.length) {
      source += escape(text[++i])
    } else if (c === '*') {
      literal = false
      source += '.*'
      while (text[i + 1] === '*') i++
    } else if (c === '?') {
      literal = false
      source += '.'
    } else if (c === '[') {
      const start = i + 1 + (text[i + 1] === '!' || text[i + 1] === '^' ? 1 : 0)
      const close = text.indexOf(']', start + 1)
      if (close < 0) {
        source += '\\['
        continue
      }
      literal = false
      const negate = start > i + 1
      const body = text.slice(start, close).replace(/\\/g, '\\\\').replace(/\^/g, '\\^')
      source += `[${negate ? '^' : ''}${body}]`
      i = close
    } else {
      source += escape(c)
    }
  }
  return literal ? text.replace(/\\(.)/g, '$1') : new RegExp(`^${source}$`, 'su')
}

function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

function segmentMatches(segment: Segment, name: string): boolean {
  if (typeof segment === 'string') return segment === name
  return segment !== GLOBSTAR && segment.test(name)
}

/** Whether `path` matches `pattern` whole, or (partial) could still match once longer. */
function matches(
  pattern: readonly Segment[],
  path: readonly string[],
  partial: boolean,
  p = 0,
  s = 0
): boolean {
  for (;;) {
    if (p === pattern.length) return s === path.length
    if (s === path.length) return partial || pattern.slice(p).every(x => x === GLOBSTAR)
    const segment = pattern[p]
    if (segment === GLOBSTAR) {
      if (matches(pattern, path, partial, p + 1, s)) return true
      s++
      continue
    }
    if (!segmentMatches(segment, path[s])) return false
    p++
    s++
  }
}

/** A pattern ready to match: its segments, and whether it named a folder only (`data/`). */
export class CompiledPattern {
  readonly segments: Segment[]
  /** The leading literal segments: where the walk starts. */
  readonly literal: string[]
  private readonly folderOnly: boolean

  constructor(readonly text: string) {
    this.folderOnly = text.endsWith('/')
    const parts = text === '.' ? [] : text.split('/').filter(part => part !== '')
    this.segments = parts.map(compileSegment)
    const first = this.segments.findIndex(s => typeof s !== 'string')
    this.literal = (first < 0 ? this.segments : this.segments.slice(0, first)) as string[]
  }

  /** The pattern names this path, or one of its folders (a folder stands for all its files). */
  covers(path: readonly string[]): boolean {
    if (!this.folderOnly && matches(this.segments, path, false)) return true
    for (let k = path.length - 1; k >= 0; k--)
      if (matches(this.segments, path.slice(0, k), false)) return true
    return false
  }

  /** A folder at this path may hold files the pattern names. */
  mayHoldMatches(path: readonly string[]): boolean {
    return this.covers(path) || matches(this.segments, path, true)
  }
}

/** What one include pattern gave. */
export interface PatternFiles {
  readonly files: Map<string, number>
  /** Files (or folders) it matched that a `!pattern` removed. */
  readonly excluded: number
  /** Links it matched that lead into a `.git` folder, left out. */
  readonly gitLinks: string[]
  /** Files that hold credentials by their name (secret-files.ts), matched by a wildcard or a folder: left out. */
  readonly secretFiles: string[]
}

interface Item {
  readonly abs: string
  readonly rel: string[]
  /** Its real path, when known without asking (no link on the way from its parent's). */
  readonly real?: string
  /** Real paths of the folders it is in, to tell a cycle of links. */
  readonly chain: readonly string[]
}

export interface WalkContext {
  readonly root: string
  readonly realRoot: string
  readonly exclude: readonly CompiledPattern[]
  readonly limits: WalkLimits
  readonly signal?: AbortSignal
  /** Entries seen so far, over every pattern of one resolution. */
  seen: number
}

const posix = (rel: readonly string[]): string => rel.join('/')

function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

/** What an entry is, links followed; undefined when it vanished, or is a broken link the pattern does not name. */
async function look(
  item: Item,
  pattern: CompiledPattern
): Promise<{ info: Stats; real: string; link: boolean } | undefined> {
  let info: Stats
  try {
    info = await lstat(item.abs)
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
  const link = info.isSymbolicLink()
  if (!link && item.real !== undefined) return { info, real: item.real, link }
  try {
    return { info: link ? await stat(item.abs) : info, real: await realpath(item.abs), link }
  } catch (error) {
    if (!isNotFound(error)) throw error
    if (!pattern.covers(item.rel)) return undefined
    throw new StorageInputError(
      'resources',
      `"${pattern.text}" matches "${posix(item.rel)}", a broken symbolic link; fix or remove the link`
    )
  }
}

/** A folder's children the pattern may name, within the limits; none when the folder closes a cycle of links. */
async function children(
  context: WalkContext,
  pattern: CompiledPattern,
  item: Item,
  real: string
): Promise<Item[]> {
  const { limits } = context
  const path = posix(item.rel)
  if (item.chain.includes(real)) return [] // a cycle of links: this folder is being walked already
  if (item.rel.length >= limits.depth) {
    throw new StorageInputError(
      'resources',
      `"${pattern.text}" reaches "${path}", more than ${limits.depth} folders deep (symbolic links to folders leading into one another?); remove those links, or exclude them with "!pattern"`
    )
  }
  const names = await readdir(item.abs)
  context.seen += names.length
  if (context.seen > limits.entries) {
    throw new StorageInputError(
      'resources',
      `"${pattern.text}" leads to more than ${limits.entries.toLocaleString('en-US')} files and folders (under "${path || '.'}": symbolic links to folders leading into one another?); name fewer files, remove those links, or exclude them with "!pattern"`
    )
  }
  const chain = [...item.chain, real]
  // Links among the children are resolved when looked at; the others keep their parent's real path.
  return names
    .map(name => ({ abs: join(item.abs, name), rel: [...item.rel, name], chain, real: join(real, name) }))
    .filter(child => pattern.mayHoldMatches(child.rel))
}

/** The files one include pattern names, walked from its literal start, links followed where they stay inside. */
export async function walkPattern(context: WalkContext, pattern: CompiledPattern): Promise<PatternFiles> {
  const { root, realRoot, signal } = context
  const namesGit = throughGitFolder(pattern.text)
  const result = {
    files: new Map<string, number>(),
    excluded: 0,
    gitLinks: [] as string[],
    secretFiles: [] as string[]
  }
  // Only a pattern naming a file by its whole path (no wildcard) takes a file that holds credentials.
  const whole = pattern.literal.length === pattern.segments.length ? pattern.literal.join('/') : undefined
  const inside = (real: string) => real === realRoot || real.startsWith(realRoot + sep)
  const relativePosix = (real: string) => relative(realRoot, real).split(sep).join('/')
  const inGit = (real: string) => throughGitFolder(relativePosix(real))
  const stack: Item[] = [{ abs: join(root, ...pattern.literal), rel: [...pattern.literal], chain: [] }]
  while (stack.length > 0) {
    if (signal?.aborted) throw abortReason(signal)
    const item = stack.pop() as Item
    const path = posix(item.rel)
    if (context.exclude.some(x => x.covers(item.rel))) {
      result.excluded++
      continue
    }
    if (!namesGit && throughGitFolder(path)) continue
    const seen = await look(item, pattern)
    // A file is looked at only when the pattern names it; a folder when it may hold files the pattern names.
    if (!seen || (!seen.info.isDirectory() && !pattern.covers(item.rel))) continue
    const { info, real, link } = seen
    if (!inside(real)) {
      throw new StorageInputError(
        'resources',
        `"${path}" ${link ? 'is a symbolic link' : 'leads through a symbolic link'} to ${real}, outside the workspace; copy the files into the workspace, or exclude it with "!${path}"`
      )
    }
    if (!throughGitFolder(path) && inGit(real)) {
      // actions/checkout leaves the job's token in .git/config: a link does not take it along.
      result.gitLinks.push(path)
    } else if (info.isDirectory()) {
      stack.push(...(await children(context, pattern, item, real)).reverse())
    } else if (
      info.isFile() &&
      path !== whole &&
      (holdsSecret(path) || (link && holdsSecret(relativePosix(real))))
    ) {
      result.secretFiles.push(path)
    } else if (info.isFile()) {
      result.files.set(path, info.size)
    } else {
      throw new StorageInputError(
        'resources',
        `"${path}" (from "${pattern.text}") is not a regular file; exclude it with "!${path}"`
      )
    }
  }
  return result
}
