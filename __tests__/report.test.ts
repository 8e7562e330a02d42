import { describe, expect, it } from '@jest/globals'
import type { StepReport } from '../src/report/model.js'
import { decideOutcome, describeOutcome, type StepEnding } from '../src/report/outcome.js'
import { writeUntrusted } from '../src/report/log.js'
import { buildOutputs, RESULTS_OUTPUT_BYTES, STDOUT_OUTPUT_BYTES } from '../src/report/outputs.js'
import { renderSummary, SUMMARY_BUDGET_BYTES } from '../src/report/summary.js'
import { codeSpan, escapeHtml, formatSeconds, listText, tableCell } from '../src/report/text.js'
import { InstanceOutputFiles } from '../src/task/output-files.js'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TaskOutputWire } from '../src/qarnot/types.js'
import { decideVerdict, type Verdict } from '../src/task/verdict.js'
import { renderComment } from '../src/report/pr-comment-body.js'
import { readActionDefinition } from '../src/local-runner/runner.js'

type Texts = Record<number, { stdout: string; stderr: string }>

/** The outputs as the action keeps them: one file per instance and stream. */
function filesWith(texts: Texts): InstanceOutputFiles {
  const files = new InstanceOutputFiles(mkdtempSync(join(tmpdir(), 'report-')))
  for (const [id, { stdout, stderr }] of Object.entries(texts)) {
    files.append(Number(id), 'stdout', [Buffer.from(stdout)])
    files.append(Number(id), 'stderr', [Buffer.from(stderr)])
  }
  return files
}

function stepReport(verdict: Verdict | undefined, outputs: Texts, ending: StepEnding): StepReport {
  const outcome = decideOutcome(ending, verdict)
  return {
    outcome,
    ...describeOutcome({ ending, outcome, verdict, uuid: 'uuid-1', timeoutMs: 5000 }),
    task: { uuid: 'uuid-1', url: 'https://tasq.qarnot.com/tasks/uuid-1', name: 'render <frames>' },
    state: verdict?.state ?? 'Submitted',
    verdict,
    requestedCount: 3,
    outputs: filesWith(outputs),
    logsDir: '/tmp/logs',
    elapsedMs: 12_000,
    notes: []
  }
}

const FOLLOWED: StepEnding = { kind: 'followed', ending: 'final', leftRunning: false }

function report(
  count: number,
  outputs: Texts,
  failing: number[] = [],
  error = (id: number) => `exit ${id}`
): StepReport {
  const wire: TaskOutputWire = {
    uuid: 'uuid-1',
    state: failing.length > 0 ? 'Failure' : 'Success',
    instanceCount: count,
    completedInstances: Array.from({ length: count }, (_, id) =>
      failing.includes(id)
        ? { instanceId: id, state: 'Failure', error: { message: error(id) }, executionAttemptCount: 1 }
        : { instanceId: id, state: 'Success', error: null, wallTimeSec: 1.5, executionAttemptCount: 1 }
    )
  }
  return stepReport(decideVerdict(wire, [{ first: 0, last: count - 1 }]), outputs, FOLLOWED)
}

