/**
 * The emulator's modes for what no source settles (docs/emulator.md): what results filters are matched against,
 * how the task list looks and how long it is, the longest range a create takes, the storage quotas of GET /info;
 * and the paged and summary task lists.
 */
import { describe, expect, it } from '@jest/globals'
import type { EmulatorOptions } from '../emulator/server.js'
import { call, createTask, emulatorsOfThisFile, helloBody, waitForState } from './helpers/emulator.js'
import { clientStore, keys, never } from './helpers/storage.js'

const emulatorWith = emulatorsOfThisFile()

const writeResults = {
  key: 'DOCKER_CMD',
  value:
    "sh -c 'mkdir -p out/deep && echo a > out/a.txt && echo b > out/deep/b.txt && echo c > c.txt && echo l > out/a.log'"
}

/** The result keys a task with these filters leaves, under the given subject mode. */
async function resultsUnder(
  subject: 'relative' | 'absolute' | 'name' | undefined,
  filters: { resultsWhitelist?: string; resultsBlacklist?: string },
  bucket: string
): Promise<string[]> {
  const emulator = await emulatorWith({ quirks: { resultsFilterSubject: subject } })
  const uuid = await createTask(
    emulator,
    helloBody({ instanceCount: 1, constants: [writeResults], resultBucket: bucket, ...filters })
  )
  const task = await waitForState(emulator, uuid, ['Success', 'Failure'])
  expect(task.state).toBe('Success')
  const store = clientStore(await emulator.storage())
  try {
    return await keys(store, bucket)
  } finally {
    store.destroy()
  }
}

describe('quirk resultsFilterSubject', () => {
  it('relative (the default): the path under $TASK_PATH', async () => {
    expect(await resultsUnder(undefined, { resultsWhitelist: '^out/' }, 'subject-1')).toEqual([
      'out/a.log',
      'out/a.txt',
      'out/deep/b.txt'
    ])
    expect(await resultsUnder('relative', { resultsWhitelist: '^out/[^/]*\\.txt$' }, 'subject-2')).toEqual([
      'out/a.txt'
    ])
  })

  it('absolute: the path in the instance, under /job', async () => {
    expect(await resultsUnder('absolute', { resultsWhitelist: '^out/' }, 'subject-3')).toEqual([])
    expect(
      await resultsUnder(
        'absolute',
        { resultsWhitelist: '^/job/out/', resultsBlacklist: '\\.log$' },
        'subject-4'
      )
    ).toEqual(['out/a.txt', 'out/deep/b.txt'])
  })

  it('name: the file name alone, the key keeping its path', async () => {
    expect(await resultsUnder('name', { resultsWhitelist: '^(a|b)\\.txt$' }, 'subject-5')).toEqual([
      'out/a.txt',
      'out/deep/b.txt'
    ])
    expect(await resultsUnder('name', { resultsWhitelist: '^out/' }, 'subject-6')).toEqual([])
  })
})

async function finishedTasks(options: EmulatorOptions, count: number, tags: string[] = ['listed']) {
  const emulator = await emulatorWith(options)
  const uuids: string[] = []
  for (let i = 0; i < count; i++)
    uuids.push(await createTask(emulator, helloBody({ instanceCount: 2, advancedRanges: '3-4', tags })))
  for (const uuid of uuids) await waitForState(emulator, uuid, ['Success'])
  return { emulator, uuids }
}

describe('quirk taskList', () => {
  it('off: list entries are whole tasks', async () => {
    const { emulator } = await finishedTasks({}, 2)
    const list = (await call(emulator, 'GET', '/tasks?tag=listed')).json() as Record<string, unknown>[]
    expect(list).toHaveLength(2)
    expect(list[0]).toMatchObject({ advancedRanges: '3-4', totalInstanceCount: 2 })
    expect(list[0].completedInstances).toHaveLength(2)
  })

  it('trimmed: completedInstances, every range and instance count null, as the OpenAPI example', async () => {
    const { emulator, uuids } = await finishedTasks({ quirks: { taskList: { trimmed: true } } }, 2)
    const list = (await call(emulator, 'GET', '/tasks?tag=listed')).json() as Record<string, unknown>[]
    expect(list.map(t => t.uuid)).toEqual(uuids)
    for (const entry of list) {
      expect(entry).toMatchObject({
        state: 'Success',
        completedInstances: null,
        instanceCount: null,
        totalInstanceCount: null,
        advancedRanges: null
      })
      expect(entry.status).toMatchObject({
        succeededRange: null,
        executedRange: null,
        failedRange: null,
        cancelledRange: null,
        failedOnlyRange: null,
        startedOnceRange: null,
        instanceCount: null
      })
    }
    // The task itself is whole.
    const task = (await call(emulator, 'GET', `/tasks/${uuids[0]}`)).json() as Record<string, unknown>
    expect(task).toMatchObject({ advancedRanges: '3-4', status: { succeededRange: '3-4' } })
  })

  it('cap: at most N entries', async () => {
    const { emulator, uuids } = await finishedTasks({ quirks: { taskList: { cap: 2 } } }, 3)
    const list = (await call(emulator, 'GET', '/tasks?tag=listed')).json() as Record<string, unknown>[]
    expect(list.map(t => t.uuid)).toEqual(uuids.slice(0, 2))
    const paged = (await call(emulator, 'POST', '/tasks/paginate', {})).json() as { data: unknown[] }
    expect(paged.data).toHaveLength(3)
  })
})

