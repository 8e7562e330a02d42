/**
 * The emulator's storage: s3rver (a real S3 server, in-process, on 127.0.0.1, in a temporary folder) behind a
 * small proxy that does what s3rver does not: it checks Qarnot's credentials (SigV4 with access key = the
 * account's email and secret = the API token), answers ListObjectsV2 (see list-v2.ts), takes each request body
 * whole before s3rver sees it (an aborted PUT leaves no partial object, as on S3), and adds what tests and
 * benchmarks need: a fixed latency per request, faults on demand, and counters by S3 operation.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import S3rver from 's3rver'
import { makePutsAtomic, type GuardedWrites } from './atomic-put.js'
import { asV1Listing, asV2Answer } from './list-v2.js'
import { describeRequest, type StorageRequestInfo } from './operations.js'
import {
  abortUpload,
  asVersionsAnswer,
  bucketExists,
  bucketsIn,
  isValidBucketName,
  multipartOutcome,
  objectSize,
  partNumbersOf,
  setObjectEtag,
  uploadsIn,
  uploadsXml,
  usedBytes,
  versionsQuery
} from './rgw.js'
import { SdkPlatformStore } from './sdk-store.js'
import { verifyRequest } from './sigv4.js'

export interface EmulatedStorageOptions {
  /** The account's email: the access key clients must sign with. */
  readonly email: string
  /** The account's API token: the secret key. */
  readonly token: string
  /** Added to every client request before it is served (e.g. 40 for the benchmark). */
  readonly latencyMs?: number
  readonly port?: number
  /** The account's storage quotas (GET /info's maxBucket and quotaBytesBucket); none when absent. */
  readonly quota?: StorageQuota
}

export interface StorageQuota {
  /** More buckets than this: CreateBucket answers 400 TooManyBuckets. */
  readonly maxBuckets?: number
  /** Objects of every bucket together above this: PutObject and CompleteMultipartUpload answer 403 QuotaExceeded. */
  readonly quotaBytes?: number
}

/** What the proxy does with a request itself (rgw.ts), or how it forwards it to s3rver. */
type Handling =
  { readonly answer: { status: number; code?: string; message?: string; xml?: string } } | Forwarding

interface Forwarding {
  readonly answer?: undefined
  /** The query s3rver is asked instead. */
  readonly upstreamQuery?: string
  /** Rewrites s3rver's 200 answer (XML). */
  readonly transform?: (xml: string) => string
  /** Bytes held against the quota until s3rver has answered. */
  readonly reserve?: number
}

export interface StorageFault {
  /** S3 operation name (`PutObject`, `UploadPart`, `CopyObject`, `ListObjects`, ...); any when absent. */
  readonly operation?: string
  readonly match?: (request: StorageRequestInfo) => boolean
  /** How many requests it hits (default: every one until cleared). */
  times?: number
  /**
   * `true`: it hits the emulated platform's own requests (instances' downloads and results uploads, through
   * internalStore()) instead of clients' ones.
   */
  readonly platform?: boolean
  /** `drop`: the connection is cut; `delay`: served `delayMs` late; `error`: answered `status` with `code`. */
  readonly action: 'drop' | 'delay' | 'error'
  readonly delayMs?: number
  readonly status?: number
  readonly code?: string
}

export interface LoggedRequest {
  readonly at: number
  readonly operation: string
  readonly bucket?: string
  readonly key?: string
  status?: number
  /** The client went away before the answer ended. */
  closedEarly?: boolean
}

const INTERNAL_KEY = 'qarnot-emulator-internal'
const S3RVER_CREDENTIAL = 'S3RVER'
const HOP_BY_HOP = ['connection', 'keep-alive', 'expect', 'transfer-encoding', 'host']

