import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { QarnotEmulator } from '../emulator/server.js'
import { QarnotClient } from '../src/qarnot/client.js'
import { ActionsHttpTransport } from '../src/qarnot/transport.js'
import { TaskOutputDemux, UNATTRIBUTED, parsePrefix, type InstanceChunks } from '../src/task/logs.js'
import { InstanceOutputFiles } from '../src/task/output-files.js'
import { OutputFollower } from '../src/task/output-follower.js'
import { WholeReadCopy } from '../src/task/whole-read-copy.js'
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

  it('hands a line on as it comes, holding back only an undecided prefix', () => {
    const demux = new TaskOutputDemux()
    expect(texts(demux.feed(Buffer.from('3> par')))).toEqual({ 3: 'par' })
    expect(demux.lineInProgress).toBe(3)
    expect(texts(demux.feed(Buffer.from('tial\n1')))).toEqual({ 3: 'tial\n' })
    expect(texts(demux.feed(Buffer.from('2> tail')))).toEqual({ 12: 'tail' })
    expect(texts(demux.flush())).toEqual({})
    expect(texts(new TaskOutputDemux().feed(Buffer.from('4')))).toEqual({})
  })

  it('keeps lines without a prefix apart, in no instance, and counts them', () => {
    const demux = new TaskOutputDemux()
    expect(texts(demux.feed(Buffer.from('orphan\n2> a\nno prefix\n')))).toEqual({
      [UNATTRIBUTED]: 'orphan\nno prefix\n',
      2: 'a\n'
    })
    expect(demux.unprefixedLines).toBe(2)
    expect(parsePrefix(Buffer.from('12>x'))).toBeUndefined()
    expect(parsePrefix(Buffer.from('  4> y'))).toEqual({ id: 4, start: 5 })
  })

  it('drops the cut line of a read that ended early, so the next read does not glue onto it', () => {
    const demux = new TaskOutputDemux()
    const out: InstanceChunks = new Map()
    demux.feed(Buffer.from('0> ok 0\n1> ok 1\n'), out)
    demux.feed(Buffer.from('1> o'), out)
    expect(demux.abandonLine()).toBe(1)
    demux.feed(Buffer.from(`2> ${'L'.repeat(20)}\n`), out)
    expect(texts(out)).toEqual({ 0: 'ok 0\n', 1: 'ok 1\no', 2: `${'L'.repeat(20)}\n` })
  })

  it('passes a line of 16 MiB through in slices of the chunks it came in, holding none of it', () => {
    const demux = new TaskOutputDemux()
    const chunk = Buffer.alloc(64 * 1024, 0x41)
    let bytes = 0
    let pieces = 0
    expect(demux.feed(Buffer.from('5> ')).size).toBe(0)
    for (let i = 0; i < 256; i++) {
      for (const [id, parts] of demux.feed(chunk)) {
        expect(id).toBe(5)
        for (const part of parts) {
          expect(part.buffer).toBe(chunk.buffer) // a view, not a copy
          bytes += part.length
          pieces++
        }
      }
    }
    expect(bytes).toBe(16 * 1024 * 1024)
    expect(pieces).toBe(256)
    expect(demux.lineInProgress).toBe(5)
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
    // An instance that printed nothing has no file, and reads as empty.
    expect(existsSync(files.path(4, 'stderr'))).toBe(false)
    expect(files.tail(4, 'stderr', 100)).toEqual({ text: '', totalBytes: 0 })
  })
})

describe('WholeReadCopy', () => {
  it('counts each instance of a stream kept whole, and gives back the ones asked for, byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'whole-'))
    const copy = new WholeReadCopy(join(dir, 'scratch'))
    const expected = new Map<number, Buffer[]>()
    // 3 MiB of interleaved lines from 3 instances and unprefixed lines, in chunks that cut lines and prefixes
    // anywhere and cross the 1 MiB batches.
    const lines: Buffer[] = []
    for (let i = 0; i < 3000; i++) {
      const id = i % 4 === 3 ? UNATTRIBUTED : i % 4
      const text = Buffer.from(`${i}:é${'x'.repeat(1000)}\n`)
      lines.push(id === UNATTRIBUTED ? text : Buffer.concat([Buffer.from(`${id}> `), text]))
      expected.set(id, [...(expected.get(id) ?? []), text])
    }
    lines.push(Buffer.from('2> last line without newline'))
    expected.set(2, [...(expected.get(2) ?? []), Buffer.from('last line without newline')])
    const stream = Buffer.concat(lines)
    for (let at = 0, size = 1; at < stream.length; at += size, size = ((size * 7 + 3) % 70_000) + 1)
      copy.add(stream.subarray(at, at + size))
    copy.end()
    for (const [id, pieces] of expected) expect(copy.size(id)).toBe(Buffer.concat(pieces).length)
    expect(copy.ids().sort()).toEqual([0, 1, 2])
    expect(copy.size(7)).toBe(0)
    const into = new InstanceOutputFiles(join(dir, 'taken'))
    copy.extract(new Set([0, 2]), 'stdout', into)
    expect(readFileSync(into.path(0, 'stdout')).equals(Buffer.concat(expected.get(0) ?? []))).toBe(true)
    expect(readFileSync(into.path(2, 'stdout')).equals(Buffer.concat(expected.get(2) ?? []))).toBe(true)
    expect(existsSync(into.path(1, 'stdout'))).toBe(false)
    copy.dispose()
    expect(existsSync(join(dir, 'scratch'))).toBe(false)
  })
})

