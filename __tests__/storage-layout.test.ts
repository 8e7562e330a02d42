import { describe, expect, it } from '@jest/globals'
import {
  advancedResourceBucket,
  isValidBucketName,
  makeManifest,
  parseManifest,
  resourceBucketName,
  resultsBucketName,
  resultsBucketPrefix,
  safeRelativePath,
  treeHash,
  type TreeEntry
} from '../src/storage/layout.js'
import { DEFAULT_PRUNE_RULES, planResultsBuckets, planTrees, treeUses } from '../src/storage/prune-rules.js'
import { planDownloads } from '../src/storage/collect.js'
import { validateResultFilters } from '../src/storage/resource-patterns.js'
import { validate } from './contract/validate.js'

const sha = (c: string) => c.repeat(64)
const HOUR = 3600_000
const DAY = 24 * HOUR

describe('bucket names', () => {
  const naming = {
    repository: 'Octo-Org/My_Repo.With.A.Very.Long.Name.That.Goes.On.And.On.Forever',
    account: 'a@b.c'
  }

  it('are valid S3 names (3-63 lowercase characters), stable, and differ by account and repository', () => {
    const name = resourceBucketName(naming)
    expect(isValidBucketName(name)).toBe(true)
    expect(name).toMatch(/^qa-in-octo-org-my-repo-with-a-very-long-name-th[a-z-]*-[0-9a-f]{12}$/)
    expect(resourceBucketName({ ...naming, repository: naming.repository.toLowerCase() })).toBe(name)
    expect(resourceBucketName({ ...naming, account: 'other@b.c' })).not.toBe(name)
    expect(resourceBucketName({ repository: 'x/y', account: 'a@b.c' })).toMatch(/^qa-in-x-y-[0-9a-f]{12}$/)
  })

  it('give each task a results bucket of its own; kept ones are told apart by their prefix', () => {
    const shortname = 'gha-1234567890-12-abcdef0123456789abcdef0123456789-ABCDEF'
    const out = resultsBucketName({ ...naming, shortname })
    const kept = resultsBucketName({ ...naming, shortname, keep: true })
    for (const name of [out, kept]) expect(isValidBucketName(name)).toBe(true)
    expect(out.startsWith(resultsBucketPrefix(naming, false))).toBe(true)
    expect(kept.startsWith(resultsBucketPrefix(naming, true))).toBe(true)
    expect(out.startsWith('qa-out-') && kept.startsWith('qa-keep-')).toBe(true)
    expect(resultsBucketName({ ...naming, shortname: `${shortname}x` })).not.toBe(out)
    expect(resultsBucketName({ ...naming, shortname: shortname.toLowerCase() })).not.toBe(out)
  })

  it('checks names as S3 does', () => {
    for (const bad of ['ab', 'A-b-c', '-abc', 'abc-', 'a'.repeat(64), 'a_b_c', 'a.b.c']) {
      expect(isValidBucketName(bad)).toBe(false)
    }
  })
})

describe('the tree hash', () => {
  const entries: TreeEntry[] = [
    { path: 'src/a.py', sha256: sha('a'), size: 1 },
    { path: 'data/b.csv', sha256: sha('b'), size: 2 }
  ]

  it('does not depend on the order files are listed in', () => {
    expect(treeHash(entries)).toBe(treeHash([...entries].reverse()))
  })

  it('changes with a path, a content, or a file more or less', () => {
    const base = treeHash(entries)
    expect(treeHash([{ ...entries[0], path: 'src/a2.py' }, entries[1]])).not.toBe(base)
    expect(treeHash([{ ...entries[0], sha256: sha('c') }, entries[1]])).not.toBe(base)
    expect(treeHash([entries[0]])).not.toBe(base)
    expect(treeHash([...entries, { path: 'x', sha256: sha('d'), size: 0 }])).not.toBe(base)
  })

  it('gives the task one bucket entry whose prefix is filtered and stripped', () => {
    const tree = treeHash(entries)
    expect(advancedResourceBucket('qa-in-x-y-0123456789ab', tree)).toEqual({
      bucketName: 'qa-in-x-y-0123456789ab',
      filtering: { prefixFiltering: { prefix: `trees/${tree}/` } },
      resourcesTransformation: { stripPrefix: { prefix: `trees/${tree}/` } }
    })
  })

  it('fits the TaskCreationInput schema, with the results bucket and filters', () => {
    const naming = { repository: 'octo/sim', account: 'a@b.c' }
    const body = {
      name: 'render',
      profile: 'docker-batch',
      instanceCount: 16,
      advancedResourceBuckets: [advancedResourceBucket(resourceBucketName(naming), treeHash(entries))],
      resultBucket: resultsBucketName({ ...naming, shortname: 'gha-42-1-abcdef0123' }),
      ...validateResultFilters({ include: '^out/', exclude: '\\.tmp$' })
    }
    expect(validate('TaskCreationInput', body)).toEqual([])
  })

  it('round-trips through the manifest', () => {
    const manifest = makeManifest(treeHash(entries), entries, new Date(0))
    expect(manifest.bytes).toBe(3)
    expect(parseManifest(JSON.stringify(manifest))).toEqual([entries[1], entries[0]])
    expect(() => parseManifest('{"format":"other"}')).toThrow(/not a qarnot-action-tree\/1 manifest/)
  })
})