function errorXml(code: string, message: string): string {
  const escape = (s: string) =>
    s.replace(/[&<>]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] as string)
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escape(message)}</Message></Error>`
}

/**
 * S3 reads x-amz-copy-source URL-encoded (as clients send it); s3rver decodes it with decodeURI, which leaves
 * `%2B`, `%2C`, `%3D`... encoded, so a copy of `a+b.txt` would find no source. Decoded fully, then encoded so that
 * decodeURI gives the key back.
 */
function forS3rver(copySource: string): string {
  try {
    return encodeURI(decodeURIComponent(copySource))
  } catch {
    return copySource
  }
}

function sendError(
  response: ServerResponse,
  head: boolean,
  status: number,
  code: string,
  message: string
): void {
  const body = head ? '' : errorXml(code, message)
  response.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) })
  response.end(body)
}

async function readBody(request: IncomingMessage): Promise<Buffer[]> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return chunks
}

export class EmulatedStorage {
  latencyMs: number
  readonly faults: StorageFault[] = []
  readonly requests = new Map<string, number>()
  /** The emulated platform's own requests (internalStore()), by S3 operation: never in `requests` or `log`. */
  readonly platformRequests = new Map<string, number>()
  readonly log: LoggedRequest[] = []
  /** Request payload bytes received whole from clients (internal requests excluded). */
  bytesReceived = 0
  /** Response payload bytes sent to clients. */
  bytesSent = 0
  private readonly accounts: Map<string, string>
  private readonly internalSecret = randomBytes(16).toString('hex')
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 })
  private server: Server | undefined
  private s3rver: S3rver | undefined
  private upstreamPort = 0
  private stopping = false
  /** Requests handed to s3rver and not answered yet. */
  private readonly upstreams = new Set<Promise<void>>()
  private writes: GuardedWrites | undefined
  private baseUrl = ''

  constructor(
    readonly options: EmulatedStorageOptions,
    readonly directory: string
  ) {
    this.latencyMs = options.latencyMs ?? 0
    this.accounts = new Map([
      [options.email, options.token],
      [INTERNAL_KEY, this.internalSecret]
    ])
  }

  /** The storage URL, as `GET /settings` should give it. */
  get url(): string {
    return this.baseUrl
  }

  async start(): Promise<this> {
    this.s3rver = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: this.directory,
      vhostBuckets: false
    })
    this.writes = makePutsAtomic(this.s3rver.store)
    this.upstreamPort = (await this.s3rver.run()).port
    const server = createServer((request, response) => {
      this.handle(request, response).catch(error => {
        if (!response.headersSent) sendError(response, false, 500, 'InternalError', (error as Error).message)
        else response.destroy()
      })
    })
    server.keepAliveTimeout = 10_000
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.options.port ?? 0, '127.0.0.1', () => resolve())
    })
    this.server = server
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    return this
  }

  /**
   * Stops taking requests, lets s3rver finish the ones it has (at most 3 s: it would otherwise write into the
   * folder after it is removed), then removes everything.
   */
  async stop(): Promise<void> {
    this.stopping = true
    const server = this.server
    this.server = undefined
    if (server) {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
    await Promise.race([Promise.allSettled(this.upstreams), sleep(3000, undefined, { ref: false })])
    // A request the proxy let go of may still be writing in s3rver: none starts now, and these are waited for.
    await this.writes?.close(3000)
    this.agent.destroy()
    await this.s3rver?.close().catch(() => undefined)
    this.s3rver = undefined
    rmSync(this.directory, { recursive: true, force: true })
  }

  /** Requests clients made, for one S3 operation or all of them. */
  requestCount(operation?: string): number {
    if (operation !== undefined) return this.requests.get(operation) ?? 0
    let total = 0
    for (const count of this.requests.values()) total += count
    return total
  }

  /** Requests the emulated platform made (resources, results), for one S3 operation or all of them. */
  platformRequestCount(operation?: string): number {
    if (operation !== undefined) return this.platformRequests.get(operation) ?? 0
    let total = 0
    for (const count of this.platformRequests.values()) total += count
    return total
  }

  resetCounters(): void {
    this.requests.clear()
    this.platformRequests.clear()
    this.log.length = 0
    this.bytesReceived = 0
    this.bytesSent = 0
  }

  /** The account's storage credentials: access key = its email, secret = its API token (§8). */
  get credentials(): { readonly endpoint: string; readonly accessKey: string; readonly secret: string } {
    return { endpoint: this.url, accessKey: this.options.email, secret: this.options.token }
  }

  /**
   * The credentials of Qarnot's own machinery (instances fetching resources, uploading results): its requests
   * have no latency, are counted apart (`platformRequests`), and are hit only by faults marked `platform`.
   */
  get platformCredentials(): {
    readonly endpoint: string
    readonly accessKey: string
    readonly secret: string
  } {
    return { endpoint: this.url, accessKey: INTERNAL_KEY, secret: this.internalSecret }
  }

  /** A new client with the platform's credentials (platformCredentials); destroy() it when done. */
  internalStore(): SdkPlatformStore {
    return new SdkPlatformStore(this.url, INTERNAL_KEY, this.internalSecret)
  }

  private takeFault(info: StorageRequestInfo, platform: boolean): StorageFault | undefined {
    const fault = this.faults.find(
      f =>
        (f.times === undefined || f.times > 0) &&
        (f.platform ?? false) === platform &&
        (f.operation === undefined || f.operation === info.operation) &&
        (f.match === undefined || f.match(info))
    )
    if (fault && fault.times !== undefined) fault.times--
    return fault
  }

  /** Counts and logs a client's request; returns its log entry. */
  private record(info: StorageRequestInfo, response: ServerResponse): LoggedRequest {
    const entry: LoggedRequest = {
      at: Date.now(),
      operation: info.operation,
      bucket: info.bucket,
      key: info.key
    }
    this.log.push(entry)
    this.requests.set(info.operation, (this.requests.get(info.operation) ?? 0) + 1)
    response.on('finish', () => (entry.status = response.statusCode))
    response.on('close', () => {
      if (!response.writableFinished) entry.closedEarly = true
    })
    return entry
  }

  /**
   * The body is read whole first (store and forward): the proxy then notices a client that goes away, and a
   * request whose client is gone, or whose body never fully arrived, never reaches s3rver (no partial object).
   */
  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? 'GET'
    const url = request.url ?? '/'
    const info = describeRequest(method, url, request.headers)
    const verdict = await verifyRequest({ method, url, headers: request.headers }, this.accounts)
    const internal = verdict.ok && verdict.accessKey === INTERNAL_KEY
    if (internal)
      this.platformRequests.set(info.operation, (this.platformRequests.get(info.operation) ?? 0) + 1)
    else this.record(info, response)
    const body = await readBody(request).catch(() => undefined)
    if (!body || !request.complete) return
    if (!internal) {
      this.bytesReceived += body.reduce((n, c) => n + c.length, 0)
      if (this.latencyMs > 0) await sleep(this.latencyMs, undefined, { ref: false })
    }
    const fault = this.takeFault(info, internal)
    if (fault?.action === 'drop') return void request.socket.destroy()
    if (fault?.action === 'delay') await sleep(fault.delayMs ?? 1000, undefined, { ref: false })
    if (fault?.action === 'error') {
      return sendError(
        response,
        method === 'HEAD',
        fault.status ?? 503,
        fault.code ?? 'SlowDown',
        'Injected fault'
      )
    }
    if (!verdict.ok)
      return sendError(response, method === 'HEAD', verdict.status, verdict.code, verdict.message)
    // The payload hash the signature covers must be the body's (S3 checks it once the body is in).
    const claimed = request.headers['x-amz-content-sha256']
    if (typeof claimed === 'string' && /^[0-9a-f]{64}$/.test(claimed)) {
      const hash = createHash('sha256')
      for (const chunk of body) hash.update(chunk)
      if (hash.digest('hex') !== claimed) {
        const message = 'The provided x-amz-content-sha256 header does not match what was computed.'
        return sendError(response, method === 'HEAD', 400, 'XAmzContentSHA256Mismatch', message)
      }
    }
    if (!response.writable || response.closed || this.stopping) return
    const handling = this.rgw(info, request.url ?? '/', body)
    if (handling.answer) {
      const { status, code, message, xml } = handling.answer
      if (code) return sendError(response, method === 'HEAD', status, code, message ?? code)
      const text = method === 'HEAD' ? '' : (xml ?? '')
      response.writeHead(status, {
        'Content-Type': 'application/xml',
        'Content-Length': Buffer.byteLength(text),
        ...(info.operation === 'CreateBucket' ? { Location: `/${info.bucket}` } : {})
      })
      if (!internal) this.bytesSent += Buffer.byteLength(text)
      return void response.end(text)
    }
    this.forward(request, response, info, internal, body, handling)
  }

  /** Bytes the quota holds for writes s3rver has not answered yet. */
  private reservedBytes = 0

  /** The bytes the account's objects take (GET /info's usedQuotaBytesBucket). */
  usedBytes(): number {
    return usedBytes(this.directory)
  }

  /** How many buckets the account has. */
  bucketCount(): number {
    return bucketsIn(this.directory).length
  }

  /** Where Ceph RGW answers otherwise than s3rver (rgw.ts), and the quotas. */
  private rgw(info: StorageRequestInfo, url: string, body: Buffer[]): Handling {
    const queryAt = url.indexOf('?')
    const path = queryAt < 0 ? url : url.slice(0, queryAt)
    const query = queryAt < 0 ? '' : url.slice(queryAt + 1)
    const bucket = info.bucket ?? ''
    const quota = this.options.quota ?? {}
    const size = body.reduce((n, c) => n + c.length, 0)
    const noBucket = {
      answer: { status: 404, code: 'NoSuchBucket', message: 'The specified bucket does not exist.' }
    }
    const overQuota = (adding: number, replacing: number): boolean =>
      quota.quotaBytes !== undefined &&
      usedBytes(this.directory) + this.reservedBytes - replacing + adding > quota.quotaBytes
    const quotaExceeded = {
      answer: { status: 403, code: 'QuotaExceeded', message: 'The quota of the account is exceeded.' }
    }
    switch (info.operation) {
      case 'CreateBucket':
        if (!isValidBucketName(bucket))
          return {
            answer: { status: 400, code: 'InvalidBucketName', message: 'The specified bucket is not valid.' }
          }
        // RGW answers 200 to a create of one's own bucket (S3 in us-east-1 does too).
        if (bucketExists(this.directory, bucket)) return { answer: { status: 200 } }
        if (quota.maxBuckets !== undefined && bucketsIn(this.directory).length >= quota.maxBuckets) {
          const message = 'You have attempted to create more buckets than allowed.'
          return { answer: { status: 400, code: 'TooManyBuckets', message } }
        }
        return {}
      case 'ListObjectVersions':
        if (!bucketExists(this.directory, bucket)) return noBucket
        return { upstreamQuery: versionsQuery(info.method, path, query), transform: asVersionsAnswer }
      case 'ListMultipartUploads': {
        if (!bucketExists(this.directory, bucket)) return noBucket
        const prefix = new URLSearchParams(query).get('prefix') ?? ''
        return { answer: { status: 200, xml: uploadsXml(bucket, prefix, uploadsIn(this.directory, bucket)) } }
      }
      case 'AbortMultipartUpload': {
        const uploadId = new URLSearchParams(query).get('uploadId') ?? ''
        if (!bucketExists(this.directory, bucket)) return noBucket
        if (abortUpload(this.directory, bucket, info.key ?? '', uploadId)) return { answer: { status: 204 } }
        const message = 'The specified upload does not exist.'
        return { answer: { status: 404, code: 'NoSuchUpload', message } }
      }
      case 'PutObject':
        if (overQuota(size, objectSize(this.directory, bucket, info.key ?? ''))) return quotaExceeded
        return { reserve: quota.quotaBytes !== undefined ? size : 0 }
      case 'CompleteMultipartUpload': {
        const uploadId = new URLSearchParams(query).get('uploadId') ?? ''
        const outcome = multipartOutcome(
          this.directory,
          bucket,
          uploadId,
          partNumbersOf(Buffer.concat(body).toString('utf8'))
        )
        if (!outcome) return {}
        if (overQuota(outcome.size, objectSize(this.directory, bucket, info.key ?? ''))) return quotaExceeded
        const key = info.key ?? ''
        return {
          reserve: quota.quotaBytes !== undefined ? outcome.size : 0,
          // The multipart ETag, as S3 and RGW give it: written where s3rver keeps the object's.
          transform: xml => {
            setObjectEtag(this.directory, bucket, key, outcome.etag)
            return xml.replace(/<ETag>[^<]*<\/ETag>/, `<ETag>&quot;${outcome.etag}&quot;</ETag>`)
          }
        }
      }
      default:
        return {}
    }
  }

  private forward(
    request: IncomingMessage,
    response: ServerResponse,
    info: StorageRequestInfo,
    internal: boolean,
    body: Buffer[],
    handling: Forwarding
  ): void {
    const url = request.url ?? '/'
    const queryAt = url.indexOf('?')
    const path = queryAt < 0 ? url : url.slice(0, queryAt)
    const v2 = asV1Listing(info.method, path, queryAt < 0 ? '' : url.slice(queryAt + 1))
    const upstreamQuery = v2?.upstreamQuery ?? handling.upstreamQuery
    const transform = v2 ? (xml: string) => asV2Answer(xml, v2) : handling.transform
    const reserve = handling.reserve ?? 0
    this.reservedBytes += reserve
    const headers = { ...request.headers }
    for (const name of HOP_BY_HOP) delete headers[name]
    headers.authorization = String(headers.authorization).replace(
      /Credential=.*?\/(\d{8}\/[^/,]+\/[^/,]+\/aws4_request)/,
      `Credential=${S3RVER_CREDENTIAL}/$1`
    )
    headers['content-length'] = String(body.reduce((n, c) => n + c.length, 0))
    const copySource = headers['x-amz-copy-source']
    if (typeof copySource === 'string') headers['x-amz-copy-source'] = forS3rver(copySource)
    const upstream = httpRequest({
      host: '127.0.0.1',
      port: this.upstreamPort,
      method: info.method,
      path: upstreamQuery !== undefined ? `${path}?${upstreamQuery}` : url,
      headers,
      agent: this.agent
    })
    // A request handed to s3rver runs to its end even if the client goes away (as a server that has the whole
    // request would); s3rver is never cut in the middle of a write. The answer then goes nowhere.
    upstream.on('error', error => {
      if (!response.headersSent)
        sendError(response, info.method === 'HEAD', 502, 'InternalError', error.message)
      else response.destroy()
    })
    upstream.on('response', answer => {
      this.relay(answer, response, transform, internal).catch(() => response.destroy())
    })
    const done = new Promise<void>(resolve => {
      upstream.once('close', resolve)
      upstream.once('response', answer => answer.once('end', resolve).once('close', resolve))
    })
    this.upstreams.add(done)
    void done.then(() => {
      this.upstreams.delete(done)
      this.reservedBytes -= reserve
    })
    for (const chunk of body) upstream.write(chunk)
    upstream.end()
  }

  private async relay(
    answer: IncomingMessage,
    response: ServerResponse,
    transform: ((xml: string) => string) | undefined,
    internal: boolean
  ): Promise<void> {
    const headers = { ...answer.headers }
    for (const name of HOP_BY_HOP) delete headers[name]
    if (transform && answer.statusCode === 200) {
      const xml = transform(Buffer.concat(await readBody(answer)).toString('utf8'))
      if (response.destroyed || response.closed) return
      headers['content-length'] = String(Buffer.byteLength(xml))
      response.writeHead(200, headers)
      if (!internal) this.bytesSent += Buffer.byteLength(xml)
      return void response.end(xml)
    }
    if (response.destroyed || response.closed) return void answer.resume()
    response.writeHead(answer.statusCode ?? 502, headers)
    answer.on('data', (chunk: Buffer) => (this.bytesSent += internal ? 0 : chunk.length))
    answer.pipe(response)
    response.on('close', () => answer.resume())
  }
}

/** Starts s3rver and the proxy in front of it; `url` is what `GET /settings` should name as `storage`. */
export async function startEmulatedStorage(options: EmulatedStorageOptions): Promise<EmulatedStorage> {
  const directory = mkdtempSync(join(tmpdir(), 'qarnot-storage-'))
  try {
    return await new EmulatedStorage(options, directory).start()
  } catch (error) {
    rmSync(directory, { recursive: true, force: true })
    throw error
  }
}
