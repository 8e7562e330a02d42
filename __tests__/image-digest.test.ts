/**
 * The image digest look-up against a real HTTP server on 127.0.0.1 playing an OCI registry and its token service
 * (docs/cache.md, "Docker images").
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  DOCKER_HUB_REGISTRY,
  MANIFEST_MEDIA_TYPES,
  MAX_MANIFEST_BYTES,
  imageName,
  parseBearerChallenge,
  parseImageReference,
  resolveImageDigest,
  type RegistryDeps
} from '../src/cache/image-digest.js'

const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: []
})
const MANIFEST_DIGEST = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`
const TOKEN = 'anonymous-token-1'
const HEX = 'a'.repeat(64)

interface Seen {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: IncomingMessage['headers']
}

type Handler = (request: IncomingMessage, response: ServerResponse, base: string) => void

/** A local server whose every answer `handler` writes, recording what it was asked. */
async function registry(handler: Handler): Promise<{ host: string; base: string; seen: Seen[] }> {
  const seen: Seen[] = []
  let base = ''
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', base)
    seen.push({
      method: request.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers
    })
    handler(request, response, base)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`
  base = `http://${host}`
  closers.push(() => {
    server.closeAllConnections()
    return new Promise(resolve => server.close(() => resolve()))
  })
  return { host, base, seen }
}

let closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(closers.map(close => close()))
  closers = []
})

function deps(overrides: Partial<RegistryDeps> = {}): RegistryDeps {
  return { fetch, signal: new AbortController().signal, registryScheme: () => 'http', ...overrides }
}

/** A registry as Docker Hub behaves: 401 with a Bearer challenge until the token comes, then the manifest. */
function withTokenDance(options: { tokenField?: string; digestHeader?: boolean } = {}): Handler {
  return (request, response, base) => {
    const url = new URL(request.url ?? '/', base)
    if (url.pathname === '/token') {
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify({ [options.tokenField ?? 'token']: TOKEN, expires_in: 300 }))
      return
    }
    if (request.headers.authorization !== `Bearer ${TOKEN}`) {
      response.statusCode = 401
      response.setHeader(
        'www-authenticate',
        `Bearer realm="${base}/token",service="registry.test",scope="repository:library/python:pull"`
      )
      response.end()
      return
    }
    manifest(options.digestHeader ?? true)(request, response, base)
  }
}

/** The manifest of any tag, with or without the Docker-Content-Digest header. */
function manifest(digestHeader: boolean): Handler {
  return (request, response) => {
    response.setHeader('content-type', MANIFEST_MEDIA_TYPES[0])
    response.setHeader('content-length', Buffer.byteLength(MANIFEST))
    if (digestHeader) response.setHeader('docker-content-digest', MANIFEST_DIGEST)
    response.end(request.method === 'HEAD' ? undefined : MANIFEST)
  }
}

