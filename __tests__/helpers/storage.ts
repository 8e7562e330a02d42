/** Storage test helpers: the emulator's storage (s3rver behind the auth proxy), workspaces on disk, signals. */
import { randomBytes } from 'node:crypto'
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { startEmulatedStorage, type EmulatedStorage } from '../../emulator/storage/emulated-storage.js'
import { createObjectStore, type S3ObjectStore, type S3StoreOptions } from '../../src/storage/s3.js'
import { listAllObjects, readObjectText, type ObjectStore } from '../../src/storage/store.js'

export const EMAIL = 'tester@example.com'
export const never = new AbortController().signal

const temporary: string[] = []

export function tempDir(label = 'storage-test'): string {
  const dir = mkdtempSync(join(tmpdir(), `${label}-`))
  temporary.push(dir)
  return dir
}

export function removeTempDirs(): void {
  for (const dir of temporary.splice(0)) rmSync(dir, { recursive: true, force: true })
}

export async function startStorage(latencyMs = 0): Promise<EmulatedStorage> {
  return startEmulatedStorage({ email: EMAIL, token: `token-${randomBytes(8).toString('hex')}`, latencyMs })
}

/** The action's store, signed with the account's credentials as the action signs (options override). */
export function clientStore(
  storage: EmulatedStorage,
  overrides: Partial<S3StoreOptions> = {}
): S3ObjectStore {
  const { endpoint, accessKey, secret } = storage.credentials
  return createObjectStore({ endpoint, email: accessKey, token: secret, ...overrides })
}

/**
 * The action's store with the emulated platform's credentials: requests neither counted nor faulted as a client's,
 * for setting up and inspecting buckets around a test.
 */
export function internalStore(storage: EmulatedStorage): S3ObjectStore {
  const { endpoint, accessKey, secret } = storage.platformCredentials
  return createObjectStore({ endpoint, email: accessKey, token: secret })
}

/** Writes files (relative path -> content) under `root`. */
export function writeFiles(root: string, files: Record<string, string | Buffer>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
  }
}

export function workspace(files: Record<string, string | Buffer> = {}): string {
  const root = tempDir('workspace')
  writeFiles(root, files)
  return root
}

/** Random bytes, written 1 MiB at a time (tests compare with the file, not with a seed). */
export async function writeBigFile(path: string, size: number): Promise<void> {
  mkdirSync(dirname(path), { recursive: true })
  const out = createWriteStream(path)
  for (let written = 0; written < size;) {
    const chunk = randomBytes(Math.min(1024 * 1024, size - written))
    written += chunk.length
    if (!out.write(chunk)) await new Promise<void>(resolve => out.once('drain', () => resolve()))
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve()))
  )
}

/** Every key of a bucket under a prefix. */
export async function keys(store: ObjectStore, bucket: string, prefix = ''): Promise<string[]> {
  return (await listAllObjects(store, bucket, prefix, never)).map(o => o.key).sort()
}

/** path -> content of every object under a prefix, the prefix stripped. */
export async function contents(
  store: ObjectStore,
  bucket: string,
  prefix: string
): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const object of await listAllObjects(store, bucket, prefix, never)) {
    out[object.key.slice(prefix.length)] = await readObjectText(store, bucket, object.key, never)
  }
  return out
}

/**
 * Objects written straight into s3rver's folder (its `<key>._S3rver_object` files), for listings of thousands of
 * objects without thousands of requests.
 */
export function seedObjects(storage: EmulatedStorage, bucket: string, objects: Record<string, string>): void {
  for (const [key, body] of Object.entries(objects)) {
    const path = join(storage.directory, bucket, `${key}._S3rver_object`)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, body)
  }
}

/** Makes an object look `ageMs` old (s3rver gives a file's mtime as LastModified). */
export function age(storage: EmulatedStorage, bucket: string, key: string, ageMs: number): void {
  const when = new Date(Date.now() - ageMs)
  utimesSync(join(storage.directory, bucket, `${key}._S3rver_object`), when, when)
}