describe('the paged and summary task lists', () => {
  it('POST /tasks/paginate pages by maximumResults and token', async () => {
    const { emulator, uuids } = await finishedTasks({}, 3)
    const first = (await call(emulator, 'POST', '/v1/tasks/paginate', { maximumResults: 2 })).json() as {
      data: { uuid: string }[]
      count: number
      total: number
      isTruncated: boolean
      nextToken: string | null
    }
    expect(first).toMatchObject({ count: 2, total: 3, isTruncated: true })
    expect(first.data.map(t => t.uuid)).toEqual(uuids.slice(0, 2))
    const rest = (
      await call(emulator, 'POST', '/tasks/paginate', { maximumResults: 2, token: first.nextToken })
    ).json() as { data: { uuid: string }[]; isTruncated: boolean; nextToken: string | null }
    expect(rest).toMatchObject({ isTruncated: false, nextToken: null })
    expect(rest.data.map(t => t.uuid)).toEqual(uuids.slice(2))
    expect(emulator.requestCount('POST /tasks/paginate')).toBe(2)
  })

  it('GET /tasks/summaries gives TaskSummaryOutput entries, filtered by tag (a,b or repeated)', async () => {
    const { emulator, uuids } = await finishedTasks({}, 2, ['x', 'y'])
    await createTask(emulator, helloBody({ instanceCount: 1, tags: ['x'] }))
    const both = (await call(emulator, 'GET', '/tasks/summaries?tag=x,y')).json() as Record<string, unknown>[]
    expect(both.map(t => t.uuid)).toEqual(uuids)
    expect(both[0]).toMatchObject({ state: 'Success', advancedRanges: '3-4', totalInstanceCount: 2 })
    expect(both[0]).not.toHaveProperty('completedInstances')
    expect(both[0]).not.toHaveProperty('status')
    const repeated = (await call(emulator, 'GET', '/tasks/summaries?tag=x&tag=y')).json() as unknown[]
    expect(repeated).toHaveLength(2)
    expect((await call(emulator, 'GET', '/tasks/summaries')).json()).toHaveLength(3)
  })
})

describe('option maxRangeLength', () => {
  it('refuses a longer advancedRanges with range-length; the default takes 2,048 characters', async () => {
    const emulator = await emulatorWith({ maxRangeLength: 10 })
    const long = await call(emulator, 'POST', '/tasks', helloBody({ advancedRanges: '0,2,4,6,8,10' }))
    expect(long.status).toBe(400)
    expect(long.json()).toEqual({ message: 'Invalid task file. Invalid fields: range-length' })
    const fits = await call(emulator, 'POST', '/tasks', helloBody({ advancedRanges: '0,2,4,6,80' }))
    expect(fits.status).toBe(200)
    const plain = await emulatorWith()
    const ranges = Array.from({ length: 600 }, (_, i) => 2 * i).join(',')
    expect(ranges.length).toBeGreaterThan(2048)
    const refused = await call(plain, 'POST', '/tasks', helloBody({ advancedRanges: ranges }))
    expect(refused.json()).toEqual({ message: 'Invalid task file. Invalid fields: range-length' })
    const taken = await call(
      plain,
      'POST',
      '/tasks',
      helloBody({ advancedRanges: ranges.slice(0, 2048).replace(/,\d*$/, '') })
    )
    expect(taken.status).toBe(200)
  })
})

describe('option storageQuota and GET /info', () => {
  it('GET /info gives the quotas and what is used; storage enforces them', async () => {
    const emulator = await emulatorWith({ storageQuota: { maxBuckets: 1, quotaBytes: 10 } })
    const before = (await call(emulator, 'GET', '/info')).json()
    expect(before).toMatchObject({
      maxBucket: 1,
      quotaBytesBucket: 10,
      usedQuotaBytesBucket: 0,
      quotaBytes: 10
    })
    const store = clientStore(await emulator.storage())
    try {
      await store.createBucket('only-1', never)
      await expect(store.createBucket('second-2', never)).rejects.toMatchObject({
        code: 'TooManyBuckets',
        status: 400
      })
      await store.putObject('only-1', 'a', '12345678', never)
      await expect(store.putObject('only-1', 'b', '123', never)).rejects.toMatchObject({
        code: 'QuotaExceeded',
        status: 403
      })
      const after = (await call(emulator, 'GET', '/info')).json()
      expect(after).toMatchObject({ usedQuotaBytesBucket: 8, usedQuotaBytes: 8 })
    } finally {
      store.destroy()
    }
  })

  it('defaults: 100 buckets and 10 GiB, shown', async () => {
    const emulator = await emulatorWith()
    expect((await call(emulator, 'GET', '/info')).json()).toMatchObject({
      maxBucket: 100,
      quotaBytesBucket: 10 * 1024 ** 3,
      usedQuotaBytesBucket: 0
    })
  })
})
