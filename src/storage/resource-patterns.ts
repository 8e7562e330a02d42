/**
 * The `resources`, `results` and results-filter inputs: parsed, resolved against the workspace and checked before
 * any request (docs/storage.md, "Inputs"). Every problem is one StorageInputError naming the input and the fix.
 */
import { lstat, realpath } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { StorageInputError } from './errors.js'
import { comparePaths, throughGitFolder } from './layout.js'
import {
  CompiledPattern,
  WALK_LIMITS,
  walkPattern,
  type WalkContext,
  type WalkLimits
} from './resource-walk.js'

export interface ResourceFile {
  /** Relative POSIX path under the workspace; the instance finds the file at this path under $TASK_PATH. */
  readonly path: string
  readonly size: number
}

export interface ResourcePatterns {
  readonly include: string[]
  readonly exclude: string[]
}

/** Longest path a tree key (`trees/<64 hex>/<path>`) leaves room for within S3's 1,024-byte keys. */
export const MAX_PATH_BYTES = 1024 - 'trees/'.length - 64 - 1
/** Qarnot's limit on resultsWhitelist / resultsBlacklist. */
export const MAX_FILTER_LENGTH = 2047

/**
 * A pattern relative to the workspace, normalised (`./a//b/` -> `a/b/`), or a StorageInputError when it is
 * absolute, starts with `~`, or has a `..` or inner `.` segment.
 */
export function normalizePattern(pattern: string, workspace: string, input: 'resources' | 'results'): string {
  const example = input === 'resources' ? 'src/**/*.py' : 'out'
  if (isAbsolute(pattern) || /^[A-Za-z]:[\\/]/.test(pattern)) {
    const inside = relative(workspace, pattern)
    const hint =
      inside && !inside.startsWith('..') && !isAbsolute(inside) ? `"${inside.split(sep).join('/')}"` : example
    throw new StorageInputError(
      input,
      `"${pattern}" is an absolute path; write it relative to the workspace (GITHUB_WORKSPACE), e.g. ${hint}`
    )
  }
  if (pattern.startsWith('~')) {
    throw new StorageInputError(input, `"${pattern}" starts with ~; write a path relative to the workspace`)
  }
  let rest = pattern.replace(/\/{2,}/g, '/')
  while (rest.startsWith('./')) rest = rest.slice(2)
  const segments = rest.split('/')
  if (segments.some(s => s === '..')) {
    throw new StorageInputError(
      input,
      `"${pattern}" leaves the workspace with "..": name only files inside GITHUB_WORKSPACE, relative to it`
    )
  }
  if (segments.some((s, i) => s === '.' && i > 0 && i < segments.length - 1)) {
    throw new StorageInputError(input, `"${pattern}" has a "." segment; remove it`)
  }
  return rest === '' || rest === '.' ? '.' : rest
}

/** Lines and commas -> include and `!` exclude patterns; `#` starts a comment line. */
export function parseResourcePatterns(text: string, workspace: string): ResourcePatterns {
  const include: string[] = []
  const exclude: string[] = []
  for (const line of text.split(/\r?\n/)) {
    if (line.trim().startsWith('#')) continue
    for (const item of line.split(',')) {
      const trimmed = item.trim()
      if (!trimmed) continue
      const negated = trimmed.startsWith('!')
      const pattern = negated ? trimmed.slice(1).trim() : trimmed
      if (!pattern) throw new StorageInputError('resources', '"!" alone excludes nothing; write !pattern')
      ;(negated ? exclude : include).push(normalizePattern(pattern, workspace, 'resources'))
    }
  }
  if (include.length === 0) {
    throw new StorageInputError('resources', 'names no file; write paths or glob patterns, one per line')
  }
  return { include, exclude }
}

export interface ResolveOptions {
  /** Aborts the walk (the step's stop or timeout). */
  readonly signal?: AbortSignal
  /** Told about what is left out on purpose (a link leading into .git). */
  readonly warn?: (message: string) => void
  /** Tests make them small. */
  readonly limits?: WalkLimits
}

