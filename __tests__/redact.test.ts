/** Secrets that task output prints never reach the outputs, the summary or the pull-request comment. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { tmpdir } from 'node:os'
import type { QarnotEmulator } from '../emulator/server.js'
import type { CommentsApi } from '../src/github/pr-comment.js'
import { run } from '../src/main.js'
import type { OutputReader, StreamName } from '../src/report/model.js'
import { redactingReader, redactRendered, secretForms } from '../src/report/redact.js'
import { escapeHtml, tableCell } from '../src/report/text.js'
import { systemClock } from '../src/task/clock.js'
import { fastEmulator } from './helpers/emulator.js'
import { recordingIO } from './helpers/recording-io.js'

/** A reader over fixed texts, cut the way the real one cuts (bytes, whole characters). */
function readerOver(texts: Record<number, string>): OutputReader {
  const read = (id: number, _stream: StreamName, maxBytes: number, fromEnd: boolean) => {
    const buffer = Buffer.from(texts[id] ?? '', 'utf8')
    const part = fromEnd
      ? buffer.subarray(Math.max(0, buffer.length - maxBytes))
      : buffer.subarray(0, maxBytes)
    return { text: part.toString('utf8'), totalBytes: buffer.length }
  }
  return {
    head: (id, stream, maxBytes) => read(id, stream, maxBytes, false),
    tail: (id, stream, maxBytes) => read(id, stream, maxBytes, true)
  }
}

describe('redactingReader', () => {
  const secret = 'hunter2-SECRET'
  const text = `0123456789${secret}abcdef`

  it('replaces a whole secret, within the size asked', () => {
    const reader = redactingReader(readerOver({ 0: text }), [secret])
    expect(reader.head(0, 'stdout', 1000)).toEqual({ text: '0123456789***abcdef', totalBytes: 19 })
    expect(reader.tail(0, 'stdout', 1000).text).toBe('0123456789***abcdef')
  })

  it('never shows part of a secret where a read is cut through it', () => {
    const reader = redactingReader(readerOver({ 0: text }), [secret])
    for (let size = 0; size <= text.length; size++) {
      for (const part of [reader.head(0, 'stdout', size).text, reader.tail(0, 'stdout', size).text]) {
        expect(Buffer.byteLength(part)).toBeLessThanOrEqual(size)
        expect(part).not.toMatch(/hunter|SECRET|2-S/)
      }
    }
  })

  it('drops the longest part of a secret at a cut, for secrets that repeat themselves', () => {
    const repeating = 'abab-abab'
    const reader = redactingReader(readerOver({ 0: `xx${repeating}yy`, 1: 'ab' }), [repeating, 'zz'])
    for (let size = 0; size <= 13; size++) {
      const head = reader.head(0, 'stdout', size).text
      const tail = reader.tail(0, 'stdout', size).text
      expect(head).toBe('xx***yy'.slice(0, head.length))
      expect(head.length >= 2 || size < 2).toBe(true)
      expect(tail).toBe('xx***yy'.slice(7 - tail.length))
    }
    // A whole output that is only the start of a secret is not cut: nothing was cut from it.
    expect(reader.head(1, 'stdout', 10).text).toBe('ab')
  })

  it('masks overlapping secrets as one, leaving no part of either', () => {
    const reader = redactingReader(readerOver({ 0: 'x abcdefgh-SECRETB y AAAAXXXXBBBB z' }), [
      'abcdefgh',
      'efgh-SECRETB',
      'AAAAXXXX',
      'XXXXBBBB'
    ])
    expect(reader.head(0, 'stdout', 100).text).toBe('x *** y *** z')
  })

  it('says an output read whole is whole, though redaction made it shorter', () => {
    const reader = redactingReader(readerOver({ 0: 'pw=hunter2-SECRET\n' }), ['hunter2-SECRET'])
    expect(reader.head(0, 'stdout', 100)).toEqual({ text: 'pw=***\n', totalBytes: 7 })
    expect(reader.tail(0, 'stdout', 100)).toEqual({ text: 'pw=***\n', totalBytes: 7 })
  })

  it('masks a multi-line secret line by line, as the runner does', () => {
    expect(secretForms(['line-one\nline-two', '', '  '])).toEqual([
      'line-one\nline-two',
      'line-one',
      'line-two'
    ])
    const reader = redactingReader(readerOver({ 1: 'a line-two b line-one c' }), ['line-one\nline-two'])
    expect(reader.head(1, 'stdout', 100).text).toBe('a *** b *** c')
  })

  it('takes a secret out of a rendered text even once HTML-escaped', () => {
    const secret = 'p&w<x>'
    expect(redactRendered(`raw ${secret} escaped ${escapeHtml(secret)}`, [secret])).toBe(
      'raw *** escaped ***'
    )
  })
})