describe('summary', () => {
  it('escapes task output and keeps it inside <pre>, whatever it holds', () => {
    const nasty = '<script>x</script>\n\n</details>\n```\n| a | b |\n&amp;\n'
    const markdown = renderSummary(report(1, { 0: { stdout: nasty, stderr: 'warn <b>' } }))
    expect(markdown).not.toContain('<script>')
    expect(markdown).toContain('&lt;script&gt;x&lt;/script&gt;')
    expect(markdown).toContain('&lt;/details&gt;')
    expect(markdown).toContain('&amp;amp;')
    expect(markdown).toContain('warn &lt;b&gt;')
    expect(markdown.match(/<\/details>/g)).toHaveLength(1)
    // The <pre> starts its own line, so the blank lines inside cannot end the HTML block early.
    expect(markdown).toMatch(/\n<pre>\n&lt;script&gt;/)
  })

  it('lists failed instances first, with their errors', () => {
    const markdown = renderSummary(report(4, { 0: { stdout: 'zero\n', stderr: '' } }, [1, 3]))
    expect(markdown).toContain('❌ Qarnot task failed: 2 of 4 instances did not succeed')
    const rows = markdown.split('\n').filter(line => /^\| \d/.test(line))
    expect(rows.map(r => r.split('|')[1].trim())).toEqual(['1', '3', '0', '2'])
    expect(rows[0]).toContain('exit 1')
    expect(markdown.indexOf('Instance 1: Failure')).toBeLessThan(markdown.indexOf('Instance 0: Success'))
  })

  it('gives failed instances the larger share, then a few successful ones, folded, within the budget', () => {
    const big = 'é'.repeat(20_000) + '\n'
    const outputs = Object.fromEntries(
      Array.from({ length: 100 }, (_, id) => [id, { stdout: big, stderr: '' }])
    )
    const markdown = renderSummary(report(100, outputs, [7]))
    expect(Buffer.byteLength(markdown)).toBeLessThanOrEqual(SUMMARY_BUDGET_BYTES)
    expect(markdown).toContain(
      '<details open><summary>❌ Instance 7: Failure</summary>\n\n<b>stdout</b> (last 32.0 KiB of 39.1 KiB)'
    )
    // Above 20 successes, a few are shown, folded together, and the rest counted with the reason.
    expect(markdown).toContain('<details><summary>✅ 5 of the 99 instances that succeeded</summary>')
    expect(markdown.match(/<summary>✅ Instance \d+: Success<\/summary>/g)).toHaveLength(5)
    expect(markdown).toContain(
      'The output of 94 more instances that succeeded is not shown: this summary shows every instance that did not succeed, then 5 that did.'
    )
    expect(markdown).not.toContain('1 MiB')
    expect(markdown).toContain('upload it with `actions/upload-artifact`')
  })

  it('with 10,000 instances: successful rows as ranges, output cut with a note, under 1 MiB', () => {
    const outputs = Object.fromEntries(
      Array.from({ length: 10_000 }, (_, id) => [id, { stdout: `${'x'.repeat(1000)}\n`, stderr: '' }])
    )
    const markdown = renderSummary(report(10_000, outputs, [5, 6, 7, 9000]))
    expect(Buffer.byteLength(markdown)).toBeLessThanOrEqual(SUMMARY_BUDGET_BYTES)
    expect(markdown).toContain('| 0-4, 8-8999, 9001-9999 | ✅ Success (9,996) |')
    expect(markdown).toContain('| 9000 | ❌ Failure |')
    expect(markdown).toContain('❌ Instance 9000: Failure')
    expect(markdown).toMatch(/The output of 9,991 more instances that succeeded is not shown/)
  })

  it('at 3,000 instances with 31 scattered failures: every failure output first, short cells, the reason', () => {
    const failing = Array.from({ length: 31 }, (_, i) => i * 97 + 11)
    const outputs = Object.fromEntries(
      Array.from({ length: 3000 }, (_, id) => [id, { stdout: `frame ${id}\n`, stderr: '' }])
    )
    const markdown = renderSummary(report(3000, outputs, failing, () => 'exit code 1'))
    // No cell of the table holds more than ~120 characters; the whole list of ids is under it.
    const rows = markdown.split('\n').filter(line => line.startsWith('| '))
    for (const cell of rows.flatMap(line => line.split(' | '))) expect(cell.length).toBeLessThanOrEqual(120)
    expect(markdown).toMatch(/\| 0-10, 12-107, [\d, -]+, … and [\d,]+ more \| ✅ Success \(2,969\) \|/)
    expect(markdown).toContain('**Instances by state**\n\n- ✅ Success (2,969): 0-10, 12-107, 109-204,')
    // The error every failure shares is said once, and the table has no column of it.
    expect(markdown).toContain('Every one of the 31 instances that did not succeed: exit code 1')
    expect(markdown).not.toContain('| Error |')
    // Every failure's output, the first three open, before a few successes; the rest counted with the true reason.
    const labels = [...markdown.matchAll(/<details( open)?><summary>(❌|✅) Instance (\d+)/g)]
    expect(labels.filter(l => l[2] === '❌').map(l => Number(l[3]))).toEqual(failing)
    expect(labels.slice(0, 4).map(l => l[1] === ' open')).toEqual([true, true, true, false])
    expect(labels.filter(l => l[2] === '✅')).toHaveLength(5)
    expect(labels.findIndex(l => l[2] === '✅')).toBe(31)
    expect(markdown).toContain('The output of 2,964 more instances that succeeded is not shown')
    expect(markdown).not.toContain('did not fit')
    expect(markdown).toContain('`path: ${{ steps.<id>.outputs.logs-dir }}`')
  })

  it('says when output did not fit, and only then blames the size limit', () => {
    const big = 'y'.repeat(4_000) + '\n'
    const failing = Array.from({ length: 200 }, (_, id) => id)
    const outputs = Object.fromEntries(failing.map(id => [id, { stdout: big, stderr: big }]))
    const budget = 200 * 1024
    const markdown = renderSummary(report(200, outputs, failing), budget)
    expect(Buffer.byteLength(markdown)).toBeLessThanOrEqual(budget)
    expect(markdown).toContain('❌ Instance 0: Failure')
    expect(markdown).toMatch(
      /The output of [\d,]+ instances \([\d, -]+\) did not fit: GitHub drops a job summary over 1 MiB whole\./
    )
  })
})