describe('OutputFollower against the emulator', () => {
  let emulator: QarnotEmulator
  let transport: ActionsHttpTransport
  let client: QarnotClient
  let files: InstanceOutputFiles

  beforeEach(async () => {
    emulator = await fastEmulator()
    transport = new ActionsHttpTransport(USER_AGENT)
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
  async function follow(
    command: string,
    count: number,
    log: string[] = [],
    betweenReads?: (uuid: string) => Promise<void>
  ) {
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
      await betweenReads?.(uuid)
      await follower.readNew(new Set((task.completedInstances ?? []).map(i => i.instanceId)))
      if (['Success', 'Failure', 'Cancelled'].includes(task.state)) break
      await new Promise(resolve => setTimeout(resolve, 30))
    }
    const ids = Array.from({ length: count }, (_, i) => i)
    await follower.finish(ids)
    const read = (id: number, stream: 'stdout' | 'stderr') =>
      existsSync(files.path(id, stream)) ? readFileSync(files.path(id, stream), 'utf8') : ''
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

  it('completes what a lost answer held from one whole read, at O(1) requests, and says so', async () => {
    emulator.faults.add({ endpoint: 'POST /tasks/{uuid}/stdout', fault: { type: 'lose-answer' }, after: 1 })
    const { read, follower } = await follow(
      "sh -c 'echo start ${INSTANCE_ID}; sleep 0.3; echo end ${INSTANCE_ID}'",
      50
    )
    for (let id = 0; id < 50; id++) expect(read(id, 'stdout')).toBe(`start ${id}\nend ${id}\n`)
    expect(follower.lostReads).toBe(1)
    expect(follower.repairReads).toBe(0)
    expect(emulator.requestCount('GET /tasks/{uuid}/stdout')).toBe(1)
    expect(follower.notes.join('\n')).toMatch(/completed from a whole read/)
  })

  it('completes output that another reader of the same cursor took while the task ran', async () => {
    // Tasq, the CLI's --stdout follow and the SDKs read the same endpoint: their reads take lines from ours.
    let stolen = ''
    const { read, follower } = await follow(
      "sh -c 'for i in 1 2 3 4 5; do echo line $i of ${INSTANCE_ID}; sleep 0.1; done'",
      2,
      [],
      async uuid => {
        const chunks: Buffer[] = []
        await client.readTaskOutput(uuid, 'stdout', 'fresh', chunk => void chunks.push(chunk))
        stolen += Buffer.concat(chunks).toString('utf8')
      }
    )
    expect(stolen).not.toBe('')
    for (const id of [0, 1])
      expect(read(id, 'stdout')).toBe([1, 2, 3, 4, 5].map(i => `line ${i} of ${id}\n`).join(''))
    expect(follower.lostReads).toBe(0)
    expect(follower.notes.join('\n')).toMatch(/taken by another reader/)
  })

  it('reads per instance only what a rotated whole read cannot settle', async () => {
    await emulator.stop()
    emulator = await fastEmulator({ outputBufferBytes: 2048 })
    client = new QarnotClient({
      baseUrl: emulator.url,
      token: emulator.token,
      userAgent: USER_AGENT,
      transport
    })
    emulator.faults.add({
      endpoint: 'POST /tasks/{uuid}/stdout',
      fault: { type: 'lose-answer' },
      after: 1,
      times: 100
    })
    const { read, follower } = await follow(
      'sh -c \'echo first ${INSTANCE_ID}; sleep 0.3; awk "BEGIN { while (i++ < 300) print \\"filler\\" }"\'',
      2
    )
    expect(follower.repairReads).toBeGreaterThan(0)
    // The per-instance buffers rotated too: what is shown is the longest copy there is, never a glued one.
    for (const id of [0, 1]) expect(read(id, 'stdout')).toMatch(/^(first \d\n)?[a-z]*\n(filler\n)*$/)
  })
})

describe('the output of a finished task', () => {
  it('needs no repair when nothing failed', async () => {
    const emulator = await fastEmulator()
    try {
      const transport = new ActionsHttpTransport(USER_AGENT)
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
      // One round that brings the output, one that confirms nothing more is coming, one whole read per stream.
      expect(emulator.requestCount()).toBe(6)
      expect(follower.notes).toEqual([])
      expect(readFileSync(files.path(2, 'stdout'), 'utf8')).toBe('hello world from node 2!\n')
      transport.close()
    } finally {
      await emulator.stop()
    }
  })
})