describe('run() with a task that prints its secrets', () => {
  let emulator: QarnotEmulator
  beforeEach(async () => {
    emulator = await fastEmulator()
  })
  afterEach(async () => {
    await emulator.stop()
  })

  it('a one-character secret does not break the outputs that are data (results JSON, task-uuid)', async () => {
    const io = recordingIO({
      token: emulator.token,
      'api-url': emulator.url,
      'instance-count': '2',
      command: 'sh -c \'echo "n=$QARNOT_SECRET__N"\'',
      constants: 'QARNOT_SECRET__N=1'
    })
    await run({ io, env: { RUNNER_TEMP: tmpdir() }, clock: systemClock, stop: new AbortController().signal })
    expect(io.outputs['task-uuid']).toBe(emulator.allTasks()[0].uuid)
    const results = JSON.parse(io.outputs.instances) as { id: number; stdout: string }[]
    expect(results.map(r => [r.id, r.stdout])).toEqual([
      [0, 'n=***\n'],
      [1, 'n=***\n']
    ])
    expect(io.outputs.truncated).toBe('false')
  })

  it('keeps them out of stdout and results, the summary and the PR comment', async () => {
    // `&`, `<`, `_` and `*` change once escaped for HTML or Markdown, where the runner's own masking no longer sees them.
    const secret = 'p&ss<w>rd_x*y'
    const bodies: string[] = []
    const comments: CommentsApi = {
      list: async () => [],
      create: async (_o, _r, _i, body) => {
        bodies.push(body)
        return { id: 1, body }
      },
      update: async (_o, _r, id, body) => {
        bodies.push(body)
        return { id, body }
      }
    }
    const io = recordingIO({
      token: emulator.token,
      'api-url': emulator.url,
      'instance-count': '3',
      command: `sh -c 'echo "the secret is $QARNOT_SECRET__PW."; echo "$QARNOT_SECRET__PW" >&2; exit $((INSTANCE_ID % 2))'`,
      constants: `QARNOT_SECRET__PW=${secret}`,
      'pr-comment': 'true',
      'github-token': 'ghs_commenttoken'
    })
    const env = {
      RUNNER_TEMP: tmpdir(),
      GITHUB_RUN_ID: '42',
      GITHUB_REPOSITORY: 'owner/repo',
      GITHUB_REF: 'refs/pull/7/merge',
      GITHUB_EVENT_NAME: 'pull_request'
    }
    await run({ io, env, clock: systemClock, stop: new AbortController().signal, comments: () => comments })
    expect(io.outputs['qarnot-outcome']).toBe('failure')
    expect(io.outputs.stdout).toContain('0> the secret is ***.')
    const results = JSON.parse(io.outputs.instances) as { stdout: string; stderr: string }[]
    expect(results[1].stderr).toBe('***\n')
    expect(bodies).toHaveLength(1)
    const published = [...Object.values(io.outputs), io.summary, ...bodies].join('\n')
    for (const form of [secret, escapeHtml(secret), tableCell(secret), 'p&amp;ss', 'ss<w>rd', 'rd_x'])
      expect(published).not.toContain(form)
    expect(io.summary).toContain('***')
  })
})
