/**
 * The docker image as the cache keys it: by digest where the image's registry can be asked, since a tag moves
 * (`python:3.12-slim` today is not last month's), else by name. What is done, with sources: docs/cache.md
 * ("Docker images"). The parsing is pure; the look-up takes its transport (`fetch`) and its signal as parameters,
 * never throws, and sends no credentials but the anonymous token the registry hands out.
 */
import { createHash } from 'node:crypto'
import { parseDockerImage } from '../input-formats/docker-image.js'
import { USER_AGENT } from '../version.js'
import { errorMessage, oneLine } from '../words.js'

export interface ImageReference {
  /** The registry's API host (with port): `registry-1.docker.io` for Docker Hub. */
  readonly registry: string
  /** With the `library/` prefix for official Docker Hub images. */
  readonly repository: string
  /** Absent when the reference gives a digest and no tag (`img@sha256:...`). */
  readonly tag?: string
  /** Present when the reference pins one: the image is then known without asking anyone. */
  readonly digest?: string
}

export type ImageKey =
  | { readonly kind: 'digest'; readonly digest: string; readonly reference: ImageReference }
  | { readonly kind: 'name'; readonly reference: ImageReference; readonly reason: string }

export interface RegistryDeps {
  readonly fetch: typeof fetch
  /** The step's signal: the look-up ends at once when it aborts. */
  readonly signal: AbortSignal
  /** The whole look-up (challenge, token, manifest) ends within this; default 5 s. */
  readonly timeoutMs?: number
  /** Default `https`; tests use `http` for a local registry. */
  readonly registryScheme?: (host: string) => 'https' | 'http'
}

/** Where `docker pull` goes for an image without a registry host (Docker Hub's API host, not `docker.io`). */
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io'
export const DEFAULT_LOOKUP_TIMEOUT_MS = 5000
/** 4 MiB: the size Docker's own registry refuses manifests above; a real index or manifest is a few KiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
/** A token answer is a small JSON document; anything far larger is not one. */
const MAX_TOKEN_ANSWER_BYTES = 1024 * 1024

/** The manifest kinds a registry may serve for a tag, multi-platform indexes first (OCI and Docker's). */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json'
] as const

