import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { QarnotEmulator } from '../src/emulator/server.js'
import { QarnotClient } from '../src/qarnot/client.js'
import { ActionsHttpTransport } from '../src/qarnot/transport.js'
import { TaskOutputDemux, parsePrefix, type InstanceChunks } from '../src/task/logs.js'
import { InstanceOutputFiles } from '../src/task/output-files.js'
import { OutputFollower } from '../src/task/output-follower.js'
import { USER_AGENT } from '../src/version.js'
import { fastEmulator, helloBody, waitForState } from './helpers/emulator.js'

function texts(chunks: InstanceChunks): Record<number, string> {
  return Object.fromEntries([...chunks].map(([id, pieces]) => [id, Buffer.concat(pieces).toString('utf8')]))
}

describe('TaskOutputDemux', () => {
  it('splits interleaved lines per instance, keeping only the first prefix off', () => {
    const demux = new TaskOutputDemux()
    const out = demux.feed(Buffer.from('1> a\n0> b 7> c\n1> \n 12> padded\n0> x\r\n'))
    expect(texts(out)).toEqual({ 1: 'a\n\n', 0: 'b 7> c\nx\r\n', 12: 'padded\n' })
  })

  it('is indifferent to where chunks end, even inside a UTF-8 character', () => {
    const stream = Buffer.from('0> héllo wörld ✓\n1> 😀 emoji\n0> last\n')
    for (let cut = 1; cut < stream.length; cut++) {
      const demux = new TaskOutputDemux()
      const out: InstanceChunks = new Map()
      demux.feed(stream.subarray(0, cut), out)
      demux.feed(stream.subarray(cut), out)
      expect(texts(out)).toEqual({ 0: 'héllo wörld ✓\nlast\n', 1: '😀 emoji\n' })
    }
  })

  it('holds an unfinished line until its end arrives, or until flush', () => {
    const demux = new TaskOutputDemux()
    expect(texts(demux.feed(Buffer.from('3> par')))).toEqual({})
    expect(demux.pendingBytes).toBe(6)
    expect(texts(demux.feed(Buffer.from('tial\n3> tail')))).toEqual({ 3: 'partial\n' })
    expect(texts(demux.flush())).toEqual({ 3: 'tail' })
  })

  it('gives a line without prefix to the instance before, and counts it', () => {
    const demux = new TaskOutputDemux()
    expect(texts(demux.feed(Buffer.from('orphan\n2> a\nno prefix\n')))).toEqual({ 2: 'a\nno prefix\n' })
    expect(demux.unprefixedLines).toBe(2)
    expect(parsePrefix(Buffer.from('12>x'))).toBeUndefined()
    expect(parsePrefix(Buffer.from('  4> y'))).toEqual({ id: 4, start: 5 })
  })
})

describe('InstanceOutputFiles', () => {
  it('appends, counts, and reads heads and tails on character boundaries', () => {
    const files = new InstanceOutputFiles(mkdtempSync(join(tmpdir(), 'files-')))
    files.append(3, 'stdout', [Buffer.from('ééé\n'), Buffer.from('line two\n')])
    expect(files.size(3, 'stdout')).toBe(16)
    expect(files.tail(3, 'stdout', 9)).toEqual({ text: 'line two\n', totalBytes: 16 })
    expect(files.head(3, 'stdout', 4)).toEqual({ text: 'éé', totalBytes: 16 })
    expect(files.head(3, 'stdout', 5).text).toBe('éé')
    files.append(5, 'stderr', [Buffer.from('aé'.repeat(10))])
    const tail = files.tail(5, 'stderr', 7)
    expect(Buffer.byteLength(tail.text)).toBeLessThanOrEqual(7)
    expect(tail.text).toMatch(/^(aé)*é?$|^é?(aé)*a?$/)
    expect(tail.text).not.toContain('\ufffd')
    files.ensureFiles([3, 4])
    expect(readFileSync(files.path(4, 'stderr'), 'utf8')).toBe('')
  })
})