/**
 * Resolves the `resources` input to the files it names, sorted by path: each include pattern must match at least
 * one file; `!pattern` removes files wherever it appears in the list. Symbolic links are followed by where they
 * lead: to a file or folder inside the workspace they are taken (under the link's name); outside the workspace
 * they are refused; into a `.git` folder they are left out with a warning (a pattern naming `.git` itself, e.g.
 * `.git/HEAD`, still takes what it names). The walk is bounded by `limits` (WALK_LIMITS).
 */
export async function resolveResources(
  workspace: string,
  text: string,
  options: ResolveOptions = {}
): Promise<ResourceFile[]> {
  const root = resolve(workspace)
  const realRoot = await realpath(root).catch(() => {
    throw new StorageInputError(
      'resources',
      `the workspace ${root} does not exist; run actions/checkout first`
    )
  })
  const { include, exclude } = parseResourcePatterns(text, root)
  const limits = options.limits ?? WALK_LIMITS
  const context: WalkContext = {
    root,
    realRoot,
    exclude: exclude.map(x => new CompiledPattern(x)),
    limits,
    signal: options.signal,
    seen: 0
  }
  const chosen = new Map<string, number>()
  const gitLinks = new Set<string>()
  const secretFiles = new Set<string>()
  for (const pattern of include) {
    const found = await walkPattern(context, new CompiledPattern(pattern))
    for (const link of found.gitLinks) gitLinks.add(link)
    for (const file of found.secretFiles) secretFiles.add(file)
    if (found.files.size === 0 && found.excluded === 0)
      throw matchesNothing(pattern, root, found.gitLinks, found.secretFiles)
    for (const [path, size] of found.files) {
      if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
        throw new StorageInputError(
          'resources',
          `"${path}" is longer than ${MAX_PATH_BYTES} bytes; shorten it`
        )
      }
      chosen.set(path, size)
    }
    if (chosen.size > limits.files) {
      throw new StorageInputError(
        'resources',
        `names more than ${limits.files.toLocaleString('en-US')} files; name fewer (an archive of them is one file)`
      )
    }
  }
  warnLeftOut(
    options.warn,
    [...gitLinks],
    [...secretFiles].filter(file => !chosen.has(file))
  )
  if (chosen.size === 0) {
    throw new StorageInputError(
      'resources',
      'every file matched is excluded by a "!" pattern; loosen the exclusions'
    )
  }
  return [...chosen].map(([path, size]) => ({ path, size })).sort((a, b) => comparePaths(a.path, b.path))
}

/** What was left out on purpose: links into .git, and files holding credentials (unless another pattern took them). */
function warnLeftOut(
  warn: ((message: string) => void) | undefined,
  gitLinks: readonly string[],
  secretFiles: readonly string[]
): void {
  if (gitLinks.length > 0) {
    warn?.(
      `Input 'resources': ${quoteList(gitLinks)} ${gitLinks.length === 1 ? 'is a symbolic link' : 'are symbolic links'} leading into .git, left out (actions/checkout leaves the job's token there; name .git itself, e.g. .git/HEAD, if a task needs it).`
    )
  }
  if (secretFiles.length > 0) {
    warn?.(
      `Input 'resources': ${quoteList(secretFiles)} ${secretFiles.length === 1 ? 'holds' : 'hold'} credentials by ${secretFiles.length === 1 ? 'its' : 'their'} name (docs/security.md), left out; name a file by its whole path (no wildcard) if a task needs it.`
    )
  }
}

