/**
 * AWS Signature Version 4 as S3 checks it (the Authorization header form): the emulator's storage recomputes the
 * signature with the account's secret and compares, because s3rver itself accepts any V4 signature.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

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

/** RFC 3986 encoding, as SigV4 wants for query names and values. */
function encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

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

export function canonicalQuery(query: string): string {
  if (!query) return ''
  return query
    .split('&')
    .filter(Boolean)
    .map(pair => {
      const at = pair.indexOf('=')
      const name = at < 0 ? pair : pair.slice(0, at)
      const value = at < 0 ? '' : pair.slice(at + 1)
      return [encode(decode(name)), encode(decode(value))]
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&')
}

function headerValue(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '')
  return text.trim().replace(/\s+/g, ' ')
}

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest()

/** The signature the request should carry if signed with `secret`. */
export function expectedSignature(request: SignedRequest, auth: Authorization, secret: string): string {
  const queryAt = request.url.indexOf('?')
  const path = queryAt < 0 ? request.url : request.url.slice(0, queryAt)
  const query = queryAt < 0 ? '' : request.url.slice(queryAt + 1)
  const amzDate = headerValue(request.headers['x-amz-date'])
  const canonical = [
    request.method,
    path,
    canonicalQuery(query),
    auth.signedHeaders.map(name => `${name}:${headerValue(request.headers[name])}\n`).join(''),
    auth.signedHeaders.join(';'),
    headerValue(request.headers['x-amz-content-sha256']) || 'UNSIGNED-PAYLOAD'
  ].join('\n')
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`
  const stringToSign = [ALGORITHM, amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join(
    '\n'
  )
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, auth.date), auth.region), auth.service), 'aws4_request')
  return createHmac('sha256', key).update(stringToSign).digest('hex')
}

/** Checks a request against the one account the store knows; the answer S3 would give when it fails. */
export function verifyRequest(
  request: SignedRequest,
  accounts: ReadonlyMap<string, string>,
  now = Date.now()
): Verdict {
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
  const amzDate = headerValue(request.headers['x-amz-date'])
  const at = Date.parse(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z')
  )
  if (!Number.isFinite(at) || Math.abs(now - at) > 15 * 60_000) {
    return {
      ok: false,
      status: 403,
      code: 'RequestTimeTooSkewed',
      message: 'The difference between the request time and the current time is too large.'
    }
  }
  const expected = Buffer.from(expectedSignature(request, auth, secret))
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