const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/
// The digests a reference may pin: the algorithms the OCI image spec registers, with their lengths.
const PINNED_DIGEST = /^(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/

/**
 * Reads a reference as `docker pull` does: the name part is the action's own input format (parseDockerImage, so
 * nothing it accepts is refused here), and an `@digest` may follow, with or without a tag (the digest wins).
 * Throws an Error saying what is wrong, as parseDockerImage does.
 */
export function parseImageReference(ref: string): ImageReference {
  const text = ref.trim()
  const at = text.indexOf('@')
  const name = at < 0 ? text : text.slice(0, at)
  const digest = at < 0 ? undefined : text.slice(at + 1)
  if (digest !== undefined && !PINNED_DIGEST.test(digest)) {
    throw new Error(`"${digest}" is not a digest (sha256: and 64 lower-case hex digits, or sha512: and 128)`)
  }
  // parseDockerImage trims what it is given: white space before the `@` would pass unseen.
  if (name !== name.trimEnd()) throw new Error(`"${text}" contains white space; write one reference`)
  const image = parseDockerImage(name)
  // parseDockerImage gives `latest` when no tag is written; with a digest, no tag means none.
  const tagWritten = (name.split('/').pop() ?? '').includes(':')
  return {
    registry: image.server ?? DOCKER_HUB_REGISTRY,
    repository: image.repository,
    ...(digest === undefined || tagWritten ? { tag: image.tag } : {}),
    ...(digest === undefined ? {} : { digest })
  }
}

/** The reference written out whole (registry, repository, tag, digest): the key of an image known by name. */
export function imageName(reference: ImageReference): string {
  const tag = reference.tag === undefined ? '' : `:${reference.tag}`
  const digest = reference.digest === undefined ? '' : `@${reference.digest}`
  return `${reference.registry}/${reference.repository}${tag}${digest}`
}

export interface BearerChallenge {
  readonly realm: string
  readonly service?: string
  readonly scope?: string
}

/**
 * The Bearer challenge of a `WWW-Authenticate` header (`Bearer realm="...",service="...",scope="..."`), or
 * undefined when there is none (no header, another scheme, no realm).
 */
export function parseBearerChallenge(header: string | null | undefined): BearerChallenge | undefined {
  const match = /(?:^|[\s,])Bearer\s+(.*)$/i.exec(header ?? '')
  if (!match) return undefined
  const params = new Map<string, string>()
  // auth-param = token "=" ( token / quoted-string ), separated by commas (RFC 9110 §11.2).
  const param = /\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y
  for (let found = param.exec(match[1]); found; found = param.exec(match[1])) {
    const key = found[1].toLowerCase()
    if (!params.has(key)) params.set(key, found[2]?.replace(/\\(.)/g, '$1') ?? found[3])
    if (param.lastIndex >= match[1].length) break
  }
  const realm = params.get('realm')
  if (realm === undefined || realm === '') return undefined
  return { realm, service: params.get('service'), scope: params.get('scope') }
}

/** A look-up that cannot give a digest: its message is the reason the image is keyed by name. */
class KeyedByName extends Error {}

interface LookUp {
  readonly fetch: typeof fetch
  readonly signal: AbortSignal
  readonly reference: ImageReference & { readonly tag: string }
  readonly manifestUrl: string
}

/**
 * The image's digest from its registry (OCI distribution: HEAD of the tag's manifest, with the anonymous token
 * dance of Docker's token authentication when the registry asks for it), or its name and why not. Never throws.
 */
export async function resolveImageDigest(reference: ImageReference, deps: RegistryDeps): Promise<ImageKey> {
  if (reference.digest !== undefined) return { kind: 'digest', digest: reference.digest, reference }
  const timeout = AbortSignal.timeout(deps.timeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS)
  const tagged = { ...reference, tag: reference.tag ?? 'latest' }
  const scheme = deps.registryScheme?.(reference.registry) ?? 'https'
  const lookUp: LookUp = {
    fetch: deps.fetch,
    signal: AbortSignal.any([deps.signal, timeout]),
    reference: tagged,
    manifestUrl: `${scheme}://${tagged.registry}/v2/${tagged.repository}/manifests/${tagged.tag}`
  }
  try {
    return { kind: 'digest', digest: await digestOf(lookUp), reference }
  } catch (error) {
    return { kind: 'name', reference, reason: failureReason(error, deps.signal, timeout, deps.timeoutMs) }
  }
}

function failureReason(
  error: unknown,
  stepSignal: AbortSignal,
  timeout: AbortSignal,
  timeoutMs = DEFAULT_LOOKUP_TIMEOUT_MS
): string {
  if (error instanceof KeyedByName) return error.message
  if (stepSignal.aborted) return 'the registry look-up was cancelled'
  if (timeout.aborted) return `the registry did not answer within ${timeoutMs} ms`
  // fetch says `fetch failed` and puts what happened (ENOTFOUND, ECONNREFUSED, a TLS error) in its cause.
  // (read by shape, not instanceof: fetch's errors may come from another realm than this code's Error)
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause
  const what =
    typeof cause?.code === 'string'
      ? cause.code
      : typeof cause?.message === 'string'
        ? cause.message
        : errorMessage(error)
  return oneLine(`the registry could not be reached (${what})`, 200)
}

async function digestOf(lookUp: LookUp): Promise<string> {
  let token: string | undefined
  let head = await requestManifest(lookUp, 'HEAD', token)
  if (head.status === 401) {
    token = await anonymousToken(lookUp, head.headers.get('www-authenticate'))
    head = await requestManifest(lookUp, 'HEAD', token)
  }
  // A registry without HEAD (it must have it, but) still serves the manifest itself.
  if (head.status === 405) return manifestBodyDigest(lookUp, token)
  refuseStatus(head.status, lookUp.reference, token !== undefined)
  const header = head.headers.get('docker-content-digest')
  if (header === null) return manifestBodyDigest(lookUp, token)
  if (!SHA256_DIGEST.test(header)) {
    throw new KeyedByName(
      `the registry's Docker-Content-Digest "${oneLine(header, 80)}" is not a sha256 digest`
    )
  }
  return header
}

function requestManifest(lookUp: LookUp, method: 'HEAD' | 'GET', token?: string): Promise<Response> {
  const headers: Record<string, string> = {
    accept: MANIFEST_MEDIA_TYPES.join(', '),
    'user-agent': USER_AGENT
  }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  return lookUp.fetch(lookUp.manifestUrl, { method, headers, signal: lookUp.signal })
}

/** Throws the reason for any answer but 2xx; the wording says what the status means for this image. */
function refuseStatus(status: number, reference: LookUp['reference'], withToken: boolean): void {
  if (status >= 200 && status < 300) return
  const image = `${reference.repository}:${reference.tag}`
  if (status === 401 || status === 403) {
    throw new KeyedByName(
      withToken
        ? `the registry refused its anonymous token for ${image} (${status}): a private image is keyed by name`
        : `the registry refused an anonymous look-up of ${image} (${status})`
    )
  }
  if (status === 404) throw new KeyedByName(`the registry has no manifest for ${image} (404)`)
  if (status === 429) throw new KeyedByName('the registry limits requests now (429)')
  throw new KeyedByName(`the registry answered ${status} for the manifest of ${image}`)
}

/** Docker's token authentication, anonymously: GET the realm with service and scope, read the token. */
async function anonymousToken(lookUp: LookUp, header: string | null): Promise<string> {
  const challenge = parseBearerChallenge(header)
  if (challenge === undefined) {
    throw new KeyedByName('the registry asks for credentials without a Bearer challenge (401)')
  }
  let url: URL
  try {
    url = new URL(challenge.realm)
  } catch {
    throw new KeyedByName('the registry names a token realm that is not a URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new KeyedByName('the registry names a token realm that is not http(s)')
  }
  if (challenge.service !== undefined) url.searchParams.set('service', challenge.service)
  url.searchParams.set('scope', challenge.scope ?? `repository:${lookUp.reference.repository}:pull`)
  const answer = await lookUp.fetch(url, { headers: { 'user-agent': USER_AGENT }, signal: lookUp.signal })
  if (!answer.ok) {
    await discard(answer)
    throw new KeyedByName(`the registry's token service answered ${answer.status}`)
  }
  const token = tokenIn(await readCapped(answer, MAX_TOKEN_ANSWER_BYTES, 'token answer'))
  if (token === undefined) throw new KeyedByName("the registry's token service gave no token")
  return token
}

/** `token`, or `access_token` (the OAuth 2 name, which the spec allows instead). */
function tokenIn(body: Uint8Array): string | undefined {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(body).toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof json !== 'object' || json === null) return undefined
  const { token, access_token: accessToken } = json as { token?: unknown; access_token?: unknown }
  if (typeof token === 'string' && token !== '') return token
  return typeof accessToken === 'string' && accessToken !== '' ? accessToken : undefined
}

/** GET of the manifest: its digest is by definition the sha256 of the bytes served. */
async function manifestBodyDigest(lookUp: LookUp, token: string | undefined): Promise<string> {
  const answer = await requestManifest(lookUp, 'GET', token)
  if (!answer.ok) await discard(answer)
  refuseStatus(answer.status, lookUp.reference, token !== undefined)
  const type = (answer.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase()
  if (!(MANIFEST_MEDIA_TYPES as readonly string[]).includes(type)) {
    await discard(answer)
    throw new KeyedByName(
      `the registry served a manifest of type "${oneLine(type, 80)}", not one it was asked for`
    )
  }
  const body = await readCapped(answer, MAX_MANIFEST_BYTES, 'manifest')
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`
  const header = answer.headers.get('docker-content-digest')
  if (header !== null && SHA256_DIGEST.test(header) && header !== digest) {
    throw new KeyedByName("the manifest's bytes do not have the digest the registry gives for them")
  }
  return digest
}

/** Lets an unread body go (the connection is freed); a body that already failed has nothing more to say. */
async function discard(answer: Response): Promise<void> {
  await answer.body?.cancel().catch(() => undefined)
}

/** The whole body, or the reason it is refused when it is larger than `maxBytes` (declared or as it arrives). */
async function readCapped(answer: Response, maxBytes: number, what: string): Promise<Uint8Array> {
  const tooLarge = new KeyedByName(`the registry's ${what} is larger than ${maxBytes} bytes`)
  if (Number(answer.headers.get('content-length') ?? 0) > maxBytes) {
    await discard(answer)
    throw tooLarge
  }
  if (answer.body === null) return new Uint8Array()
  const chunks: Uint8Array[] = []
  let size = 0
  // Node's web streams are async iterables of the bytes as they arrive.
  for await (const chunk of answer.body as AsyncIterable<Uint8Array>) {
    size += chunk.length
    if (size > maxBytes) throw tooLarge // leaving the loop cancels the stream
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