describe('object keys that may become local paths', () => {
  it.each([
    ['out/1/result.csv', 'out/1/result.csv'],
    ['a b/ç.txt', 'a b/ç.txt'],
    ['..', undefined],
    ['../x', undefined],
    ['a/../../x', undefined],
    ['/etc/passwd', undefined],
    ['a//b', undefined],
    ['./a', undefined],
    ['a\\..\\b', undefined],
    ['C:/x', undefined],
    ['dir/', undefined],
    ['', undefined],
    ['nul\0byte', undefined]
  ])('%j -> %j', (key, path) => {
    expect(safeRelativePath(key)).toBe(path)
  })

  it('plan: hostile keys and file/folder clashes are refused, folder markers skipped', () => {
    const at = new Date()
    const objects = ['ok.txt', '../x', '/abs', 'dir/', 'a', 'a/b'].map(key => ({
      key,
      size: 0,
      lastModified: at
    }))
    const { planned, rejected } = planDownloads(objects)
    expect(planned.map(p => p.path)).toEqual(['ok.txt', 'a/b'])
    expect(rejected.map(r => r.key)).toEqual(['../x', '/abs', 'a'])
  })
})

describe('the prune rule', () => {
  const now = new Date('2025-06-01T00:00:00Z')
  const ago = (ms: number) => new Date(now.getTime() - ms)
  const info = (key: string, age: number) => ({ key, size: 10, lastModified: ago(age) })
  const tree = (n: number) => n.toString(16).padStart(64, '0')

  it('keeps trees used within the days, removes older ones, and unfinished ones after the grace period', () => {
    const uses = treeUses(
      [
        info(`manifests/${tree(1)}.json`, 30 * DAY),
        info(`manifests/${tree(2)}.json`, 30 * DAY),
        info(`manifests/${tree(3)}.json`, 2 * HOUR),
        info(`manifests/${tree(4)}.json`, 25 * HOUR),
        info('manifests/not-a-tree.json', 99 * DAY)
      ],
      [info(`complete/${tree(1)}`, 6 * DAY), info(`complete/${tree(2)}`, 8 * DAY)]
    )
    const { keep, remove } = planTrees(uses, now, DEFAULT_PRUNE_RULES)
    expect(keep.map(u => u.tree).sort()).toEqual([tree(1), tree(3)])
    expect(remove.map(u => u.tree).sort()).toEqual([tree(2), tree(4)])
  })

  it('keeps at most maxTrees complete trees, but never one used within the grace period', () => {
    const markers = Array.from({ length: 25 }, (_, i) =>
      info(`complete/${tree(i + 1)}`, (i < 22 ? i : 30) * HOUR)
    )
    const { keep, remove } = planTrees(treeUses([], markers), now, DEFAULT_PRUNE_RULES)
    // 22 trees used within a day: more than maxTrees (20), all kept.
    expect(keep).toHaveLength(22)
    expect(remove.map(u => u.tree)).toEqual([tree(23), tree(24), tree(25)])
  })

  it('removes results buckets of this repository the action made, not kept ones, not recent ones', () => {
    const naming = { repository: 'o/r', account: 'a@b.c' }
    const out = resultsBucketPrefix(naming, false)
    const buckets = [
      { name: `${out}old-1`, created: ago(8 * DAY) },
      { name: `${out}new-1`, created: ago(1 * DAY) },
      { name: `${resultsBucketPrefix(naming, true)}old-2`, created: ago(30 * DAY) },
      { name: 'qa-out-00000000-other-repo', created: ago(30 * DAY) },
      { name: 'users-own-bucket', created: ago(300 * DAY) }
    ]
    expect(planResultsBuckets(buckets, out, now, DEFAULT_PRUNE_RULES)).toEqual([`${out}old-1`])
  })
})

describe('results never reach a folder git takes for .git', () => {
  it.each([
    'out/.git/config',
    'out/.GIT/config',
    'out/.Git/hooks/pre-push',
    'out/sub/.GIT',
    'out/.git./config',
    'out/.git /config',
    'out/GIT~1/config',
    'out/.git::$INDEX_ALLOCATION/config'
  ])('refuses %s (case, trailing dots and spaces, NTFS streams, 8.3 names)', key => {
    const { planned, rejected } = planDownloads([{ key, size: 1, lastModified: new Date(0) }], 'out/')
    expect(planned).toEqual([])
    expect(rejected).toEqual([{ key, reason: 'a .git folder is never written from results' }])
  })

  it.each(['out/.gitignore', 'out/git/config', 'out/my.git/x', 'out/.github/x', 'out/12:00.log'])(
    'writes %s',
    key => {
      expect(planDownloads([{ key, size: 1, lastModified: new Date(0) }], 'out/').planned).toHaveLength(1)
    }
  )
})
