/**
 * The emulator's storage as a client of the real API meets it (docs/emulator.md, "Storage"; docs/qarnot-api.md
 * §3, §8): the URL from GET /settings and the email from GET /info, tasks whose instances find their resources in
 * TASK_PATH, results back in the results bucket, create-time refusals, failures, and nothing left after stop().
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import type { QarnotEmulator } from '../emulator/server.js'
import type { EmulatedStorage } from '../emulator/storage/emulated-storage.js'
import { checkStorage, createStore, storageEndpoint } from '../src/storage/connect.js'
import type { ObjectStore } from '../src/storage/store.js'
import type { S3ObjectStore } from '../src/storage/s3.js'
import { validate } from './contract/validate.js'
import {
  call,
  createTask,
  fastEmulator,
  helloBody,
  instanceStdout,
  waitForState
} from './helpers/emulator.js'
import { keys, never, clientStore } from './helpers/storage.js'

let emulator: QarnotEmulator | undefined
afterEach(async () => {
  await emulator?.stop()
  emulator = undefined
})

const TREE = 'trees/0123abcd/'

/** A resource bucket as the action stages one: a tree under a prefix, with neighbours that must not show. */
/** A fast emulator (closed after the test) whose storage holds the resource buckets, and a client of it. */
async function startWithResources(): Promise<{
  emulator: QarnotEmulator
  storage: EmulatedStorage
  store: S3ObjectStore
}> {
  const started = await fastEmulator()
  emulator = started
  const storage = await started.storage()
  const store = clientStore(storage)
  await seedResources(store)
  return { emulator: started, storage, store }
}

async function seedResources(store: ObjectStore): Promise<void> {
  await store.createBucket('res-a', never)
  await store.createBucket('res-b', never)
  const put = (bucket: string, key: string, body: string) => store.putObject(bucket, key, body, never)
  await Promise.all([
    put('res-a', `${TREE}src/main.py`, 'main from res-a'),
    put('res-a', `${TREE}data/in.csv`, 'a,b'),
    put('res-a', `${TREE}deep/a b/été+1.txt`, 'unicode'),
    put('res-a', 'trees/0123abcdef/leak.txt', 'a neighbour sharing the prefix string'),
    put('res-a', 'trees/other/src/main.py', 'another tree'),
    put('res-a', 'manifests/0123abcd.json', '{}'),
    put('res-a', 'complete/0123abcd', ''),
    put('res-b', 'src/main.py', 'main from res-b'),
    put('res-b', 'extra.txt', 'extra')
  ])
}

const TREE_BUCKET = {
  bucketName: 'res-a',
  filtering: { prefixFiltering: { prefix: TREE } },
  resourcesTransformation: { stripPrefix: { prefix: TREE } }
}

const command = (script: string) => [{ key: 'DOCKER_CMD', value: `sh -c '${script}'` }]

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