describe('parseImageReference', () => {
  it.each([
    ['python:3.12-slim', { registry: DOCKER_HUB_REGISTRY, repository: 'library/python', tag: '3.12-slim' }],
    ['ubuntu', { registry: DOCKER_HUB_REGISTRY, repository: 'library/ubuntu', tag: 'latest' }],
    [
      'docker.io/library/ubuntu:22.04',
      { registry: DOCKER_HUB_REGISTRY, repository: 'library/ubuntu', tag: '22.04' }
    ],
    ['docker.io/ubuntu', { registry: DOCKER_HUB_REGISTRY, repository: 'library/ubuntu', tag: 'latest' }],
    ['index.docker.io/user/img', { registry: DOCKER_HUB_REGISTRY, repository: 'user/img', tag: 'latest' }],
    ['user/img', { registry: DOCKER_HUB_REGISTRY, repository: 'user/img', tag: 'latest' }],
    ['user/img:1.0', { registry: DOCKER_HUB_REGISTRY, repository: 'user/img', tag: '1.0' }],
    ['ghcr.io/o/r:tag', { registry: 'ghcr.io', repository: 'o/r', tag: 'tag' }],
    ['ghcr.io/o/team/r', { registry: 'ghcr.io', repository: 'o/team/r', tag: 'latest' }],
    ['localhost:5000/x', { registry: 'localhost:5000', repository: 'x', tag: 'latest' }],
    ['localhost/x:1', { registry: 'localhost', repository: 'x', tag: '1' }],
    [
      `host:5000/ns/img@sha256:${HEX}`,
      { registry: 'host:5000', repository: 'ns/img', digest: `sha256:${HEX}` }
    ],
    [
      `img:tag@sha256:${HEX}`,
      { registry: DOCKER_HUB_REGISTRY, repository: 'library/img', tag: 'tag', digest: `sha256:${HEX}` }
    ],
    [
      `python@sha256:${HEX}`,
      { registry: DOCKER_HUB_REGISTRY, repository: 'library/python', digest: `sha256:${HEX}` }
    ],
    [
      `localhost:5000/x:1@sha512:${'b'.repeat(128)}`,
      { registry: 'localhost:5000', repository: 'x', tag: '1', digest: `sha512:${'b'.repeat(128)}` }
    ]
  ])('reads %s', (reference, expected) => {
    expect(parseImageReference(reference)).toEqual(expected)
  })

  it('refuses what the action refuses, and digests that are not digests', () => {
    expect(() => parseImageReference('Ubuntu')).toThrow(/lower-case/)
    expect(() => parseImageReference('ubuntu:')).toThrow(/not a valid tag/)
    expect(() => parseImageReference('python@sha256:abc')).toThrow(/not a digest/)
    expect(() => parseImageReference(`python@sha256:${'A'.repeat(64)}`)).toThrow(/not a digest/)
    expect(() => parseImageReference(`python@md5:${HEX}`)).toThrow(/not a digest/)
    expect(() => parseImageReference(`python @sha256:${HEX}`)).toThrow(/white space/)
    expect(() => parseImageReference('python:3.12 slim')).toThrow(/white space/)
  })

  it('writes a reference out whole, the key of an image known by name', () => {
    expect(imageName(parseImageReference('python:3.12-slim'))).toBe(
      'registry-1.docker.io/library/python:3.12-slim'
    )
    expect(imageName(parseImageReference(`localhost:5000/x@sha256:${HEX}`))).toBe(
      `localhost:5000/x@sha256:${HEX}`
    )
  })
})

describe('parseBearerChallenge', () => {
  it('reads realm, service and scope, quoted or not, in any order', () => {
    expect(
      parseBearerChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/python:pull"'
      )
    ).toEqual({
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/python:pull'
    })
    expect(parseBearerChallenge('bearer service=ghcr.io, realm="https://ghcr.io/token"')).toEqual({
      realm: 'https://ghcr.io/token',
      service: 'ghcr.io',
      scope: undefined
    })
    expect(parseBearerChallenge('Basic realm="x", Bearer realm="https://r/token"')?.realm).toBe(
      'https://r/token'
    )
  })

  it('finds none without a Bearer scheme or a realm', () => {
    expect(parseBearerChallenge(null)).toBeUndefined()
    expect(parseBearerChallenge('Basic realm="Registry"')).toBeUndefined()
    expect(parseBearerChallenge('Bearer service="x"')).toBeUndefined()
  })
})

