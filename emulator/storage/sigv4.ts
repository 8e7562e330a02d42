/**
 * AWS Signature Version 4 as S3 checks it (the Authorization header form): the emulator's storage recomputes the
 * signature with the account's secret and compares, because s3rver itself accepts any V4 signature. The signing
 * is @smithy/signature-v4's (the AWS SDK's own signer), not a hand-written one.
 */
import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto'
import { SignatureV4 } from '@smithy/signature-v4'

export interface SignedRequest {
  readonly method: string
  /** The request target as received: raw path and query (`/bucket/key?uploads`). */
  readonly url: string
  readonly headers: Record<string, string | string[] | undefined>
}

export type Verdict =
  | { readonly ok: true; readonly accessKey: string }
  | {
      readonly ok: false
      readonly status: number
      readonly code: string
      readonly message: string
      readonly accessKey?: string
    }

interface Authorization {
  readonly accessKey: string
  readonly date: string
  readonly region: string
  readonly service: string
  readonly signedHeaders: string[]
  readonly signature: string
}

const ALGORITHM = 'AWS4-HMAC-SHA256'

export function parseAuthorization(header: string): Authorization | undefined {
  if (!header.startsWith(`${ALGORITHM} `)) return undefined
  const fields = new Map(
    header
      .slice(ALGORITHM.length + 1)
      .split(',')
      .map(part => part.trim())
      .map(part => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)] as const)
  )
  const credential = fields.get('Credential')?.split('/') ?? []
  const signedHeaders = fields.get('SignedHeaders')
  const signature = fields.get('Signature')
  if (credential.length < 5 || !signedHeaders || !signature || credential.at(-1) !== 'aws4_request')
    return undefined
  const [date, region, service] = credential.slice(-4)
  return {
    accessKey: credential.slice(0, -4).join('/'),
    date,
    region,
    service,
    signedHeaders: signedHeaders.split(';'),
    signature
  }
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** The query as @smithy/signature-v4 takes it: names to decoded values (a list for a repeated name). */
function queryOf(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const pair of query.split('&').filter(Boolean)) {
    const at = pair.indexOf('=')
    const name = decode(at < 0 ? pair : pair.slice(0, at))
    const value = decode(at < 0 ? '' : pair.slice(at + 1))
    const before = out[name]
    out[name] = before === undefined ? value : [...(Array.isArray(before) ? before : [before]), value]
  }
  return out
}

function headerValue(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value.join(',') : (value ?? '')).trim()
}

/** The hash SignatureV4 asks for (`Checksum`): SHA-256, or HMAC-SHA256 with a key, over node:crypto. */
type SourceData = string | ArrayBuffer | ArrayBufferView
const asBytes = (data: SourceData): string | Uint8Array =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data)

class Sha256 {
  private hash: Hash | Hmac
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh()
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', asBytes(this.secret))
  }
  update(data: SourceData): void {
    this.hash.update(asBytes(data))
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()))
  }
  reset(): void {
    this.hash = this.fresh()
  }
}

/** `20240102T030405Z` as a Date (undefined when it is not that form). */
function amzDateOf(text: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  if (!match) return undefined
  const [, y, mo, d, h, mi, se] = match.map(Number)
  const at = Date.UTC(y, mo - 1, d, h, mi, se)
  return Number.isFinite(at) ? new Date(at) : undefined
}

/**
 * The signature the request should carry if signed with `secret`: @smithy/signature-v4 (the AWS SDK's signer)
 * signs the request as received (method, raw path, query, the headers it names, its payload hash) at its own
 * x-amz-date, and the Authorization header it makes gives the signature.
 */
export async function expectedSignature(
  request: SignedRequest,
  auth: Authorization,
  secret: string,
  signingDate: Date
): Promise<string> {
  const queryAt = request.url.indexOf('?')
  const path = queryAt < 0 ? request.url : request.url.slice(0, queryAt)
  const headers: Record<string, string> = {}
  for (const name of auth.signedHeaders) {
    const value = request.headers[name]
    if (value !== undefined) headers[name] = headerValue(value)
  }
  // S3 takes the payload hash from x-amz-content-sha256 whether it is signed or not (UNSIGNED-PAYLOAD if absent).
  headers['x-amz-content-sha256'] = headerValue(request.headers['x-amz-content-sha256']) || 'UNSIGNED-PAYLOAD'
  const signer = new SignatureV4({
    credentials: { accessKeyId: auth.accessKey, secretAccessKey: secret },
    region: auth.region,
    service: auth.service,
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false
  })
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      path,
      query: queryOf(queryAt < 0 ? '' : request.url.slice(queryAt + 1)),
      headers
    },
    {
      signingDate,
      signableHeaders: new Set(auth.signedHeaders),
      unsignableHeaders: new Set(
        auth.signedHeaders.includes('x-amz-content-sha256') ? [] : ['x-amz-content-sha256']
      )
    }
  )
  const authorization = String(signed.headers.authorization ?? signed.headers.Authorization ?? '')
  return /Signature=([0-9a-f]+)/.exec(authorization)?.[1] ?? ''
}

/** Checks a request against the one account the store knows; the answer S3 would give when it fails. */
export async function verifyRequest(
  request: SignedRequest,
  accounts: ReadonlyMap<string, string>,
  now = Date.now()
): Promise<Verdict> {
  const header = headerValue(request.headers.authorization)
  if (!header)
    return { ok: false, status: 403, code: 'AccessDenied', message: 'Anonymous access is not allowed.' }
  const auth = parseAuthorization(header)
  if (!auth) {
    return {
      ok: false,
      status: 400,
      code: 'AuthorizationHeaderMalformed',
      message: 'The authorization header is malformed.'
    }
  }
  const secret = accounts.get(auth.accessKey)
  if (secret === undefined) {
    return {
      ok: false,
      status: 403,
      code: 'InvalidAccessKeyId',
      message: 'The AWS Access Key Id you provided does not exist in our records.',
      accessKey: auth.accessKey
    }
  }
  const signingDate = amzDateOf(headerValue(request.headers['x-amz-date']))
  if (signingDate === undefined || Math.abs(now - signingDate.getTime()) > 15 * 60_000) {
    return {
      ok: false,
      status: 403,
      code: 'RequestTimeTooSkewed',
      message: 'The difference between the request time and the current time is too large.'
    }
  }
  const expected = Buffer.from(await expectedSignature(request, auth, secret, signingDate))
  const given = Buffer.from(auth.signature)
  if (
    expected.length !== given.length ||
    !timingSafeEqual(expected, given) ||
    !auth.signedHeaders.includes('host')
  ) {
    return {
      ok: false,
      status: 403,
      code: 'SignatureDoesNotMatch',
      message:
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      accessKey: auth.accessKey
    }
  }
  return { ok: true, accessKey: auth.accessKey }
}