describe('outcome and wording', () => {
  const verdict = report(2, {}).verdict
  it.each([
    [{ kind: 'submitted' }, 'submitted', '📤 Qarnot task submitted'],
    [{ kind: 'not-created', message: 'refused' }, 'failure', '❌ Qarnot task not created'],
    [{ kind: 'stopped-creating' }, 'cancelled', '⛔ Qarnot task cancelled'],
    [
      { kind: 'followed', ending: 'final', leftRunning: false },
      'success',
      '✅ Qarnot task succeeded: 2/2 instances'
    ],
    [
      { kind: 'followed', ending: 'timeout', leftRunning: false },
      'timed-out',
      '⏱️ Qarnot task aborted after the timeout'
    ],
    [{ kind: 'followed', ending: 'stopped', leftRunning: false }, 'cancelled', '⛔ Qarnot task cancelled'],
    [
      { kind: 'followed', ending: 'stopped', leftRunning: true },
      'cancelled',
      '⛔ Step cancelled: the Qarnot task was left running'
    ],
    [
      { kind: 'followed', ending: 'lost', leftRunning: false, message: 'gone' },
      'failure',
      '❌ Qarnot task could not be followed'
    ]
  ] as [StepEnding, string, string][])(
    '%j is %s, titled %s, in the summary and the comment alike',
    (ending, outcome, title) => {
      const r = stepReport(ending.kind === 'followed' ? verdict : undefined, {}, ending)
      expect(r.outcome).toBe(outcome)
      expect(r.title).toBe(title)
      expect(renderSummary(r)).toContain(`## ${title}`)
      expect(renderComment(r, { serverUrl: 'https://github.com' } as never)).toContain(`### ${title}`)
    }
  )

  it('sets every output on every ending, with what is known', () => {
    const submitted = buildOutputs(stepReport(undefined, {}, { kind: 'submitted' }))
    expect(submitted).toMatchObject({
      'qarnot-outcome': 'submitted',
      state: 'Submitted',
      'instance-count': '3',
      instances: '[]',
      stdout: ''
    })
    expect(Object.keys(submitted).sort()).toEqual(Object.keys(readActionDefinition().outputs).sort())
  })
})

