import { describe, expect, it } from '@jest/globals'
import { BAD_INPUTS } from './fixtures/bad-inputs.js'
import { parseDockerImage } from '../src/input-formats/docker-image.js'
import { formatDuration, parseDuration } from '../src/input-formats/duration.js'
import { parseHardware } from '../src/input-formats/hardware.js'
import { InputError } from '../src/inputs/read.js'
import { readPostSettings, readSettings } from '../src/inputs/settings.js'
import { LIMITS, makeShortname } from '../src/inputs/task.js'
import { buildCreateBody } from '../src/task/create-body.js'
import { evaluateDefault, readActionDefinition } from '../src/local-runner/runner.js'

const defaults = Object.fromEntries(
  Object.entries(readActionDefinition().inputs).map(([name, input]) => [name, evaluateDefault(input.default)])
)

function settingsFrom(inputs: Record<string, string>, env: NodeJS.ProcessEnv = {}) {
  const values: Record<string, string> = { ...defaults, token: 'secret-token', command: 'echo hi', ...inputs }
  return readSettings(name => (values[name] ?? '').trim(), { env, randomHex: 'abcdef0123' })
}

function inputErrorOf(inputs: Record<string, string>): InputError {
  try {
    settingsFrom(inputs)
  } catch (error) {
    if (error instanceof InputError) return error
    throw error
  }
  throw new Error('no error was raised')
}

describe('readSettings', () => {
  it('builds the hello-world settings with the action.yml defaults', () => {
    const settings = settingsFrom({
      'instance-count': '4',
      command: 'echo hello world from node ${INSTANCE_ID}!'
    })
    expect(settings.task?.instances).toMatchObject({ kind: 'count', count: 4 })
    expect(settings.task?.profile).toBe('docker-batch')
    expect(settings.apiUrl).toBe('https://api.qarnot.com')
    expect(settings.wait).toBe(true)
    expect(settings.abortOnCancel).toBe(true)
    expect(settings.task?.constants).toEqual([
      { key: 'DOCKER_CMD', value: 'echo hello world from node ${INSTANCE_ID}!' }
    ])
  })

  it('defaults to one instance when neither count nor range is given', () => {
    expect(settingsFrom({}).task?.instances).toMatchObject({ kind: 'count', count: 1 })
  })

  it('normalises a range and counts its ids', () => {
    const settings = settingsFrom({ 'instance-range': '25-30, 1-6,15,20' })
    expect(settings.task?.instances).toMatchObject({ kind: 'range', text: '1-6,15,20,25-30', count: 14 })
  })

  it('turns the image into docker-batch constants before the user constants and the command', () => {
    const settings = settingsFrom({
      'docker-image': 'python:3.12-slim',
      constants: 'A=1\nB = x=y \n# note\n'
    })
    expect(settings.task?.constants).toEqual([
      { key: 'DOCKER_REPO', value: 'library/python' },
      { key: 'DOCKER_TAG', value: '3.12-slim' },
      { key: 'A', value: '1' },
      { key: 'B', value: 'x=y' },
      { key: 'DOCKER_CMD', value: 'echo hi' }
    ])
  })

  it('takes the API URL from QARNOT_CLUSTER_URL when the input is empty', () => {
    expect(settingsFrom({}, { QARNOT_CLUSTER_URL: 'https://api.example.test/' }).apiUrl).toBe(
      'https://api.example.test'
    )
    expect(
      settingsFrom({ 'api-url': 'http://127.0.0.1:9/v1' }, { QARNOT_CLUSTER_URL: 'https://x.test' }).apiUrl
    ).toBe('http://127.0.0.1:9/v1')
  })

  it('collects the token and secret constants as secrets', () => {
    const settings = settingsFrom({ constants: 'QARNOT_SECRET__KEY=hunter2\nPLAIN=visible' })
    expect(settings.secrets).toEqual(['secret-token', 'hunter2'])
  })

  it('makes a shortname unique to the step run and valid for Qarnot, whatever the run variables hold', () => {
    expect(makeShortname({ GITHUB_RUN_ID: '123', GITHUB_RUN_ATTEMPT: '2' }, 'abcdef0123')).toBe(
      'gha-123-2-abcdef0123'
    )
    expect(makeShortname({}, 'ff00')).toBe('gha-local-ff00')
    for (const env of [
      { GITHUB_RUN_ID: 'x y/z_é', GITHUB_RUN_ATTEMPT: '-' },
      { GITHUB_RUN_ID: '9'.repeat(200), GITHUB_RUN_ATTEMPT: '3' },
      { GITHUB_RUN_ID: '1', GITHUB_RUN_ATTEMPT: '' }
    ]) {
      const shortname = makeShortname(env, 'abcdef0123')
      expect(shortname).toMatch(/^[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]$/)
      expect(shortname.length).toBeLessThanOrEqual(LIMITS.shortnameLength)
    }
  })

  it('reads the post step settings with the same readers: a padded QARNOT_CLUSTER_URL works in both', () => {
    const values: Record<string, string> = { ...defaults, token: 'secret-token', 'api-url': '' }
    const read = (name: string) => (values[name] ?? '').trim()
    const env = { QARNOT_CLUSTER_URL: ' https://api.example.test/ ' }
    expect(readPostSettings(read, env).apiUrl).toBe('https://api.example.test')
    expect(settingsFrom({ 'api-url': '' }, env).apiUrl).toBe('https://api.example.test')
    expect(() => readPostSettings(name => (name === 'token' ? '' : read(name)), env)).toThrow(/'token'/)
  })

  it('never shows the user name and password of an API URL in its messages', () => {
    const error = inputErrorOf({ 'api-url': 'https://user:hunter2@api.example.test/?x=1' })
    expect(error.message).not.toContain('hunter2')
    expect(error.message).toContain('***@api.example.test')
  })

  it('parses every other input into the create body', () => {
    const settings = settingsFrom({
      'instance-range': '0-1',
      tags: 'a, b\nc',
      labels: 'team=render\nowner = me',
      hardware: 'min-cores=16, min-ram=32GB\ngpu',
      scheduling: 'On-Demand',
      'max-retries-per-instance': '2',
      'auto-delete': 'TRUE',
      timeout: '1h30m',
      name: 'my task'
    })
    expect(settings.timeoutMs).toBe(5_400_000)
    expect(buildCreateBody(settings.task!)).toEqual({
      name: 'my task',
      shortname: 'gha-local-abcdef0123',
      profile: 'docker-batch',
      advancedRanges: '0-1',
      constants: [{ key: 'DOCKER_CMD', value: 'echo hi' }],
      tags: ['a', 'b', 'c'],
      labels: { team: 'render', owner: 'me' },
      hardwareConstraints: [
        { discriminator: 'MinimumCoreHardwareConstraint', coreCount: 16 },
        { discriminator: 'MinimumRamHardwareConstraint', minimumMemoryMB: 32768 },
        { discriminator: 'GpuHardwareConstraint' }
      ],
      retrySettings: { maxTotalRetries: null, maxPerInstanceRetries: 2 },
      schedulingType: 'OnDemand',
      autoDeleteOnCompletion: true
    })
  })

  it('sends poolUuid instead of a profile when a pool is given', () => {
    const body = buildCreateBody(settingsFrom({ pool: '0f136d15-92e1-454a-a57e-2f4a550734f0' }).task!)
    expect(body.poolUuid).toBe('0f136d15-92e1-454a-a57e-2f4a550734f0')
    expect(body).not.toHaveProperty('profile')
  })
})

