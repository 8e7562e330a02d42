export const id = 279;
export const ids = [279];
export const modules = {

/***/ 9279:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   createObjectStore: () => (/* binding */ createObjectStore)
/* harmony export */ });
/* unused harmony exports createS3Client, S3ObjectStore */
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(1455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_http__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(7067);
/* harmony import */ var node_http__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_http__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_https__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(4708);
/* harmony import */ var node_https__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__webpack_require__.n(node_https__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(7075);
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_4___default = /*#__PURE__*/__webpack_require__.n(node_stream__WEBPACK_IMPORTED_MODULE_4__);
/* harmony import */ var _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(3711);
/* harmony import */ var _smithy_node_http_handler__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(1279);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(4910);
/**
 * The only module that loads the AWS SDK (docs/storage.md, "Client"). It is imported lazily (`await import`), so
 * the bundler puts it in a chunk of its own and a run without files never loads it. Qarnot's storage speaks S3:
 * access key = the account's email, secret = the API token, path-style URLs, checksums only when an operation
 * requires one (S3-compatible stores refuse the SDK's default trailers).
 */








function bodyLength(body) {
    if (typeof body === 'string')
        return Buffer.byteLength(body);
    if (body instanceof Uint8Array)
        return body.byteLength;
    return 0;
}
/** Counts every attempt (retries included) and the payload bytes it carries each way. */
class CountingHandler extends _smithy_node_http_handler__WEBPACK_IMPORTED_MODULE_6__.NodeHttpHandler {
    counters;
    constructor(options, counters) {
        super(options);
        this.counters = counters;
    }
    async handle(request, options = {}) {
        // A request whose operation was aborted meanwhile is refused by the handler before it is sent: not counted.
        if (options.abortSignal?.aborted)
            return super.handle(request, options);
        this.counters.requests++;
        this.counters.bytesSent += bodyLength(request.body);
        const result = await super.handle(request, options);
        const length = Number(result.response.headers['content-length'] ?? 0);
        if (request.method === 'GET' && Number.isFinite(length))
            this.counters.bytesReceived += length;
        return result;
    }
}
const MiB = 1024 * 1024;
function createS3Client(options, counters) {
    const maxSockets = options.maxSockets ?? 64;
    return new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .S3Client */ .YxF({
        endpoint: options.endpoint,
        region: options.region ?? 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: options.email, secretAccessKey: options.token },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: 4,
        requestHandler: new CountingHandler({
            httpAgent: new node_http__WEBPACK_IMPORTED_MODULE_2__.Agent({ keepAlive: true, maxSockets }),
            httpsAgent: new node_https__WEBPACK_IMPORTED_MODULE_3__.Agent({ keepAlive: true, maxSockets }),
            connectionTimeout: 10_000,
            requestTimeout: 120_000
        }, counters)
    });
}
/** Any SDK failure as a StoreError with S3's code; aborts stay aborts. */
function storeError(error, what) {
    if ((0,_errors_js__WEBPACK_IMPORTED_MODULE_5__/* .isAbort */ .rV)(error))
        return error;
    const e = error;
    const status = e.$metadata?.httpStatusCode;
    const code = e.Code ?? (e.name && e.name !== 'Error' ? e.name : status ? `Http${status}` : 'NetworkError');
    return new _errors_js__WEBPACK_IMPORTED_MODULE_5__/* .StoreError */ .AD(code, status, `${what}: ${code}${e.message ? ` (${e.message})` : ''}`, {
        cause: error
    });
}
/** `bucket/key` as x-amz-copy-source wants it: every segment URL-encoded. */
function copySource(bucket, key) {
    return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
/** Reads `length` bytes at `position` into the start of `buffer`; a file that got shorter is an error. */
async function readExactly(file, buffer, length, position, path) {
    for (let filled = 0; filled < length;) {
        const { bytesRead } = await file.read(buffer, filled, length - filled, position + filled);
        if (bytesRead === 0) {
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_5__/* .StoreError */ .AD('FileChanged', undefined, `${path} got shorter while it was being sent; run the step again`);
        }
        filled += bytesRead;
    }
    return buffer.subarray(0, length);
}
function checkDigest(expected, actual, path) {
    if (expected && expected !== actual) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_5__/* .StoreError */ .AD('FileChanged', undefined, `${path} changed while it was being sent; run the step again`);
    }
}
class S3ObjectStore {
    options;
    counters = { requests: 0, bytesSent: 0, bytesReceived: 0 };
    client;
    partSize;
    partsInFlight;
    constructor(options) {
        this.options = options;
        this.client = createS3Client(options, this.counters);
        this.partSize = Math.max(options.partSize ?? 8 * MiB, 5 * MiB);
        this.partsInFlight = options.partsInFlight ?? 4;
    }
    get endpoint() {
        return this.options.endpoint;
    }
    uploadMemory(size) {
        return size <= this.partSize ? size : this.partSizeFor(size) * this.partsInFlight;
    }
    partSizeFor(size) {
        return Math.max(this.partSize, Math.ceil(size / 9000));
    }
    async send(what, signal, run) {
        if (signal.aborted)
            throw (0,_errors_js__WEBPACK_IMPORTED_MODULE_5__/* .abortReason */ .Js)(signal);
        try {
            return await run();
        }
        catch (error) {
            throw signal.aborted ? (0,_errors_js__WEBPACK_IMPORTED_MODULE_5__/* .abortReason */ .Js)(signal) : storeError(error, what);
        }
    }
    async listBuckets(signal) {
        const out = await this.send('list buckets', signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .ListBucketsCommand */ .$Lo({}), { abortSignal: signal }));
        return (out.Buckets ?? []).map(b => ({ name: b.Name ?? '', created: b.CreationDate ?? new Date(0) }));
    }
    async headBucket(bucket, signal) {
        try {
            await this.send(`bucket ${bucket}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .HeadBucketCommand */ .kuI({ Bucket: bucket }), { abortSignal: signal }));
            return 'exists';
        }
        catch (error) {
            if (error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_5__/* .StoreError */ .AD && error.status === 404)
                return 'missing';
            if (error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_5__/* .StoreError */ .AD && error.status === 403)
                return 'forbidden';
            throw error;
        }
    }
    async createBucket(bucket, signal) {
        await this.send(`create bucket ${bucket}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .CreateBucketCommand */ .cZX({ Bucket: bucket }), { abortSignal: signal }));
    }
    async deleteBucket(bucket, signal) {
        await this.send(`delete bucket ${bucket}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .DeleteBucketCommand */ .H19({ Bucket: bucket }), { abortSignal: signal }));
    }
    async headObject(bucket, key, signal) {
        try {
            const out = await this.send(`${bucket}/${key}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .HeadObjectCommand */ .l81({ Bucket: bucket, Key: key }), { abortSignal: signal }));
            return { key, size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0) };
        }
        catch (error) {
            if (error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_5__/* .StoreError */ .AD && error.status === 404)
                return undefined;
            throw error;
        }
    }
    async putObject(bucket, key, body, signal) {
        await this.send(`put ${bucket}/${key}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .PutObjectCommand */ .wKZ({ Bucket: bucket, Key: key, Body: body, ContentLength: bodyLength(body) }), { abortSignal: signal }));
    }
    async uploadFile(bucket, key, source, signal) {
        if (source.size <= this.partSize) {
            const body = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.readFile)(source.path, { signal });
            checkDigest(source.sha256, (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)('sha256').update(body).digest('hex'), source.path);
            return this.putObject(bucket, key, body, signal);
        }
        const created = await this.send(`upload ${bucket}/${key}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .CreateMultipartUploadCommand */ .nG4({ Bucket: bucket, Key: key }), {
            abortSignal: signal
        }));
        const uploadId = created.UploadId ?? '';
        try {
            const parts = await this.sendParts(bucket, key, uploadId, source, signal);
            await this.send(`complete ${bucket}/${key}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .CompleteMultipartUploadCommand */ .Gym({
                Bucket: bucket,
                Key: key,
                UploadId: uploadId,
                MultipartUpload: { Parts: parts }
            }), { abortSignal: signal }));
        }
        catch (error) {
            this.forgetUpload(bucket, key, uploadId);
            throw error;
        }
    }
    /**
     * Reads the file once, in order, into `partsInFlight` buffers that are reused part after part (no garbage, so
     * memory stays flat whatever the file's size), hashing as it reads, and sends the parts side by side. Nothing
     * becomes visible unless the bytes have the expected sha256: the caller completes the upload only then.
     */
    async sendParts(bucket, key, uploadId, source, signal) {
        const partSize = this.partSizeFor(source.size);
        const count = Math.ceil(source.size / partSize);
        const slots = Array.from({ length: Math.min(this.partsInFlight, count) }, () => Buffer.allocUnsafe(partSize));
        const inFlight = slots.map(() => Promise.resolve());
        const parts = [];
        const controller = new AbortController();
        const partSignal = AbortSignal.any([signal, controller.signal]);
        let failure;
        const hash = (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)('sha256');
        const file = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.open)(source.path, 'r');
        try {
            for (let index = 0; index < count && !failure; index++) {
                const slot = index % slots.length;
                await inFlight[slot];
                if (failure)
                    break;
                const length = Math.min(partSize, source.size - index * partSize);
                const body = await readExactly(file, slots[slot], length, index * partSize, source.path);
                hash.update(body);
                inFlight[slot] = this.send(`part ${index + 1} of ${bucket}/${key}`, partSignal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .UploadPartCommand */ .iVK({
                    Bucket: bucket,
                    Key: key,
                    UploadId: uploadId,
                    PartNumber: index + 1,
                    Body: body,
                    ContentLength: length
                }), { abortSignal: partSignal })).then(out => void (parts[index] = { PartNumber: index + 1, ETag: out.ETag ?? '' }), (error) => {
                    failure ??= { error };
                    controller.abort(error);
                });
            }
            await Promise.all(inFlight);
        }
        finally {
            await file.close();
        }
        if (failure)
            throw failure.error;
        checkDigest(source.sha256, hash.digest('hex'), source.path);
        return parts;
    }
    /** Best effort, with its own short deadline: drop the parts of a multipart upload that will never complete. */
    forgetUpload(bucket, key, uploadId) {
        if (!uploadId)
            return;
        this.client
            .send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .AbortMultipartUploadCommand */ .tfP({ Bucket: bucket, Key: key, UploadId: uploadId }), {
            abortSignal: AbortSignal.timeout(3000)
        })
            .catch(() => undefined);
    }
    async copyObject(bucket, sourceKey, key, signal) {
        await this.send(`copy ${bucket}/${sourceKey} to ${key}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .CopyObjectCommand */ .s9Z({ Bucket: bucket, Key: key, CopySource: copySource(bucket, sourceKey) }), {
            abortSignal: signal
        }));
    }
    async listPage(bucket, prefix, from, signal) {
        const out = await this.send(`list ${bucket}/${prefix}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .ListObjectsV2Command */ .u6x({
            Bucket: bucket,
            Prefix: prefix || undefined,
            ContinuationToken: from.continuationToken,
            StartAfter: from.continuationToken ? undefined : from.startAfter,
            MaxKeys: 1000
        }), { abortSignal: signal }));
        const objects = (out.Contents ?? []).map(o => ({
            key: o.Key ?? '',
            size: o.Size ?? 0,
            lastModified: o.LastModified ?? new Date(0)
        }));
        if (!out.IsTruncated || objects.length === 0)
            return { objects };
        const next = out.NextContinuationToken
            ? { continuationToken: out.NextContinuationToken }
            : { startAfter: objects[objects.length - 1].key };
        return { objects, next };
    }
    async getObjectStream(bucket, key, signal, range) {
        const out = await this.send(`get ${bucket}/${key}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .GetObjectCommand */ .jLs({
            Bucket: bucket,
            Key: key,
            Range: range && `bytes=${range.start}-${range.end}`
        }), { abortSignal: signal }));
        const body = out.Body instanceof node_stream__WEBPACK_IMPORTED_MODULE_4__.Readable ? out.Body : node_stream__WEBPACK_IMPORTED_MODULE_4__.Readable.from([]);
        return { body, size: out.ContentLength ?? 0 };
    }
    async deleteObjects(bucket, keys, signal) {
        if (keys.length === 0)
            return [];
        const out = await this.send(`delete ${keys.length} objects in ${bucket}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .DeleteObjectsCommand */ .xvx({
            Bucket: bucket,
            Delete: { Objects: keys.map(Key => ({ Key })), Quiet: true }
        }), { abortSignal: signal }));
        return (out.Errors ?? []).filter(e => e.Code !== 'NoSuchKey').map(e => e.Key ?? '');
    }
    async listMultipartUploads(bucket, signal) {
        try {
            const out = await this.send(`list uploads in ${bucket}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .ListMultipartUploadsCommand */ .mo2({ Bucket: bucket }), { abortSignal: signal }));
            return (out.Uploads ?? []).map(u => ({
                key: u.Key ?? '',
                uploadId: u.UploadId ?? '',
                initiated: u.Initiated ?? new Date()
            }));
        }
        catch (error) {
            if (error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_5__/* .StoreError */ .AD && [405, 501].includes(error.status ?? 0))
                return [];
            if (error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_5__/* .StoreError */ .AD && error.code === 'NotImplemented')
                return [];
            throw error;
        }
    }
    async abortMultipartUpload(bucket, key, uploadId, signal) {
        await this.send(`abort upload of ${bucket}/${key}`, signal, () => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_7__/* .AbortMultipartUploadCommand */ .tfP({ Bucket: bucket, Key: key, UploadId: uploadId }), {
            abortSignal: signal
        }));
    }
    /** Closes the kept-alive connections. */
    destroy() {
        this.client.destroy();
    }
}
function createObjectStore(options) {
    return new S3ObjectStore(options);
}


/***/ })

};