describe('OutputFollower against the emulator', () => {
  let emulator: QarnotEmulator
  let transport: ActionsHttpTransport
  let client: QarnotClient
  let files: InstanceOutputFiles

  beforeEach(async () => {
    emulator = await fastEmulator()
    transport = new ActionsHttpTransport(USER_AGENT, 5000)
    client = new QarnotClient({
      baseUrl: emulator.url,
      token: emulator.token,
      userAgent: USER_AGENT,
      transport
    })
    files = new InstanceOutputFiles(mkdtempSync(join(tmpdir(), 'follow-')))
  })
  afterEach(async () => {
    transport.close()
    await emulator.stop()
  })

  /** Runs a task with `command`, follows it as main does, and returns what each instance's file holds. */
  async function follow(command: string, count: number, log: string[] = []) {
    const { uuid } = await client.createTask(
      helloBody({ instanceCount: count, constants: [{ key: 'DOCKER_CMD', value: command }] })
    )
    const live: string[] = []
    const follower = new OutputFollower({
      client,
      uuid,
      files,
      log: m => log.push(m),
      onOutput: (stream, chunks) => chunks.forEach((text, id) => live.push(`${stream}:${id}:${text}`)),
      flushBytes: 4096
    })
    for (;;) {
      const task = await client.getTask(uuid)
      await follower.readNew(new Set((task.completedInstances ?? []).map(i => i.instanceId)))
      if (['Success', 'Failure', 'Cancelled'].includes(task.state)) break
      await new Promise(resolve => setTimeout(resolve, 30))
    }
    const ids = Array.from({ length: count }, (_, i) => i)
    await follower.finish(ids)
    files.ensureFiles(ids)
    const read = (id: number, stream: 'stdout' | 'stderr') => readFileSync(files.path(id, stream), 'utf8')
    return { uuid, follower, live, read }
  }

  it('keeps what each instance printed, byte for byte', async () => {
    const script = [
      "printf 'héllo wörld ✓ 😀\\r\\nsecond\\r\\n\\n\\n'",
      'printf "7> not a prefix\\n"',
      'awk "BEGIN { while (i++ < 300000) printf \\"x\\" }"',
      'echo',
      'echo to-stderr >&2',
      'printf "no final newline\\n"'
    ].join('; ')
    const { read, live } = await follow(`sh -c '${script.replace(/'/g, "'\\''")}'`, 2)
    const expected = `héllo wörld ✓ 😀\r\nsecond\r\n\n\n7> not a prefix\n${'x'.repeat(300000)}\nno final newline\n`
    for (const id of [0, 1]) {
      expect(read(id, 'stdout')).toBe(expected)
      expect(read(id, 'stderr')).toBe('to-stderr\n')
    }
    expect(live.some(entry => entry.startsWith('stdout:1:héllo'))).toBe(true)
  })

  it('adds the newline a last line lacked: the task-level stream is line-based (a known limit)', async () => {
    // The server ends an instance's unfinished last line with a newline in the prefixed stream, so the action
    // cannot tell `b` from `b\n` without a per-instance read per instance, which it does only to repair.
    const { read } = await follow("printf 'a\\nb'", 1)
    expect(read(0, 'stdout')).toBe('a\nb\n')
  })

  it('reads at most one new-output request per stream per poll, whatever the instance count', async () => {
    emulator.resetCounters()
    const { follower } = await follow('echo ${INSTANCE_ID}', 200)
    const polls = emulator.requestCount('GET /tasks/{uuid}')
    expect(emulator.requestCount('POST /tasks/{uuid}/stdout')).toBeLessThanOrEqual(polls + 3)
    expect(emulator.requestCount('POST /tasks/{uuid}/stderr')).toBeLessThanOrEqual(polls + 3)
    expect(emulator.requestCount('GET /tasks/{uuid}/stdout/{instanceId}')).toBe(0)
    expect(follower.repairReads).toBe(0)
  })

  it('repairs with per-instance reads after a lost answer, and says so', async () => {
    emulator.faults.add({ endpoint: 'POST /tasks/{uuid}/stdout', fault: { type: 'lose-answer' }, after: 1 })
    const log: string[] = []
    const { read, follower } = await follow(
      "sh -c 'echo start ${INSTANCE_ID}; sleep 0.3; echo end ${INSTANCE_ID}'",
      3,
      log
    )
    for (const id of [0, 1, 2]) expect(read(id, 'stdout')).toBe(`start ${id}\nend ${id}\n`)
    expect(follower.lostReads).toBe(1)
    expect(follower.repairReads).toBeGreaterThan(0)
    expect(log.join('\n')).toMatch(/Repairing the output of instances 0-2 with per-instance reads/)
  })
})

describe('the output of a finished task', () => {
  it('needs no repair when nothing failed', async () => {
    const emulator = await fastEmulator()
    try {
      const transport = new ActionsHttpTransport(USER_AGENT, 5000)
      const client = new QarnotClient({
        baseUrl: emulator.url,
        token: emulator.token,
        userAgent: USER_AGENT,
        transport
      })
      const { uuid } = await client.createTask(helloBody())
      await waitForState(emulator, uuid, ['Success'])
      const files = new InstanceOutputFiles(mkdtempSync(join(tmpdir(), 'done-')))
      const follower = new OutputFollower({ client, uuid, files, log: () => undefined })
      emulator.resetCounters()
      await follower.finish([0, 1, 2, 3])
      // One round that brings the output, one that confirms nothing more is coming.
      expect(emulator.requestCount()).toBe(4)
      expect(readFileSync(files.path(2, 'stdout'), 'utf8')).toBe('hello world from node 2!\n')
      transport.close()
    } finally {
      await emulator.stop()
    }
  })
})
