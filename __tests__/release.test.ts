/**
 * What a user copies and what a release rests on: every example names the repository and declares its permissions,
 * uses the current majors of GitHub's actions; the release workflow checks before it publishes (its shell steps are
 * run here on made-up tags and changelogs); Dependabot, SECURITY.md and CHANGELOG.md are in place.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { PROJECT_ROOT } from '../src/local-runner/runner.js'

/** The current majors (their repositories' tags, 2026: checkout v7.0.1, setup-node v7.0.0, upload-artifact v7.0.0). */
const CURRENT_MAJORS: Record<string, number> = {
  'actions/checkout': 7,
  'actions/setup-node': 7,
  'actions/upload-artifact': 7
}
const REPOSITORY = 'qarnot/qarnot-action'

interface Step {
  name?: string
  uses?: string
  run?: string
  with?: Record<string, unknown>
}
interface Job {
  permissions?: unknown
  needs?: string | string[]
  steps?: Step[]
}
interface Workflow {
  on?: Record<string, unknown>
  permissions?: unknown
  jobs?: Record<string, Job>
}

const read = (path: string) => readFileSync(join(PROJECT_ROOT, path), 'utf8')
const workflowFiles = [
  ...readdirSync(join(PROJECT_ROOT, 'examples'))
    .filter(f => f.endsWith('.yml'))
    .map(f => `examples/${f}`),
  ...readdirSync(join(PROJECT_ROOT, '.github/workflows')).map(f => `.github/workflows/${f}`)
]
const markdownFiles = [
  'README.md',
  'CONTRIBUTING.md',
  'CHANGELOG.md',
  'SECURITY.md',
  ...readdirSync(join(PROJECT_ROOT, 'docs'))
    .filter(f => f.endsWith('.md'))
    .map(f => `docs/${f}`)
]
/** Every YAML block of the Markdown files, named by file and position. */
const yamlBlocks = markdownFiles.flatMap(file =>
  [...read(file).matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((m, i) => ({
    where: `${file} block ${i + 1}`,
    text: m[1]
  }))
)
const everything = [
  ...workflowFiles.map(file => ({ where: file, text: read(file) })),
  ...yamlBlocks,
  ...markdownFiles.map(file => ({ where: file, text: read(file) }))
]

describe('what users copy', () => {
  it('names the repository everywhere, at the major tag', () => {
    for (const { where, text } of everything) {
      expect(`${where}: ${/\bOWNER\/|\bowner\/qarnot-action/.test(text)}`).toBe(`${where}: false`)
      for (const [, ref] of text.matchAll(/uses:\s*([\w./-]*qarnot-action(?:@[\w.-]*)?)/g))
        expect(`${where}: ${ref}`).toBe(`${where}: ${REPOSITORY}@v1`)
    }
  })

  it('declares permissions in every workflow and every example using the action', () => {
    const sources = [
      ...workflowFiles.map(file => ({ where: file, text: read(file) })),
      ...yamlBlocks.filter(block => block.text.includes(`${REPOSITORY}@`))
    ]
    expect(sources.length).toBeGreaterThan(workflowFiles.length)
    for (const { where, text } of sources) {
      const workflow = parse(text) as Workflow
      expect(`${where}: ${typeof workflow.jobs}`).toBe(`${where}: object`)
      const everyJob = Object.values(workflow.jobs ?? {}).every(job => job.permissions !== undefined)
      expect(`${where}: ${workflow.permissions !== undefined || everyJob}`).toBe(`${where}: true`)
    }
  })

  it('uses the current majors of GitHub actions, and Node 24', () => {
    let seen = 0
    for (const { where, text } of everything) {
      for (const [, action, major] of text.matchAll(/uses:\s*(actions\/[\w-]+)@v(\d+)/g)) {
        expect(`${where}: ${action}@v${major}`).toBe(
          `${where}: ${action}@v${CURRENT_MAJORS[action] ?? major}`
        )
        seen++
      }
      for (const [, version] of text.matchAll(/node-version:\s*['"]?([\w.*-]+)/g))
        expect(`${where}: node ${version}`).toBe(`${where}: node 24`)
    }
    expect(seen).toBeGreaterThan(10)
  })

  it('says which runner node24 needs', () => {
    expect(read('action.yml')).toMatch(/using: '?node24'?/)
    expect(read('README.md')).toMatch(/node24[\s\S]{0,200}v2\.327\.1/)
  })
})

describe('the release workflow', () => {
  const workflow = parse(read('.github/workflows/release.yml')) as Workflow
  const check = workflow.jobs!.check
  const release = workflow.jobs!.release
  const stepRun = (job: Job, name: RegExp) => job.steps!.find(step => name.test(step.name ?? ''))!.run!

  it('runs on version tags and by hand, with write access in its release job only', () => {
    expect(workflow.on).toEqual({
      push: { tags: ['v*.*.*'] },
      workflow_dispatch: { inputs: { tag: expect.objectContaining({ required: true }) } }
    })
    expect(workflow.permissions).toEqual({ contents: 'read' })
    expect(check.permissions).toBeUndefined()
    expect(release.permissions).toEqual({ contents: 'write' })
    expect(release.needs).toBe('check')
  })

  it('checks lint, types, README tables, dist/, the license notices and the tests before publishing', () => {
    const runs = check.steps!.map(step => step.run ?? '').join('\n')
    const order = [
      'npm ci',
      'npm run lint',
      'npm run typecheck',
      'npm run docs -- --check',
      'npm run package',
      'git status --porcelain dist/',
      'scripts/licenses.ts --check',
      'npm test'
    ].map(command => runs.indexOf(command))
    expect(order.every(at => at >= 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    expect(check.steps!.filter(step => step.uses?.startsWith('actions/checkout'))[0].with).toEqual(
      expect.objectContaining({ 'persist-credentials': false })
    )
  })

  describe('its shell steps', () => {
    let dir: string
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'release-'))
    })
    afterAll(() => rmSync(dir, { recursive: true, force: true }))

    const bash = (script: string, tag: string) =>
      spawnSync('bash', ['-c', script], {
        cwd: dir,
        env: { PATH: process.env.PATH, TAG: tag, RUNNER_TEMP: dir },
        encoding: 'utf8'
      })
    const project = (version: string, changelog: string) => {
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ version }))
      writeFileSync(join(dir, 'CHANGELOG.md'), changelog)
    }
    const CHANGELOG = [
      '# Changelog',
      '',
      '## [Unreleased]',
      '',
      '- later',
      '',
      '## [1.2.0] - 2026-12-01',
      '',
      '### Fixed',
      '',
      '- the fix',
      '',
      '## [1.1.0] - 2026-11-01',
      '',
      '- older',
      '',
      '[1.2.0]: https://github.com/qarnot/qarnot-action/releases/tag/v1.2.0',
      ''
    ].join('\n')

    it.each([
      ['v1.2.0', '1.2.0', 0],
      ['v1.2.0-rc.1', '1.2.0-rc.1', 1], // no dated section for the pre-release in this changelog
      ['v1.1.0', '1.1.0', 0],
      ['v1.2.0', '1.2.1', 1],
      ['v1.2', '1.2', 1],
      ['1.2.0', '1.2.0', 1],
      ['v1.2.0$(touch pwned)', '1.2.0', 1],
      ['v1.2.0\n', '1.2.0', 1]
    ])('tag %j with package.json %s exits %d', (tag, version, status) => {
      project(version, CHANGELOG)
      const result = bash(stepRun(check, /semantic version/), tag)
      expect(result.status).toBe(status)
      if (status !== 0) expect(result.stderr).toMatch(/::error::/)
      expect(existsSync(join(dir, 'pwned'))).toBe(false)
    })

    it('takes a pre-release with its own dated section', () => {
      project('1.3.0-rc.1', CHANGELOG.replace('## [Unreleased]', '## [1.3.0-rc.1] - 2026-12-05'))
      expect(bash(stepRun(check, /semantic version/), 'v1.3.0-rc.1').status).toBe(0)
    })

    it('refuses a changelog whose section has no date (still Unreleased)', () => {
      project('1.3.0', CHANGELOG.replace('## [Unreleased]', '## [1.3.0]'))
      expect(bash(stepRun(check, /semantic version/), 'v1.3.0').status).toBe(1)
    })

    it("takes the tag's changelog section as the release notes, and refuses an empty one", () => {
      project('1.2.0', CHANGELOG)
      const notes = stepRun(release, /Release notes/)
      expect(bash(notes, 'v1.2.0').status).toBe(0)
      expect(readFileSync(join(dir, 'notes.md'), 'utf8').trim()).toBe('### Fixed\n\n- the fix')
      expect(bash(notes, 'v1.1.0').status).toBe(0)
      expect(readFileSync(join(dir, 'notes.md'), 'utf8').trim()).toBe('- older')
      expect(bash(notes, 'v9.9.9').status).not.toBe(0)
    })

    it('moves the major tag only for a release that is no pre-release', () => {
      const move = release.steps!.find(step => /major tag/.test(step.name ?? ''))!
      expect(move).toMatchObject({ if: "${{ !contains(env.TAG, '-') }}" })
      expect(move.run).toContain('major="${TAG%%.*}"')
      expect(move.run).toContain('git push origin "refs/tags/$major" --force')
    })
  })
})