/** Why a pattern gave no file: it matched none, only links leading into .git, or only files holding secrets. */
function matchesNothing(
  pattern: string,
  root: string,
  gitLinks: readonly string[],
  secretFiles: readonly string[]
): StorageInputError {
  if (secretFiles.length > 0 && gitLinks.length === 0)
    return new StorageInputError(
      'resources',
      `"${pattern}" names only ${quoteList(secretFiles)}, which ${secretFiles.length === 1 ? 'holds' : 'hold'} credentials by name (docs/security.md); name a file by its whole path (no wildcard) if a task needs it`
    )
  if (gitLinks.length > 0) {
    return new StorageInputError(
      'resources',
      `"${pattern}" names only ${quoteList(gitLinks)}, a symbolic link leading into .git (which actions/checkout leaves holding the job's token); name .git itself (e.g. .git/HEAD) if a task needs it`
    )
  }
  return new StorageInputError(
    'resources',
    `"${pattern}" matches no file in the workspace (${root}); check the path, or check out the files first`
  )
}

/** `"a"`, `"a" and "b"`, `"a", "b" and 3 more`. */
function quoteList(items: readonly string[]): string {
  const quoted = items.slice(0, 3).map(item => JSON.stringify(item))
  if (items.length > 3) return `${quoted.join(', ')} and ${items.length - 3} more`
  if (quoted.length > 1) return `${quoted.slice(0, -1).join(', ')} and ${quoted[quoted.length - 1]}`
  return quoted[0] ?? ''
}

/**
 * The `results` folder as an absolute path inside the workspace (created later if missing). It must not be the
 * workspace itself, a file, inside `.git`, or reached through a symbolic link (wherever it leads).
 */
export async function resolveResultsFolder(workspace: string, text: string): Promise<string> {
  const root = resolve(workspace)
  const folder = normalizePattern(text.trim(), root, 'results').replace(/\/$/, '')
  if (folder === '.' || folder === '') {
    throw new StorageInputError('results', 'is the workspace itself; name a folder inside it, e.g. out')
  }
  if (/[*?[\]]/.test(folder)) {
    throw new StorageInputError('results', `"${folder}" is a pattern; name one folder, e.g. out`)
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f,]/.test(folder)) {
    throw new StorageInputError(
      'results',
      `${JSON.stringify(folder)} holds a comma or a line break; results names one folder, e.g. out`
    )
  }
  if (throughGitFolder(folder)) {
    throw new StorageInputError('results', `"${folder}" is inside .git; name a folder outside it, e.g. out`)
  }
  let current = root
  for (const segment of folder.split('/')) {
    current = join(current, segment)
    const info = await lstat(current).catch(() => undefined)
    if (!info) break
    const here = relative(root, current).split(sep).join('/')
    // Results are never written through a link: `out -> .git` would let a task's files become hooks or config.
    if (info.isSymbolicLink()) {
      const real = await realpath(current).catch(() => 'nowhere (a broken link)')
      throw new StorageInputError(
        'results',
        `"${here}" is a symbolic link (to ${real}); results are never written through a link: name a real folder, or remove the link`
      )
    }
    if (!info.isDirectory()) {
      throw new StorageInputError('results', `"${here}" is a file; name a folder (it is created if missing)`)
    }
  }
  return join(root, ...folder.split('/'))
}

/**
 * Checks the results filters (Qarnot's resultsWhitelist / resultsBlacklist: regular expressions tested on each
 * result file's path relative to $TASK_PATH). Empty ones are left out.
 */
export function validateResultFilters(filters: { include?: string; exclude?: string }): {
  resultsWhitelist?: string
  resultsBlacklist?: string
} {
  const check = (input: 'results-include' | 'results-exclude', text: string | undefined) => {
    const value = text?.trim()
    if (!value) return undefined
    if (value.length > MAX_FILTER_LENGTH) {
      throw new StorageInputError(input, `is ${value.length} characters long; Qarnot takes under 2048`)
    }
    try {
      new RegExp(value)
    } catch (error) {
      const reason = (error as Error).message.replace(/^Invalid regular expression: /, '')
      throw new StorageInputError(input, `"${value}" is not a valid regular expression (${reason}); fix it`)
    }
    return value
  }
  const resultsWhitelist = check('results-include', filters.include)
  const resultsBlacklist = check('results-exclude', filters.exclude)
  return {
    ...(resultsWhitelist !== undefined && { resultsWhitelist }),
    ...(resultsBlacklist !== undefined && { resultsBlacklist })
  }
}