describe('table cells and times', () => {
  it('keeps an API error on its row: line breaks folded, Markdown and HTML escaped', () => {
    const cell = tableCell('boom\r| x |\n![t](https://evil.example/x.png) <img src=x> `code`')
    expect(cell).not.toMatch(/[\r\n]/)
    expect(cell).not.toContain('![t]')
    expect(cell).not.toContain('<img')
    expect(cell).not.toMatch(/(^|[^\\])\|/)
  })

  it('never prints NaN for a time the API did not give', () => {
    expect(formatSeconds(undefined)).toBe('')
    expect(formatSeconds(Number.NaN)).toBe('')
    expect(formatSeconds(90)).toBe('1 min 30 s')
    expect(formatSeconds(59.6)).toBe('1 min 0 s')
    expect(formatSeconds(119.7)).toBe('2 min 0 s')
    expect(formatSeconds(9.96)).toBe('10 s')
  })

  it('shows an instance that ran more than once as restarted, and says its output holds every run', () => {
    const wire: TaskOutputWire = {
      uuid: 'uuid-1',
      state: 'Success',
      instanceCount: 1,
      completedInstances: [{ instanceId: 0, state: 'Success', executionAttemptCount: 43 }]
    }
    const r = stepReport(
      decideVerdict(wire, [{ first: 0, last: 0 }]),
      { 0: { stdout: 'a\n', stderr: '' } },
      FOLLOWED
    )
    const markdown = renderSummary(r)
    expect(markdown).toContain('43 (restarted 42×)')
    expect(markdown).toContain('Instance 0: Success (ran 43 times: the output holds every run)')
  })
})

describe('outputs', () => {
  it('keeps every instance in stdout, cutting lines rather than dropping instances', () => {
    const long = `${'y'.repeat(400_000)}\n`
    const outputs = buildOutputs(
      report(3, {
        0: { stdout: long, stderr: '' },
        1: { stdout: 'one\n', stderr: '' },
        2: { stdout: long, stderr: '' }
      })
    )
    expect(Buffer.byteLength(outputs.stdout)).toBeLessThanOrEqual(STDOUT_OUTPUT_BYTES)
    expect(outputs.stdout).toMatch(/^0> y+…\n1> one\n2> y+…\n$/)
    expect(outputs.truncated).toBe('true')
  })

  it('sets every output with counts, ranges and prefixed stdout', () => {
    const outputs = buildOutputs(
      report(3, { 0: { stdout: 'a\nb\n', stderr: '' }, 2: { stdout: 'c', stderr: 'e' } }, [2])
    )
    expect(outputs).toMatchObject({
      'task-uuid': 'uuid-1',
      state: 'Failure',
      'qarnot-outcome': 'failure',
      'instance-count': '3',
      'succeeded-count': '2',
      'failed-count': '1',
      'failed-instances': '2',
      stdout: '0> a\n0> b\n2> c\n',
      'logs-dir': '/tmp/logs',
      truncated: 'false'
    })
    const results = JSON.parse(outputs.instances)
    expect(results[2]).toMatchObject({ id: 2, state: 'Failure', error: 'exit 2', stdout: 'c', stderr: 'e' })
  })

  it('caps stdout and results and says so', () => {
    const huge = `${'x'.repeat(1000)}\n`.repeat(2000)
    const outputs = buildOutputs(
      report(
        200,
        Object.fromEntries(Array.from({ length: 200 }, (_, id) => [id, { stdout: huge, stderr: '' }]))
      )
    )
    expect(Buffer.byteLength(outputs.stdout)).toBeLessThanOrEqual(STDOUT_OUTPUT_BYTES)
    expect(Buffer.byteLength(outputs.instances)).toBeLessThanOrEqual(RESULTS_OUTPUT_BYTES)
    expect(JSON.parse(outputs.instances)).toHaveLength(200)
    expect(outputs.truncated).toBe('true')
  })
})