describe('the release files', () => {
  it('CHANGELOG.md keeps a changelog: an Unreleased or a dated section for the version, each with its link', () => {
    const text = read('CHANGELOG.md')
    const { version } = JSON.parse(read('package.json')) as { version: string }
    const sections = [...text.matchAll(/^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$/gm)].map(m => m[1])
    expect(sections.length).toBeGreaterThan(0)
    expect(sections.includes('Unreleased') || sections.includes(version)).toBe(true)
    for (const section of sections)
      expect(text).toMatch(new RegExp(`^\\[${section.replace(/\./g, '\\.')}\\]: https://`, 'm'))
    expect(text).toContain('https://keepachangelog.com/')
  })

  it('SECURITY.md sends reports to private vulnerability reporting', () => {
    const text = read('SECURITY.md')
    expect(text).toContain('Report a vulnerability')
    expect(text).toContain(`https://github.com/${REPOSITORY}/security/advisories/new`)
  })

  it('Dependabot updates npm and the actions, grouped', () => {
    const config = parse(read('.github/dependabot.yml')) as {
      version: number
      updates: { 'package-ecosystem': string; groups?: Record<string, unknown> }[]
    }
    expect(config.version).toBe(2)
    expect(config.updates.map(u => u['package-ecosystem']).sort()).toEqual(['github-actions', 'npm'])
    for (const update of config.updates) expect(Object.keys(update.groups ?? {}).length).toBeGreaterThan(0)
  })

  it('docs/releasing.md describes the steps the workflow checks', () => {
    const text = read('docs/releasing.md')
    for (const word of [
      'CHANGELOG.md',
      'src/version.ts',
      'npm run package',
      'git tag',
      'v1',
      'licenses.ts --check'
    ])
      expect(text).toContain(word)
  })
})
