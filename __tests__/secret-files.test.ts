/** Files that hold credentials stay out of `resources` unless named whole; the create asks Qarnot for no credentials. */
import { afterAll, describe, expect, it } from '@jest/globals'
import { symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { resolveResources } from '../src/storage/resource-patterns.js'
import { holdsSecret } from '../src/storage/secret-files.js'
import { buildCreateBody } from '../src/task/create-body.js'
import { readSettings } from '../src/inputs/settings.js'
import { removeTempDirs, workspace } from './helpers/storage.js'

afterAll(removeTempDirs)

describe('holdsSecret', () => {
  it.each([
    ['.npmrc'],
    ['pkg/.NPMRC'],
    ['.yarnrc.yml'],
    ['.pypirc'],
    ['.netrc'],
    ['.git-credentials'],
    ['.env'],
    ['app/.env.local'],
    ['.env.production'],
    ['deploy/prod.env'],
    ['id_rsa'],
    ['keys/id_ed25519'],
    ['.docker/config.json'],
    ['.aws/credentials'],
    ['.kube/config'],
    ['.ssh/deploy_key'],
    ['gha-creds-5f2b1c.json']
  ])('%s holds a secret', (path: string) => {
    expect(holdsSecret(path)).toBe(true)
  })

  it.each([
    ['.env.example'],
    ['.env.sample'],
    ['.env.template'],
    ['id_rsa.pub'],
    ['.ssh/id_rsa.pub'],
    ['.ssh/known_hosts'],
    ['config.json'],
    ['docker/config.json'],
    ['environment.yml'],
    ['src/env.py'],
    ['npmrc.md']
  ])('%s does not', (path: string) => {
    expect(holdsSecret(path)).toBe(false)
  })
})

describe('resources leave out files that hold credentials', () => {
  const files = {
    'run.sh': 'echo',
    '.npmrc': '//registry.npmjs.org/:_authToken=npm_secret',
    '.env': 'API_KEY=secret',
    'app/.env.example': 'API_KEY=',
    'gha-creds-1a2b.json': '{"type":"external_account"}',
    'data/in.csv': '1'
  }

  it('from the whole workspace and from a folder, warning with their names', async () => {
    const root = workspace(files)
    const warnings: string[] = []
    const resolved = await resolveResources(root, '.', { warn: w => warnings.push(w) })
    expect(resolved.map(f => f.path)).toEqual(['app/.env.example', 'data/in.csv', 'run.sh'])
    expect(warnings).toEqual([
      `Input 'resources': ".env", ".npmrc" and "gha-creds-1a2b.json" hold credentials by their name (docs/security.md), left out; name a file by its whole path (no wildcard) if a task needs it.`
    ])
    expect((await resolveResources(root, '*')).map(f => f.path)).not.toContain('.npmrc')
  })

  it('takes one named by its whole path, and refuses a wildcard matching only such files', async () => {
    const root = workspace(files)
    const warnings: string[] = []
    const resolved = await resolveResources(root, '.\n.env', { warn: w => warnings.push(w) })
    expect(resolved.map(f => f.path)).toContain('.env')
    expect(warnings[0]).not.toContain('".env"')
    await expect(resolveResources(root, '.n*')).rejects.toThrow(
      /^Input 'resources': "\.n\*" names only "\.npmrc", which holds credentials by name/
    )
  })

  it('leaves out a link whose target holds credentials', async () => {
    const root = workspace(files)
    symlinkSync(join(root, '.npmrc'), join(root, 'notes.txt'))
    const warnings: string[] = []
    const resolved = await resolveResources(root, '.', { warn: w => warnings.push(w) })
    expect(resolved.map(f => f.path)).not.toContain('notes.txt')
    expect(warnings[0]).toMatch(/and 1 more hold credentials/)
    await expect(resolveResources(root, '*.txt')).rejects.toThrow(/names only "notes\.txt"/)
  })
})

describe('the create body', () => {
  it('asks Qarnot to put no credentials into the instances, whatever the inputs', () => {
    const inputs: Record<string, string> = {
      token: 'qarnot-token-value',
      command: 'echo',
      profile: 'docker-batch',
      'instance-count': '3',
      constants: 'A=1\nQARNOT_SECRET__DB=pw',
      'github-token': 'ghs_value'
    }
    const settings = readSettings(name => inputs[name] ?? '', { env: {}, randomHex: 'abcde' })
    const text = JSON.stringify(buildCreateBody(settings.task!))
    expect(text).not.toContain('qarnot-token-value')
    expect(text).not.toContain('ghs_value')
    // Qarnot's `privileges.exportApiAndStorageCredentialsInEnvironment` (default false) is never sent: the
    // instances get neither the API token nor the storage keys.
    expect(text).not.toMatch(/privileges|credential|export|QARNOT_CLIENT_TOKEN|token/i)
  })
})