describe('resolveImageDigest', () => {
  it('takes the digest from a HEAD of the manifest, asking for every manifest kind', async () => {
    const { host, seen } = await registry(manifest(true))
    const reference = parseImageReference(`${host}/team/app:1.2`)
    expect(await resolveImageDigest(reference, deps())).toEqual({
      kind: 'digest',
      digest: MANIFEST_DIGEST,
      reference
    })
    expect(seen.map(s => `${s.method} ${s.path}`)).toEqual(['HEAD /v2/team/app/manifests/1.2'])
    expect(seen[0].headers.accept?.split(/,\s*/)).toEqual([...MANIFEST_MEDIA_TYPES])
    expect(seen[0].headers.authorization).toBeUndefined()
  })

  it('does the anonymous token dance for a Docker Hub library image', async () => {
    const { base, seen } = await registry(withTokenDance())
    // python:3.12-slim goes to Docker Hub's API host; the test's fetch sends it to the local registry instead.
    const toLocal: typeof fetch = (url, init) => {
      const href = typeof url === 'string' ? url : 'href' in url ? url.href : url.url
      return fetch(href.replace(`http://${DOCKER_HUB_REGISTRY}`, base), init)
    }
    const reference = parseImageReference('python:3.12-slim')
    const key = await resolveImageDigest(reference, deps({ fetch: toLocal }))
    expect(key).toEqual({ kind: 'digest', digest: MANIFEST_DIGEST, reference })
    expect(seen.map(s => `${s.method} ${s.path}`)).toEqual([
      'HEAD /v2/library/python/manifests/3.12-slim',
      'GET /token',
      'HEAD /v2/library/python/manifests/3.12-slim'
    ])
    expect(seen[1].query.get('service')).toBe('registry.test')
    expect(seen[1].query.get('scope')).toBe('repository:library/python:pull')
    expect(seen[1].headers.authorization).toBeUndefined()
    expect(seen[2].headers.authorization).toBe(`Bearer ${TOKEN}`)
  })

  it('takes access_token when the token service names it so', async () => {
    const { host } = await registry(withTokenDance({ tokenField: 'access_token' }))
    const key = await resolveImageDigest(parseImageReference(`${host}/library/python:3.12-slim`), deps())
    expect(key.kind).toBe('digest')
  })

  it('falls back to GET and the sha256 of the bytes when HEAD gives no digest', async () => {
    const { host, seen } = await registry(withTokenDance({ digestHeader: false }))
    const key = await resolveImageDigest(parseImageReference(`${host}/library/python:3.12-slim`), deps())
    expect(key).toMatchObject({ kind: 'digest', digest: MANIFEST_DIGEST })
    expect(seen.map(s => s.method)).toEqual(['HEAD', 'GET', 'HEAD', 'GET'])
    expect(seen[3].headers.authorization).toBe(`Bearer ${TOKEN}`)
  })

  it('makes no request for a reference pinned by digest', async () => {
    const calls: unknown[] = []
    const counting: typeof fetch = (...args) => {
      calls.push(args)
      return Promise.reject(new Error('no request expected'))
    }
    const reference = parseImageReference(`localhost:5000/ns/img:tag@sha256:${HEX}`)
    expect(await resolveImageDigest(reference, deps({ fetch: counting }))).toEqual({
      kind: 'digest',
      digest: `sha256:${HEX}`,
      reference
    })
    expect(calls).toEqual([])
  })

  it.each([
    [404, /no manifest for team\/app:1\.2 \(404\)/],
    [429, /limits requests now \(429\)/],
    [500, /answered 500/],
    [401, /without a Bearer challenge/]
  ])('keys by name when the registry answers %d', async (status, reason) => {
    const { host } = await registry((_request, response) => {
      response.statusCode = status
      if (status === 401) response.setHeader('www-authenticate', 'Basic realm="Registry"')
      response.end()
    })
    const reference = parseImageReference(`${host}/team/app:1.2`)
    const key = await resolveImageDigest(reference, deps())
    expect(key).toEqual({ kind: 'name', reference, reason: expect.stringMatching(reason) })
  })

  it('keys by name when the anonymous token is refused too (a private image)', async () => {
    const { host } = await registry((request, response, base) => {
      if (request.url?.startsWith('/token')) return void response.end(JSON.stringify({ token: TOKEN }))
      response.statusCode = 401
      response.setHeader('www-authenticate', `Bearer realm="${base}/token",service="s"`)
      response.end()
    })
    const key = await resolveImageDigest(parseImageReference(`${host}/team/private`), deps())
    expect(key).toMatchObject({ kind: 'name', reason: expect.stringMatching(/refused its anonymous token/) })
    if (key.kind === 'name') expect(key.reason).not.toContain(TOKEN)
  })

  it('keys by name on a malformed Docker-Content-Digest', async () => {
    const { host } = await registry((_request, response) => {
      response.setHeader('docker-content-digest', 'sha256:not-hex')
      response.end()
    })
    const key = await resolveImageDigest(parseImageReference(`${host}/team/app`), deps())
    expect(key).toMatchObject({ kind: 'name', reason: expect.stringMatching(/is not a sha256 digest/) })
  })

  it('keys by name when the bytes served do not have the digest announced', async () => {
    const { host } = await registry((request, response) => {
      response.setHeader('content-type', MANIFEST_MEDIA_TYPES[1])
      if (request.method === 'GET') response.setHeader('docker-content-digest', `sha256:${HEX}`)
      response.end(request.method === 'HEAD' ? undefined : MANIFEST)
    })
    const key = await resolveImageDigest(parseImageReference(`${host}/team/app`), deps())
    expect(key).toMatchObject({ kind: 'name', reason: expect.stringMatching(/do not have the digest/) })
  })

  it.each([
    ['declared', true],
    ['chunked, as the bytes arrive', false]
  ])('keys by name rather than read a manifest larger than 4 MiB (%s)', async (_how, declared) => {
    const body = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20)
    const { host } = await registry((request, response) => {
      response.setHeader('content-type', MANIFEST_MEDIA_TYPES[0])
      if (request.method === 'HEAD') return void response.end()
      if (declared) response.setHeader('content-length', body.length)
      response.end(body)
    })
    const key = await resolveImageDigest(parseImageReference(`${host}/team/app`), deps())
    expect(key).toMatchObject({ kind: 'name', reason: expect.stringMatching(/larger than 4194304 bytes/) })
  })

  it('reads the manifest by GET when the registry has no HEAD (405)', async () => {
    const { host, seen } = await registry((request, response, base) => {
      if (request.method === 'HEAD') {
        response.statusCode = 405
        return void response.end()
      }
      manifest(false)(request, response, base)
    })
    const key = await resolveImageDigest(parseImageReference(`${host}/team/app`), deps())
    expect(key).toMatchObject({ kind: 'digest', digest: MANIFEST_DIGEST })
    expect(seen.map(s => s.method)).toEqual(['HEAD', 'GET'])
  })

  it('keys by name when the GET serves a media type it was not asked for', async () => {
    const { host } = await registry((request, response) => {
      response.setHeader('content-type', 'application/vnd.docker.distribution.manifest.v1+prettyjws')
      response.end(request.method === 'HEAD' ? undefined : MANIFEST)
    })
    const key = await resolveImageDigest(parseImageReference(`${host}/team/app`), deps())
    expect(key).toMatchObject({ kind: 'name', reason: expect.stringMatching(/not one it was asked for/) })
  })

  it('keys by name when the token service gives no token', async () => {
    const { host, seen } = await registry((request, response, base) => {
      if (request.url?.startsWith('/token')) return void response.end('{"expires_in": 300}')
      response.statusCode = 401
      response.setHeader('www-authenticate', `Bearer realm="${base}/token"`)
      response.end()
    })
    const key = await resolveImageDigest(parseImageReference(`${host}/team/app`), deps())
    expect(key).toMatchObject({ kind: 'name', reason: "the registry's token service gave no token" })
    // A challenge without scope: the scope asked is the pull of this repository, and no service is invented.
    expect(seen[1].query.get('scope')).toBe('repository:team/app:pull')
    expect(seen[1].query.has('service')).toBe(false)
  })

  it('keys by name within its bound when the registry never answers', async () => {
    const { host } = await registry(() => undefined)
    const started = Date.now()
    const key = await resolveImageDigest(parseImageReference(`${host}/team/app`), deps({ timeoutMs: 200 }))
    expect(Date.now() - started).toBeLessThan(2000)
    expect(key).toMatchObject({ kind: 'name', reason: 'the registry did not answer within 200 ms' })
  })

  it('keys by name when the step is cancelled, and when nothing listens', async () => {
    const { host } = await registry(() => undefined)
    const controller = new AbortController()
    const pending = resolveImageDigest(
      parseImageReference(`${host}/team/app`),
      deps({ signal: controller.signal })
    )
    controller.abort()
    expect(await pending).toMatchObject({ kind: 'name', reason: 'the registry look-up was cancelled' })
    // A port just freed: nothing listens there any more.
    const { host: gone } = await registry(() => undefined)
    await closers.pop()?.()
    const refused = await resolveImageDigest(parseImageReference(`${gone}/team/app`), deps())
    expect(refused).toMatchObject({
      kind: 'name',
      reason: expect.stringMatching(/could not be reached \(ECONNREFUSED\)/)
    })
  })
})