describe('bad inputs name the input and the fix', () => {
  it.each(BAD_INPUTS)('%j -> %s', (inputs, input, fix) => {
    const error = inputErrorOf(inputs)
    expect(error.input).toBe(input)
    expect(error.message).toContain(`'${input}'`)
    expect(error.message).toMatch(fix)
  })
})

describe('input formats', () => {
  it.each([
    ['ubuntu', { repository: 'library/ubuntu', tag: 'latest' }],
    ['python:3.12-slim', { repository: 'library/python', tag: '3.12-slim' }],
    ['org/img:tag', { repository: 'org/img', tag: 'tag' }],
    ['ghcr.io/org/img:tag', { server: 'ghcr.io', repository: 'org/img', tag: 'tag' }],
    ['localhost:5000/img', { server: 'localhost:5000', repository: 'img', tag: 'latest' }],
    ['docker.io/library/ubuntu:22.04', { repository: 'library/ubuntu', tag: '22.04' }],
    ['docker.io/ubuntu', { repository: 'library/ubuntu', tag: 'latest' }]
  ])('reads the image %s', (reference, expected) => {
    expect(parseDockerImage(reference)).toEqual({ server: undefined, ...expected })
  })

  it('reads durations with units and writes them back', () => {
    expect(parseDuration('90s')).toBe(90_000)
    expect(parseDuration('2h')).toBe(7_200_000)
    expect(parseDuration('1d 2h')).toBe(93_600_000)
    expect(formatDuration(5_400_000)).toBe('1h30m')
    expect(() => parseDuration('0s')).toThrow(/positive/)
  })

  it('reads every hardware word', () => {
    expect(
      parseHardware([
        'max-cores=32',
        'max-ram=1.5GB',
        'min-ram-per-core=2GB',
        'max-ram-per-core=8',
        'no-ssd',
        'cpu-model=AMD EPYC',
        'specification=8c-32g'
      ]).map(c => c.discriminator)
    ).toEqual([
      'MaximumCoreHardwareConstraint',
      'MaximumRamHardwareConstraint',
      'MinimumRamCoreRatioHardwareConstraint',
      'MaximumRamCoreRatioHardwareConstraint',
      'NoSSDHardwareConstraint',
      'CpuModelHardwareConstraint',
      'SpecificHardwareConstraint'
    ])
  })
})

describe('version', () => {
  it('sends the version of package.json in its User-Agent', async () => {
    const { readFileSync } = await import('node:fs')
    const { USER_AGENT } = await import('../src/version.js')
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    expect(USER_AGENT).toBe(`qarnot-action/${pkg.version}`)
  })
})
