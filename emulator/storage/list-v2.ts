/**
 * ListObjectsV2 in front of s3rver 3.7.1, whose V2 continuation tokens use DES, a cipher Node 17+ no longer
 * offers: any truncated V2 listing fails there with InternalError. The emulator asks s3rver for the V1 listing
 * (marker-based, which works) and answers in V2's shape with its own tokens.
 */

export interface V2Listing {
  /** The query to send s3rver instead (V1). */
  readonly upstreamQuery: string
  readonly continuationToken?: string
  readonly startAfter?: string
}

export function encodeToken(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url')
}

export function decodeToken(token: string): string {
  return Buffer.from(token, 'base64url').toString('utf8')
}

/** A V2 listing request turned into V1, or undefined for any other request. */
export function asV1Listing(method: string, path: string, query: string): V2Listing | undefined {
  if (method !== 'GET' || !/^\/[^/]+\/?$/.test(path)) return undefined
  const params = new URLSearchParams(query)
  if (params.get('list-type') !== '2') return undefined
  const continuationToken = params.get('continuation-token') ?? undefined
  const startAfter = params.get('start-after') ?? undefined
  const marker = continuationToken !== undefined ? decodeToken(continuationToken) : startAfter
  for (const name of ['list-type', 'continuation-token', 'start-after', 'fetch-owner']) params.delete(name)
  if (marker) params.set('marker', marker)
  return { upstreamQuery: params.toString().replace(/\+/g, '%20'), continuationToken, startAfter }
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

export function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (whole, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16))
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10))
    return ENTITIES[entity] ?? whole
  })
}

function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    c => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`
  )
}

/** s3rver's V1 answer with V2's KeyCount, ContinuationToken, StartAfter and NextContinuationToken added. */
export function asV2Answer(xml: string, listing: V2Listing): string {
  const keys = [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map(m => unescapeXml(m[1]))
  const prefixes = (xml.match(/<CommonPrefixes>/g) ?? []).length
  const truncated = /<IsTruncated>true<\/IsTruncated>/.test(xml)
  const nextMarker = /<NextMarker>([^<]*)<\/NextMarker>/.exec(xml)
  const last = nextMarker ? unescapeXml(nextMarker[1]) : keys[keys.length - 1]
  const added = [
    `<KeyCount>${keys.length + prefixes}</KeyCount>`,
    listing.continuationToken !== undefined
      ? `<ContinuationToken>${escapeXml(listing.continuationToken)}</ContinuationToken>`
      : '',
    listing.startAfter !== undefined ? `<StartAfter>${escapeXml(listing.startAfter)}</StartAfter>` : '',
    truncated && last !== undefined
      ? `<NextContinuationToken>${encodeToken(last)}</NextContinuationToken>`
      : ''
  ].join('')
  return xml.replace('</ListBucketResult>', `${added}</ListBucketResult>`)
}