async function objectBytes(store: ObjectStore, bucket: string, key: string): Promise<Buffer> {
  const { body } = await store.getObjectStream(bucket, key, never)
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Reads the task until one of `states`, noting every state seen. */
async function statesUntil(
  uuid: string,
  final: string[]
): Promise<{ seen: string[]; task: Record<string, unknown> }> {
  const seen: string[] = []
  const deadline = Date.now() + 20_000
  for (;;) {
    const task = (await call(emulator as QarnotEmulator, 'GET', `/tasks/${uuid}`)).json() as Record<
      string,
      unknown
    >
    if (seen.at(-1) !== task.state) seen.push(task.state as string)
    if (final.includes(task.state as string)) return { seen, task }
    if (Date.now() > deadline) throw new Error(`task still ${String(task.state)}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

describe('storage as a client of the real API finds it', () => {
  it('GET /settings names it, GET /info gives the access key, the token is the secret; others are refused', async () => {
    emulator = await fastEmulator()
    expect(emulator.startedStorage).toBeUndefined() // started on first need
    const settings = (await call(emulator, 'GET', '/settings', undefined, null)).json() as { storage: string }
    const storage = emulator.startedStorage
    expect(settings.storage).toBe(storage?.url)
    expect(settings.storage).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const { email } = (await call(emulator, 'GET', '/info')).json() as { email: string }
    const endpoint = storageEndpoint(settings.storage)
    const store = await createStore({ endpoint, email, token: emulator.token })
    await expect(checkStorage(store, never)).resolves.toBeUndefined()
    const wrong = await createStore({ endpoint, email, token: 'not-the-token' })
    await expect(checkStorage(wrong, never)).rejects.toMatchObject({ reason: 'credentials' })
    await expect(wrong.createBucket('stolen', never)).rejects.toMatchObject({
      status: 403,
      code: 'SignatureDoesNotMatch'
    })
    const otherAccount = await createStore({ endpoint, email: 'someone@else.org', token: emulator.token })
    await expect(otherAccount.listBuckets(never)).rejects.toMatchObject({ code: 'InvalidAccessKeyId' })
    expect(storage?.requestCount('ListBuckets')).toBe(3)
    expect(storage?.requestCount('CreateBucket')).toBe(1)
    for (const s of [store, wrong, otherAccount]) s.destroy()
  })

  it('storage: false is a cluster without storage: settings say null, and no bucket can be named', async () => {
    emulator = await fastEmulator({ storage: false })
    expect((await call(emulator, 'GET', '/settings')).json()).toEqual({ storage: null })
    await expect(emulator.storage()).rejects.toThrow('no storage')
    const resources = await call(emulator, 'POST', '/tasks', helloBody({ resourceBuckets: ['res-a'] }))
    expect(resources.status).toBe(404)
    expect(resources.json()).toEqual({ message: 'No such bucket: res-a' })
    const results = await call(emulator, 'POST', '/tasks', helloBody({ resultBucket: 'out-1' }))
    expect(results.status).toBe(400)
    expect(results.json()).toEqual({ message: 'Invalid task file. Invalid fields: resultBucket' })
    // A task without buckets runs as ever, and the SDKs' empty lists and nulls name none.
    const uuid = await createTask(
      emulator,
      helloBody({ resourceBuckets: [], advancedResourceBuckets: [], resultBucket: null })
    )
    await waitForState(emulator, uuid, ['Success'])
  })
})

describe('creating a task that names buckets', () => {
  it('refuses a resource bucket that does not exist (404 No such bucket), makes the results bucket', async () => {
    const { emulator, store } = await startWithResources()
    const refused = await call(emulator, 'POST', '/tasks', helloBody({ resourceBuckets: ['nope-1'] }))
    expect(refused.status).toBe(404)
    expect(refused.json()).toEqual({ message: 'No such bucket: nope-1' })
    const second = await call(
      emulator,
      'POST',
      '/tasks',
      helloBody({
        advancedResourceBuckets: [TREE_BUCKET, { bucketName: 'nope-2' }],
        resultBucket: 'out-never'
      })
    )
    expect(second.json()).toEqual({ message: 'No such bucket: nope-2' })
    const badName = await call(emulator, 'POST', '/tasks', helloBody({ resourceBuckets: ['res-a/trees'] }))
    expect(badName.json()).toEqual({ message: 'No such bucket: res-a/trees' })
    expect(emulator.allTasks()).toHaveLength(0)
    expect(await store.headBucket('out-never', never)).toBe('missing')

    await createTask(emulator, helloBody({ resultBucket: 'made-at-create' }))
    expect(await store.headBucket('made-at-create', never)).toBe('exists')
    const invalid = await call(
      emulator,
      'POST',
      '/tasks',
      helloBody({
        resultBucket: 'Not_A_Bucket',
        resultsWhitelist: '(unclosed',
        resultsBlacklist: 'x'.repeat(2048)
      })
    )
    expect(invalid.json()).toEqual({
      message: 'Invalid task file. Invalid fields: resultsWhitelist, resultsBlacklist'
    })
    const badResults = await call(emulator, 'POST', '/tasks', helloBody({ resultBucket: 'Not_A_Bucket' }))
    expect(badResults.json()).toEqual({ message: 'Invalid task file. Invalid fields: resultBucket' })
    store.destroy()
  })

  it('shows the storage fields as sent, in a document valid against TaskOutput', async () => {
    const { emulator, store } = await startWithResources()
    const fields = {
      resourceBuckets: ['res-b'],
      advancedResourceBuckets: [TREE_BUCKET, { bucketName: 'res-b', cacheTTLSec: 60 }],
      resultBucket: 'out-fields',
      resultsWhitelist: '^out/${INSTANCE_ID}/',
      resultsBlacklist: '\\.tmp$',
      uploadResultsOnCancellation: true
    }
    const uuid = await createTask(emulator, helloBody({ instanceCount: 1, ...fields }))
    const task = await waitForState(emulator, uuid, ['Success'])
    expect(task).toMatchObject({ ...fields, errors: [], resultsCount: 0 })
    expect(validate('TaskOutput', task)).toEqual([])
    store.destroy()
  })
})

describe('instances: resources in TASK_PATH, results to the results bucket', () => {
  it('gives every instance exactly its tree at its paths, read from storage once for the task', async () => {
    const { emulator, storage, store } = await startWithResources()
    const uuid = await createTask(
      emulator,
      helloBody({
        instanceCount: 16,
        advancedResourceBuckets: [TREE_BUCKET],
        // An instance writing to a resource changes its own copy only.
        constants: command(
          'echo $INSTANCE_ID >> data/in.csv; [ "$PWD" = "$TASK_PATH" ] && find . -type f | sort; cat data/in.csv'
        )
      })
    )
    await waitForState(emulator, uuid, ['Success'], 20_000)
    for (let id = 0; id < 16; id++) {
      expect(await instanceStdout(emulator, uuid, id)).toBe(
        `./data/in.csv\n./deep/a b/été+1.txt\n./src/main.py\na,b${id}\n`
      )
    }
    // One listing and one download per file, for the 16 instances together.
    expect(storage.platformRequestCount('ListObjects')).toBe(1)
    expect(storage.platformRequestCount('GetObject')).toBe(3)
    store.destroy()
  })

  it('makes several buckets one tree, the bucket listed last winning', async () => {
    const { emulator, store } = await startWithResources()
    const show = command('find . -type f | sort; cat src/main.py')
    const lastWins = await createTask(
      emulator,
      helloBody({
        instanceCount: 1,
        advancedResourceBuckets: [TREE_BUCKET, { bucketName: 'res-b' }],
        constants: show
      })
    )
    const firstLoses = await createTask(
      emulator,
      helloBody({
        instanceCount: 1,
        advancedResourceBuckets: [{ bucketName: 'res-b' }, TREE_BUCKET],
        constants: show
      })
    )
    // resourceBuckets come before advancedResourceBuckets.
    const plain = await createTask(
      emulator,
      helloBody({
        instanceCount: 1,
        resourceBuckets: ['res-b'],
        advancedResourceBuckets: [TREE_BUCKET],
        constants: show
      })
    )
    for (const uuid of [lastWins, firstLoses, plain]) await waitForState(emulator, uuid, ['Success'])
    const files = './data/in.csv\n./deep/a b/été+1.txt\n./extra.txt\n./src/main.py\n'
    expect(await instanceStdout(emulator, lastWins, 0)).toBe(`${files}main from res-b`)
    expect(await instanceStdout(emulator, firstLoses, 0)).toBe(`${files}main from res-a`)
    expect(await instanceStdout(emulator, plain, 0)).toBe(`${files}main from res-a`)
    store.destroy()
  })

  it('brings results back byte for byte (20 MiB multipart too), filtered, before the task ends', async () => {
    const { emulator, storage, store } = await startWithResources()
    const uuid = await createTask(
      emulator,
      helloBody({
        instanceCount: 2,
        advancedResourceBuckets: [TREE_BUCKET],
        resultBucket: 'out-bytes',
        resultsWhitelist: '^(out/${INSTANCE_ID}/|data/|src/)',
        resultsBlacklist: '\\.tmp$',
        constants: command(
          [
            'mkdir -p out/$INSTANCE_ID',
            'head -c 20971520 /dev/urandom > out/$INSTANCE_ID/big.bin',
            'sha256sum out/$INSTANCE_ID/big.bin',
            'echo r$INSTANCE_ID > out/$INSTANCE_ID/small.txt',
            'echo t > out/$INSTANCE_ID/scratch.tmp',
            'echo l > log.txt',
            'printf changed > data/in.csv'
          ].join(' && ')
        )
      })
    )
    const { task } = await statesUntil(uuid, ['Success', 'Failure'])
    expect(task.state).toBe('Success')
    // Listed the moment the task is Success: every upload was done before.
    expect(await keys(store, 'out-bytes')).toEqual([
      'data/in.csv',
      'out/0/big.bin',
      'out/0/small.txt',
      'out/1/big.bin',
      'out/1/small.txt'
    ])
    for (const id of [0, 1]) {
      const [printed] = (await instanceStdout(emulator, uuid, id)).split(' ')
      const big = await objectBytes(store, 'out-bytes', `out/${id}/big.bin`)
      expect(big.length).toBe(20 * 1024 * 1024)
      expect(sha256(big)).toBe(printed)
      expect((await objectBytes(store, 'out-bytes', `out/${id}/small.txt`)).toString()).toBe(`r${id}\n`)
    }
    expect((await objectBytes(store, 'out-bytes', 'data/in.csv')).toString()).toBe('changed')
    expect(storage.platformRequestCount('CreateMultipartUpload')).toBe(2)
    expect(task.resultsCount).toBe(6) // data/in.csv twice: both instances changed it
    store.destroy()
  })

  it('stays UploadingResults (or DownloadingResults) until every upload is done; resultsBucketPrefix', async () => {
    emulator = await fastEmulator({ quirks: { legacyUploadingState: true } })
    const storage = await emulator.storage()
    storage.faults.push({ platform: true, operation: 'PutObject', action: 'delay', delayMs: 400 })
    const uuid = await createTask(
      emulator,
      helloBody({
        instanceCount: 1,
        resultBucket: 'out-slow',
        resultsBucketPrefix: 'run-1',
        constants: command('echo x > out.txt')
      })
    )
    const started = Date.now()
    const { seen } = await statesUntil(uuid, ['Success', 'Failure'])
    expect(seen.slice(-2)).toEqual(['DownloadingResults', 'Success'])
    expect(Date.now() - started).toBeGreaterThanOrEqual(400)
    const store = clientStore(storage)
    expect(await keys(store, 'out-slow')).toEqual(['run-1/out.txt'])
    store.destroy()
  })

  it('uploads what a failed instance wrote; a failed upload ends the task in Failure with an error, and the emulator goes on', async () => {
    emulator = await fastEmulator()
    const storage = await emulator.storage()
    const store = clientStore(storage)
    const failed = await createTask(
      emulator,
      helloBody({
        instanceCount: 1,
        resultBucket: 'out-failed',
        constants: command('echo why > crash.log; exit 3')
      })
    )
    expect((await waitForState(emulator, failed, ['Success', 'Failure'])).errors).toEqual([])
    expect(await keys(store, 'out-failed')).toEqual(['crash.log'])

    storage.faults.push({
      platform: true,
      operation: 'PutObject',
      action: 'error',
      status: 403,
      code: 'AccessDenied'
    })
    const refused = await createTask(
      emulator,
      helloBody({ instanceCount: 2, resultBucket: 'out-refused', constants: command('echo r > r.txt') })
    )
    const task = await waitForState(emulator, refused, ['Success', 'Failure'])
    expect(task.state).toBe('Failure')
    expect(task.status).toMatchObject({ succeededRange: '0-1', failedRange: '' })
    const errors = task.errors as { code: string; message: string; debug: null }[]
    expect(errors.map(e => e.code)).toEqual(['results-upload-failure', 'results-upload-failure'])
    expect(errors[0].message).toMatch(
      /^Results of instance [01] could not be uploaded to bucket out-refused: /
    )
    expect(validate('TaskOutput', task)).toEqual([])

    storage.faults.length = 0
    const after = await createTask(
      emulator,
      helloBody({ instanceCount: 1, resultBucket: 'out-after', constants: command('echo a > a.txt') })
    )
    expect((await waitForState(emulator, after, ['Success', 'Failure'])).state).toBe('Success')
    expect(await keys(store, 'out-after')).toEqual(['a.txt'])
    store.destroy()
  })

  it('fails the instances with the reason when the resources cannot be downloaded', async () => {
    const { emulator, storage, store } = await startWithResources()
    storage.faults.push({
      platform: true,
      operation: 'GetObject',
      action: 'error',
      status: 403,
      code: 'AccessDenied'
    })
    const uuid = await createTask(
      emulator,
      helloBody({ instanceCount: 2, advancedResourceBuckets: [TREE_BUCKET] })
    )
    const task = await waitForState(emulator, uuid, ['Success', 'Failure'])
    expect(task).toMatchObject({ state: 'Failure', status: { failedRange: '0-1' } })
    expect((task.errors as { code: string }[]).map(e => e.code)).toEqual(['resources-download-failure'])
    expect(await instanceStdout(emulator, uuid, 0)).toBe('')
    const stderr = (await call(emulator, 'GET', `/tasks/${uuid}/stderr/0`)).text
    expect(stderr).toMatch(/^resources could not be laid out: /)
    store.destroy()
  })

  it('gives a retried instance a fresh TASK_PATH, and uploads on cancellation only when asked', async () => {
    const { emulator, store } = await startWithResources()
    // The second attempt finds the resources only: what the first wrote is gone with its machine.
    const retried = await createTask(
      emulator,
      helloBody({
        instanceCount: 1,
        maxRetriesPerInstance: 1,
        advancedResourceBuckets: [TREE_BUCKET],
        constants: command(
          'if [ -f $TMP_PATH/again ]; then find . -type f | sort; exit 0; fi; touch $TMP_PATH/again first.txt; exit 1'
        )
      })
    )
    await waitForState(emulator, retried, ['Success'])
    expect(await instanceStdout(emulator, retried, 0)).toBe(
      './data/in.csv\n./deep/a b/été+1.txt\n./src/main.py\n'
    )

    const cancelled = async (upload: boolean, bucket: string): Promise<string[]> => {
      const uuid = await createTask(
        emulator,
        helloBody({
          instanceCount: 1,
          resultBucket: bucket,
          uploadResultsOnCancellation: upload,
          constants: command('echo partial > partial.txt; echo ready; sleep 30')
        })
      )
      while (!(await instanceStdout(emulator, uuid, 0)).includes('ready'))
        await new Promise(resolve => setTimeout(resolve, 10))
      expect((await call(emulator, 'POST', `/tasks/${uuid}/abort`)).status).toBe(200)
      await waitForState(emulator, uuid, ['Cancelled'])
      return keys(store, bucket)
    }
    expect(await cancelled(true, 'out-cancel-kept')).toEqual(['partial.txt'])
    expect(await cancelled(false, 'out-cancel-dropped')).toEqual([])
    store.destroy()
  })
})

describe('stop()', () => {
  /** Servers listening in this process, once the ones closed lately have let go of their handles. */
  const listeners = async () => {
    await new Promise(resolve => setTimeout(resolve, 50))
    return process.getActiveResourcesInfo().filter(r => r === 'TCPServerWrap').length
  }

  it('leaves no server running and no folder, even with transfers under way', async () => {
    const before = await listeners()
    emulator = await fastEmulator()
    const storage = await emulator.storage()
    expect(await listeners()).toBe(before + 3) // the API, the proxy, s3rver
    const uuid = await createTask(
      emulator,
      helloBody({
        instanceCount: 2,
        resultBucket: 'out-stop',
        constants: command('head -c 20971520 /dev/zero > big.bin')
      })
    )
    await statesUntil(uuid, ['UploadingResults', 'Success'])
    const { workDir } = emulator
    await emulator.stop()
    emulator = undefined
    expect(existsSync(storage.directory)).toBe(false)
    expect(existsSync(workDir)).toBe(false)
    expect(await listeners()).toBe(before)
    await expect(fetch(storage.url)).rejects.toThrow()
    // Still nothing a moment later: no transfer made a folder again.
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(existsSync(storage.directory)).toBe(false)
    expect(existsSync(workDir)).toBe(false)
  })

  it('stops a storage that was still starting, and starts none after', async () => {
    const before = await listeners()
    const stopping = await fastEmulator()
    const starting = stopping.storage()
    await stopping.stop()
    await expect(starting).rejects.toThrow('stopped')
    await expect(stopping.storage()).rejects.toThrow('stopped')
    expect(await listeners()).toBe(before)
  })
})
