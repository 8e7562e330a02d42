/** Names the S3 operation of a request from its method, path, query and headers (for counters and faults). */

export interface StorageRequestInfo {
  readonly method: string
  readonly bucket: string | undefined
  readonly key: string | undefined
  readonly operation: string
}

export function describeRequest(
  method: string,
  url: string,
  headers: Record<string, string | string[] | undefined>
): StorageRequestInfo {
  const queryAt = url.indexOf('?')
  const path = queryAt < 0 ? url : url.slice(0, queryAt)
  const query = new URLSearchParams(queryAt < 0 ? '' : url.slice(queryAt + 1))
  const segments = path.split('/').slice(1)
  const bucket = segments[0] ? decodeURIComponent(segments[0]) : undefined
  const rest = segments.slice(1).join('/')
  const key = rest ? decodeURIComponent(rest) : undefined
  return { method, bucket, key, operation: operationOf(method, bucket, key, query, headers) }
}

function operationOf(
  method: string,
  bucket: string | undefined,
  key: string | undefined,
  query: URLSearchParams,
  headers: Record<string, string | string[] | undefined>
): string {
  if (!bucket) return method === 'GET' ? 'ListBuckets' : `${method} /`
  if (key === undefined) {
    if (method === 'GET') {
      if (query.has('uploads')) return 'ListMultipartUploads'
      return query.has('versions') ? 'ListObjectVersions' : 'ListObjects'
    }
    if (method === 'POST' && query.has('delete')) return 'DeleteObjects'
    return { HEAD: 'HeadBucket', PUT: 'CreateBucket', DELETE: 'DeleteBucket' }[method] ?? `${method} bucket`
  }
  if (method === 'PUT') {
    if (query.has('uploadId')) return 'UploadPart'
    return headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject'
  }
  if (method === 'POST') return query.has('uploads') ? 'CreateMultipartUpload' : 'CompleteMultipartUpload'
  if (method === 'DELETE') return query.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject'
  return { HEAD: 'HeadObject', GET: 'GetObject' }[method] ?? `${method} object`
}