describe('failure message and log', () => {
  it('names the failed instances as ranges, grouped by error', () => {
    const r = report(8, {}, [1, 3, 4, 5], id => (id === 5 ? 'disk full' : 'exit 1'))
    expect(r.headline).toBe(
      'Qarnot task uuid-1 ended in state Failure: instances 1, 3-4 failed: exit 1; instance 5 failed: disk full'
    )
  })

  it('writes untrusted output between stop-commands markers', () => {
    const lines: string[] = []
    writeUntrusted({ info: line => lines.push(line) }, '::add-mask::x\n::error::y\n', 'tok')
    expect(lines).toEqual(['::stop-commands::tok', '::add-mask::x\n::error::y', '::tok::'])
  })

  it('escapes what HTML would read', () => {
    expect(escapeHtml('<a & b>')).toBe('&lt;a &amp; b&gt;')
  })
})

describe('what task text and sheer numbers cannot do to the report', () => {
  it('4,000 notes: the summary lists 30, counts the rest, and keeps the headline and the table', () => {
    const failed = report(3, {}, [1])
    const notes = Array.from({ length: 4000 }, (_, i) => `Result "out/.git/f${i}" was not written: no.`)
    const markdown = renderSummary({ ...failed, notes })
    expect(markdown).toContain(`> ${tableCell(failed.headline)}`)
    expect(markdown.match(/^- Result /gm)).toHaveLength(30)
    expect(markdown).toContain('- …and 3970 more notes: the step log has them all.')
    expect(markdown).toContain('| Instance |')
    expect(markdown).not.toContain('too large')
  })

  it('a task name of 1.2 MB: the summary stays within its budget', () => {
    const named = {
      ...report(3, {}),
      task: { uuid: 'u', url: 'https://tasq.qarnot.com/tasks/u', name: 'n'.repeat(1_200_000) }
    }
    expect(Buffer.byteLength(renderSummary(named))).toBeLessThan(SUMMARY_BUDGET_BYTES)
  })

  it('results: every instance of 5,000, and a failed one with a 600 KB error, stay in the output', () => {
    const texts: Texts = {}
    for (let id = 0; id < 5000; id++) texts[id] = { stdout: 'x'.repeat(200), stderr: '' }
    const many = JSON.parse(buildOutputs(report(5000, texts)).instances) as { id: number }[]
    expect(many.map(e => e.id)).toEqual(Array.from({ length: 5000 }, (_, id) => id))
    const huge = buildOutputs(report(3, {}, [1], () => 'E'.repeat(600_000)))
    const entries = JSON.parse(huge.instances) as { id: number; state: string; error: string | null }[]
    expect(entries.map(e => e.id)).toEqual([0, 1, 2])
    expect(entries[1].error?.length).toBeLessThanOrEqual(1025)
    expect(Buffer.byteLength(huge.instances)).toBeLessThanOrEqual(RESULTS_OUTPUT_BYTES)
  })

  it('a list item cannot become a heading, a mention cannot notify, a code span holds any name', () => {
    expect(listText('# Release')).toBe('\\# Release')
    expect(listText('12. step')).toBe('12\\. step')
    expect(tableCell('ping @octo-org/team about #12')).toBe('ping @\u2060octo-org/team about #\u206012')
    // Inside a URL, a digest or a path they stay exact: links and copied names keep working.
    for (const exact of [
      'https://npmjs.com/package/@types/node',
      'README.md#usage',
      'app@sha256:abc',
      'out/#1.txt'
    ])
      expect(tableCell(exact)).toBe(exact)
    expect(listText('    indented')).toBe('indented')
    expect(codeSpan('out_dir')).toBe('`out_dir`')
    expect(codeSpan('a`b')).toBe('``a`b``')
  })
})

