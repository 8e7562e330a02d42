/**
 * What Qarnot's storage, Ceph RGW, answers where s3rver answers otherwise (docs/qarnot-api.md "Storage is Ceph
 * RGW"; docs/emulator.md "Storage"): CreateBucket on one's own bucket succeeds, ListObjectVersions and
 * ListMultipartUploads work, a multipart object's ETag is `"<md5 of the parts' md5s>-N"`, bucket names follow S3's
 * rules, and the account's storage quotas hold. Read from s3rver's folder (its layout: a folder per bucket,
 * `<key>._S3rver_object` beside `<key>._S3rver_object.md5`, uploads under `<bucket>/._S3rver_uploads/<id>/`).
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const OBJECT_SUFFIX = '._S3rver_object'
const UPLOADS = '._S3rver_uploads'

/** S3's bucket name rule: 3 to 63 lowercase letters, digits, dots, hyphens; alphanumeric ends; not an IP. */
export function isValidBucketName(name: string): boolean {
  return (
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) &&
    !/^\d{1,3}(\.\d{1,3}){3}$/.test(name) &&
    !name.includes('..')
  )
}

export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    c => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`
  )
}

/** The buckets in s3rver's folder. */
export function bucketsIn(directory: string): string[] {
  try {
    return readdirSync(directory, { withFileTypes: true })
      .filter(entry => entry.isDirectory())
      .map(entry => entry.name)
  } catch {
    return []
  }
}

export function bucketExists(directory: string, bucket: string): boolean {
  return isValidBucketName(bucket) && bucketsIn(directory).includes(bucket)
}

function objectPath(directory: string, bucket: string, key: string): string {
  return join(directory, bucket, ...`${key}${OBJECT_SUFFIX}`.split('/'))
}

/** The size of an object (0 when there is none). */
export function objectSize(directory: string, bucket: string, key: string): number {
  try {
    return statSync(objectPath(directory, bucket, key)).size
  } catch {
    return 0
  }
}

/** The bytes every object of every bucket holds (uploads in progress not counted, as RGW counts). */
export function usedBytes(directory: string): number {
  let total = 0
  for (const bucket of bucketsIn(directory)) {
    const entries = readdirSync(join(directory, bucket), { recursive: true, withFileTypes: true })
    for (const entry of entries) {
      if (entry.isFile() && entry.name.endsWith(OBJECT_SUFFIX))
        total += statSync(join(entry.parentPath, entry.name)).size
    }
  }
  return total
}

export interface UploadInProgress {
  readonly key: string
  readonly uploadId: string
  readonly initiated: Date
}

/** The multipart uploads begun in a bucket and neither completed nor aborted, by key then start. */
export function uploadsIn(directory: string, bucket: string): UploadInProgress[] {
  const folder = join(directory, bucket, UPLOADS)
  let ids: string[]
  try {
    ids = readdirSync(folder)
  } catch {
    return []
  }
  const uploads = ids.flatMap(uploadId => {
    try {
      const key = readFileSync(join(folder, uploadId, 'key'), 'utf8')
      return [{ key, uploadId, initiated: statSync(join(folder, uploadId)).birthtime }]
    } catch {
      return []
    }
  })
  return uploads.sort((a, b) =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated.getTime() - b.initiated.getTime()
  )
}

/** Aborts an upload in progress (s3rver has no AbortMultipartUpload); false when there is no such upload. */
export function abortUpload(directory: string, bucket: string, key: string, uploadId: string): boolean {
  if (!/^[A-Za-z0-9._-]+$/.test(uploadId) || uploadId.startsWith('.')) return false
  const folder = join(directory, bucket, UPLOADS, uploadId)
  try {
    if (readFileSync(join(folder, 'key'), 'utf8') !== key) return false
  } catch {
    return false
  }
  rmSync(folder, { recursive: true, force: true })
  return true
}

/** ListMultipartUploads' answer (every upload at once: `MaxUploads` 1000, never truncated). */
export function uploadsXml(bucket: string, prefix: string, uploads: readonly UploadInProgress[]): string {
  const owner = '<ID>emulator</ID><DisplayName>emulator</DisplayName>'
  const entries = uploads
    .filter(u => u.key.startsWith(prefix))
    .map(
      u =>
        `<Upload><Key>${escapeXml(u.key)}</Key><UploadId>${escapeXml(u.uploadId)}</UploadId>` +
        `<Initiator>${owner}</Initiator><Owner>${owner}</Owner><StorageClass>STANDARD</StorageClass>` +
        `<Initiated>${u.initiated.toISOString()}</Initiated></Upload>`
    )
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Bucket>${escapeXml(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>` +
    `<NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker>` +
    `<Prefix>${escapeXml(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
    `${entries.join('')}</ListMultipartUploadsResult>`
  )
}

/** The part numbers a CompleteMultipartUpload body lists. */
export function partNumbersOf(xml: string): number[] {
  return [...xml.matchAll(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/g)].map(m => Number(m[1]))
}

/**
 * What completing `uploadId` with these parts will make: its size and its S3 multipart ETag (the md5 of the
 * parts' binary md5s, `-` the number of parts); undefined when a part is missing (s3rver then refuses).
 */
export function multipartOutcome(
  directory: string,
  bucket: string,
  uploadId: string,
  parts: readonly number[]
): { size: number; etag: string } | undefined {
  if (!/^[A-Za-z0-9._-]+$/.test(uploadId) || uploadId.startsWith('.') || parts.length === 0) return undefined
  const folder = join(directory, bucket, UPLOADS, uploadId)
  const md5 = createHash('md5')
  let size = 0
  try {
    for (const part of parts) {
      md5.update(Buffer.from(readFileSync(join(folder, `${part}.md5`), 'utf8').trim(), 'hex'))
      size += statSync(join(folder, String(part))).size
    }
  } catch {
    return undefined
  }
  return { size, etag: `${md5.digest('hex')}-${parts.length}` }
}

/** Gives a completed object its multipart ETag, where s3rver keeps it (the `.md5` file beside the object). */
export function setObjectEtag(directory: string, bucket: string, key: string, etag: string): void {
  writeFileSync(`${objectPath(directory, bucket, key)}.md5`, etag)
}

/** A ListObjectVersions request as the V1 listing to ask s3rver for, or undefined for any other request. */
export function versionsQuery(method: string, path: string, query: string): string | undefined {
  if (method !== 'GET' || !/^\/[^/]+\/?$/.test(path)) return undefined
  const params = new URLSearchParams(query)
  if (!params.has('versions')) return undefined
  const marker = params.get('key-marker')
  for (const name of ['versions', 'key-marker', 'version-id-marker']) params.delete(name)
  if (marker) params.set('marker', marker)
  return params.toString().replace(/\+/g, '%20')
}

/** s3rver's V1 listing as ListObjectVersions answers an unversioned bucket: each object one `null` version. */
export function asVersionsAnswer(xml: string): string {
  const truncated = /<IsTruncated>true<\/IsTruncated>/.test(xml)
  const keys = [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map(m => m[1])
  const nextMarker = /<NextMarker>([^<]*)<\/NextMarker>/.exec(xml)?.[1] ?? keys.at(-1)
  let out = xml
    .replace(/<ListBucketResult([^>]*)>/, '<ListVersionsResult$1>')
    .replace('</ListBucketResult>', '</ListVersionsResult>')
    .replace(/<Marker>([^<]*)<\/Marker>/, '<KeyMarker>$1</KeyMarker><VersionIdMarker></VersionIdMarker>')
    .replace(/<NextMarker>[^<]*<\/NextMarker>/, '')
    .replace(
      /<Contents>\s*<Key>([^<]*)<\/Key>/g,
      '<Version><Key>$1</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>'
    )
    .replace(/<\/Contents>/g, '</Version>')
  if (truncated && nextMarker !== undefined) {
    out = out.replace(
      '</ListVersionsResult>',
      `<NextKeyMarker>${nextMarker}</NextKeyMarker><NextVersionIdMarker>null</NextVersionIdMarker></ListVersionsResult>`
    )
  }
  return out
}