describe('the summary of a re-run', () => {
  it('draws only the instances computed now, not those kept from earlier attempts', () => {
    // 10 instances: 0..7 kept from the first attempt (1.5 s each there), 8 and 9 computed now.
    const whole = report(10, {})
    const markdown = renderSummary({ ...whole, keptIds: [0, 1, 2, 3, 4, 5, 6, 7] })
    expect(markdown).toContain('**Wall time** of 2 instances')
    expect(renderSummary(whole)).toContain('**Wall time** of 10 instances')
  })
})

describe('the pull-request comment', () => {
  const context = {
    serverUrl: 'https://github.com',
    sha: 'abcdef1234567',
    runNumber: '31',
    runAttempt: '2',
    runUrl: 'https://github.com/o/r/actions/runs/99/attempts/2',
    workflow: 'CI #7',
    job: 'render'
  } as never

  it('links the run as "run 31" and writes nothing GitHub would autolink to an issue', () => {
    const body = renderComment(report(4, {}, [1]), context)
    expect(body).toContain(
      '<sub>Updated for commit abcdef1 · [run 31 attempt 2](https://github.com/o/r/actions/runs/99/attempts/2) · CI #\u20607 / render.'
    )
    expect(body).not.toMatch(/(^|[^&\w])#\d/m)
  })

  it('puts the instances that did not succeed first, then one row per other state, with icons', () => {
    const failing = Array.from({ length: 25 }, (_, i) => i * 40 + 3)
    const body = renderComment(report(1000, {}, failing), context)
    const rows = body.split('\n').filter(line => /^\| \d/.test(line))
    expect(rows.slice(0, 20).every(r => r.includes('| ❌ Failure |'))).toBe(true)
    expect(rows.slice(20).map(r => r.split(' | ')[1])).toEqual(['❌ Failure (5)', '✅ Success (975)'])
    for (const row of rows) for (const cell of row.split(' | ')) expect(cell.length).toBeLessThanOrEqual(120)
  })
})

describe('the header', () => {
  it('of a step that does not wait says nothing of following', () => {
    const submitted = stepReport(undefined, {}, { kind: 'submitted' })
    expect(renderSummary(submitted)).not.toContain('followed for')
    expect(renderComment(submitted, { serverUrl: 'https://github.com' } as never)).not.toContain(
      'followed for'
    )
  })

  it('writes a time too short to show as <0.1 s, never 0.0 s', () => {
    expect(formatSeconds(0.048)).toBe('<0.1 s')
    expect(formatSeconds(0)).toBe('0 s')
    expect(formatSeconds(0.05)).toBe('0.1 s')
    expect(renderSummary({ ...report(1, {}), elapsedMs: 48 })).toContain('followed for <0.1 s')
  })

  it('of a re-run says "Re-ran", links the earlier task, and marks the rows kept from it', () => {
    const earlier = '0f3a9c1e-1111-2222-3333-444455556666'
    const rerun = {
      ...report(4, {}, [3]),
      keptIds: [0, 2],
      rerun: { rerunIds: [1, 3], kept: [{ uuid: earlier, attempt: 1, ids: [0, 2] }] }
    }
    const markdown = renderSummary(rerun)
    expect(markdown).toContain(
      `**Re-ran** 2 of 4 instances (1, 3) · 2 kept from attempt 1 (task [\`0f3a9c1e\`](https://tasq.qarnot.com/tasks/${earlier}))`
    )
    expect(markdown).toContain('| Instance | State | Wall time | Exec time | Attempts | From | Error |')
    const from = (id: number) =>
      markdown
        .split('\n')
        .find(line => line.startsWith(`| ${id} |`))
        ?.split(' | ')[5]
    expect(from(0)).toBe(`kept from [attempt 1](https://tasq.qarnot.com/tasks/${earlier})`)
    expect(from(1)).toBe('this attempt')
    expect(from(3)).toBe('this attempt')
  })
})
