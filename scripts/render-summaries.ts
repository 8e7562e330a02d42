/**
 * Sample job summaries, for looking at them: a maintenance script, not run by the tests. It simulates tasks (4
 * instances; 40 with failures and stragglers on a 16-slot quota; 3,000 on 500 slots with 31 scattered failures; 12
 * with files; a re-run that computed 3 of 40 again; a run cut by its timeout; a run half from the cache), feeds
 * every task document a poll would read to the timeline recorder, and writes each summary as Markdown.
 *
 *   npx tsx scripts/render-summaries.ts [OUT_DIR]          Markdown only, in OUT_DIR (default .tmp/summaries)
 *
 * To draw them as GitHub does (Markdown to HTML, Mermaid in a browser), point SUMMARY_RENDERER at a folder,
 * outside the project, that has `marked`, `mermaid`, `puppeteer-core` and `github-markdown-css` installed, and
 * CHROMIUM at a Chromium binary:
 *
 *   mkdir -p /tmp/render && cd /tmp/render && npm init -y &&
 *     PUPPETEER_SKIP_DOWNLOAD=1 npm install marked mermaid puppeteer-core github-markdown-css
 *   apt-get install -y chromium
 *   SUMMARY_RENDERER=/tmp/render CHROMIUM=/usr/bin/chromium npx tsx scripts/render-summaries.ts
 *
 * Then each sample also gets OUT_DIR/<name>.png (the whole summary, each <details> open or closed as GitHub shows
 * it) and docs/images/summary-<name>.png (for the README: the "Time and memory" section of 4, 40-failures and
 * 3000, the head of the others), made smaller by `pngquant` when it is on the PATH (`apt-get install -y pngquant`).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { CompletedInstanceWire, TaskOutputWire } from '../src/qarnot/types.js'
import { formatIds, type IdInterval } from '../src/ranges.js'
import type { OutputReader, StepReport } from '../src/report/model.js'
import { decideOutcome, describeOutcome, type StepEnding } from '../src/report/outcome.js'
import { renderSummary } from '../src/report/summary.js'
import { pollIntervalMs } from '../src/task/poll-schedule.js'
import { TaskTimeline } from '../src/task/timeline.js'
import { decideVerdict, type Verdict } from '../src/task/verdict.js'

interface Scenario {
  readonly name: string
  readonly count: number
  /** Instances running at once (a quota): the rest wait. */
  readonly slots: number
  /** Median execution time and its spread (lognormal sigma). */
  readonly medianSec: number
  readonly sigma: number
  readonly stragglers: Readonly<Record<number, number>>
  /** Failing ids, with the fraction of their normal time they ran before failing. */
  readonly failures: Readonly<Record<number, number>>
  readonly memoryMB: number
  /** Stop following at this many ms after the start (the timeout). */
  readonly timeoutMs?: number
  /** What the run adds to the report: files, a re-run, the cache. */
  readonly extras?: (verdict: Verdict) => Partial<StepReport>
}

const SCENARIOS: readonly Scenario[] = [
  { name: '4', count: 4, slots: 4, medianSec: 6, sigma: 0.1, stragglers: {}, failures: {}, memoryMB: 60 },
  {
    name: '40-failures',
    count: 40,
    slots: 16,
    medianSec: 45,
    sigma: 0.2,
    stragglers: { 11: 3.2, 27: 2.6 },
    failures: { 7: 0.05, 19: 0.1, 33: 1.8 },
    memoryMB: 900
  },
  {
    name: '3000',
    count: 3000,
    slots: 500,
    medianSec: 90,
    sigma: 0.25,
    stragglers: Object.fromEntries(
      [17, 230, 1988, 2400, 2999, 640, 1210].map((id, i) => [id, 2.5 + i * 0.3])
    ),
    // 31 failures scattered over the ids, some quick, some at the usual time.
    failures: Object.fromEntries(Array.from({ length: 31 }, (_, i) => [i * 97 + 11, i % 3 === 0 ? 1 : 0.2])),
    memoryMB: 2400
  },
  {
    name: 'files',
    count: 12,
    slots: 12,
    medianSec: 20,
    sigma: 0.15,
    stragglers: {},
    failures: {},
    memoryMB: 300,
    extras: () => ({
      files: {
        staged: { files: 612, bytes: 43_200_000, bytesSent: 1_250_000, ms: 340 },
        results: { directory: 'out', files: 12, bytes: 4_100_000, ms: 3_100, incomplete: false }
      },
      resultsDir: '/home/runner/work/repo/repo/out'
    })
  },
  {
    name: 'rerun',
    count: 40,
    slots: 16,
    medianSec: 45,
    sigma: 0.2,
    stragglers: {},
    failures: {},
    memoryMB: 900,
    // Attempt 2 of "Re-run failed jobs": 7, 19 and 33 computed again, the 37 others kept from attempt 1.
    extras: verdict => {
      const rerunIds = [7, 19, 33]
      const kept = verdict.instances.filter(i => !rerunIds.includes(i.id)).map(i => i.id)
      return {
        keptIds: kept,
        rerun: { rerunIds, kept: [{ uuid: EARLIER_TASK, attempt: 1, ids: kept }] }
      }
    }
  },
  {
    name: 'timeout',
    count: 40,
    slots: 16,
    medianSec: 45,
    sigma: 0.2,
    stragglers: { 11: 3.2 },
    failures: {},
    memoryMB: 900,
    timeoutMs: 120_000
  },
  {
    name: 'cached',
    count: 10,
    slots: 10,
    medianSec: 30,
    sigma: 0.2,
    stragglers: {},
    failures: {},
    memoryMB: 500,
    extras: () => ({
      keptIds: [0, 1, 2, 3, 4, 5],
      cache: {
        mode: 'write',
        hitIds: [0, 1, 2, 3, 4, 5],
        sources: [{ task: EARLIER_TASK, hits: 6, taskInstances: 10 }],
        savedInstanceSec: 186,
        savedCredits: 0.42,
        image: { digest: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' },
        storedCount: 4
      }
    })
  }
]

const EARLIER_TASK = '0f3a9c1e-5d2b-4c7a-9e61-2b8f4d7c3a10'

const T0 = Date.UTC(2026, 10, 30, 10, 0, 0)
/** Setup before execution (phases dispatch, download, environment), and the upload after, per instance. */
const SETUP_MS = 3_000
const UPLOAD_MS = 1_000

/** A small deterministic generator (mulberry32), so the samples are the same on every run. */
function random(seed: number): () => number {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface PlannedInstance {
  readonly id: number
  readonly startMs: number
  readonly endMs: number
  readonly failed: boolean
  readonly memoryMB: number
}

/** When each instance runs: queued until a slot frees, then setup, execution, upload. */
function plan(scenario: Scenario, dispatchedMs: number): PlannedInstance[] {
  const next = random(scenario.count)
  const slotsFree = Array.from({ length: scenario.slots }, () => dispatchedMs)
  return Array.from({ length: scenario.count }, (_, id) => {
    const normal = Math.sqrt(-2 * Math.log(next() || 1e-9)) * Math.cos(2 * Math.PI * next())
    let execMs = scenario.medianSec * 1000 * Math.exp(scenario.sigma * normal)
    execMs *= scenario.stragglers[id] ?? 1
    const failed = id in scenario.failures
    if (failed) execMs *= scenario.failures[id]
    slotsFree.sort((a, b) => a - b)
    const startMs = slotsFree[0] + 200 + next() * 800
    const endMs = startMs + SETUP_MS + execMs + UPLOAD_MS
    slotsFree[0] = endMs
    return { id, startMs, endMs, failed, memoryMB: scenario.memoryMB * (0.6 + 0.5 * next()) }
  })
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '0000Z')
}

function phaseAt(instance: PlannedInstance, at: number): string {
  if (at < instance.startMs + 1_000) return 'dispatch'
  if (at < instance.startMs + SETUP_MS) return 'environment'
  return at < instance.endMs - UPLOAD_MS ? 'execution' : 'upload'
}

interface TaskClock {
  readonly dispatchedMs: number
  readonly executingMs: number
  readonly uploadingMs: number
  readonly endMs: number
}

function stateAt(clock: TaskClock, at: number, waiting: boolean, failed: boolean): [string, number] {
  if (at >= clock.endMs) return [failed ? 'Failure' : 'Success', clock.endMs]
  if (at >= clock.uploadingMs) return ['UploadingResults', clock.uploadingMs]
  if (at >= clock.executingMs)
    return waiting ? ['PartiallyExecuting', clock.executingMs] : ['FullyExecuting', clock.executingMs]
  if (at >= clock.dispatchedMs) return ['FullyDispatched', clock.dispatchedMs]
  return ['Submitted', T0]
}

/** The task document a read at `at` would get. */
function documentAt(
  scenario: Scenario,
  planned: PlannedInstance[],
  clock: TaskClock,
  at: number
): TaskOutputWire {
  const ended = planned.filter(i => i.endMs <= at)
  const running = planned.filter(i => i.startMs <= at && i.endMs > at)
  const waiting = planned.some(i => i.startMs > at)
  const [state, since] = stateAt(
    clock,
    at,
    waiting,
    planned.some(i => i.failed)
  )
  const completed: CompletedInstanceWire[] = ended.map(i => ({
    instanceId: i.id,
    state: i.failed ? 'Failure' : 'Success',
    error: i.failed ? { message: 'exit code 1', code: 'exit' } : null,
    wallTimeSec: (i.endMs - i.startMs) / 1000,
    execTimeSec: (i.endMs - i.startMs - SETUP_MS - UPLOAD_MS) / 1000,
    peakMemoryMB: Math.round(i.memoryMB),
    executionAttemptCount: 1
  }))
  const ids = (list: PlannedInstance[]): string => formatIds(list.map(i => i.id))
  return {
    uuid: `sample-${scenario.name}`,
    name: `sample ${scenario.name}`,
    state,
    instanceCount: scenario.count,
    creationDate: iso(T0),
    stateTransitionTime: iso(since),
    endDate: at >= clock.endMs ? iso(clock.endMs) : '0001-01-01T00:00:00Z',
    wallTime: at >= clock.endMs ? span((clock.endMs - T0) / 1000) : null,
    completedInstances: completed,
    status: {
      succeededRange: ids(ended.filter(i => !i.failed)),
      failedRange: ids(ended.filter(i => i.failed)),
      executedRange: ids(ended),
      runningInstancesInfo: {
        perRunningInstanceInfo: running.map(i => ({ instanceId: i.id, phase: phaseAt(i, at) }))
      }
    }
  }
}

/** Seconds as a .NET time span, `d.hh:mm:ss.fffffff`. */
function span(seconds: number): string {
  const days = Math.floor(seconds / 86400)
  const rest = new Date(Math.round((seconds % 86400) * 1000)).toISOString().slice(11, 23)
  return `${days > 0 ? `${days}.` : ''}${rest}0000`
}

/** Polls the simulated task as the action would (its schedule, plus request latency) until it ends. */
function simulate(scenario: Scenario): { last: TaskOutputWire; timeline: TaskTimeline; elapsedMs: number } {
  const dispatchedMs = T0 + 5_000
  const planned = plan(scenario, dispatchedMs + 4_000)
  const lastEnd = Math.max(...planned.map(i => i.endMs))
  const clock: TaskClock = {
    dispatchedMs,
    executingMs: Math.min(...planned.map(i => i.startMs)),
    uploadingMs: lastEnd,
    endMs: lastEnd + 4_000
  }
  const timeline = new TaskTimeline()
  const started = T0 + 400
  let at = started
  let last: TaskOutputWire
  for (;;) {
    last = documentAt(scenario, planned, clock, at)
    timeline.observe(last, at)
    if (at >= clock.endMs) break
    if (scenario.timeoutMs !== undefined && at - started >= scenario.timeoutMs) break
    at += pollIntervalMs(at - started) + 150
  }
  return { last, timeline, elapsedMs: at - started }
}

/** One line of output per instance, and an error line for those that failed. */
function sampleOutput(failed: readonly number[]): OutputReader {
  const read = (id: number, stream: string): { text: string; totalBytes: number } => {
    const text =
      stream === 'stdout'
        ? `frame ${id} rendered\n`
        : failed.includes(id)
          ? `error: frame ${id}: out of range\n`
          : ''
    return { text, totalBytes: Buffer.byteLength(text) }
  }
  return { tail: read, head: read }
}

function sampleMarkdown(scenario: Scenario): string {
  const { last, timeline, elapsedMs } = simulate(scenario)
  const requested: IdInterval[] = [{ first: 0, last: scenario.count - 1 }]
  const verdict = decideVerdict(last, requested)
  const ending: StepEnding =
    scenario.timeoutMs !== undefined
      ? { kind: 'followed', ending: 'timeout', leftRunning: false }
      : { kind: 'followed', ending: 'final', leftRunning: false }
  const outcome = decideOutcome(ending, verdict)
  const report: StepReport = {
    outcome,
    ...describeOutcome({ ending, outcome, verdict, uuid: last.uuid, timeoutMs: scenario.timeoutMs }),
    task: { uuid: last.uuid, url: `https://tasq.qarnot.com/tasks/${last.uuid}`, name: last.name ?? '' },
    state: last.state,
    verdict,
    requestedCount: scenario.count,
    outputs: sampleOutput(verdict.failedIds),
    logsDir: '/home/runner/work/_temp/qarnot-logs-1f2e3d',
    elapsedMs,
    notes: [],
    timeline,
    cost: { credits: 0.0021 * scenario.count * scenario.medianSec }
  }
  return renderSummary({ ...report, ...scenario.extras?.(verdict) })
}

/** The page GitHub would show: the Markdown as HTML in GitHub's styles, Mermaid blocks drawn in the page. */
function page(markdownHtml: string, rendererDir: string): string {
  const css = readFileSync(
    join(rendererDir, 'node_modules/github-markdown-css/github-markdown-light.css'),
    'utf8'
  )
  const mermaidJs = pathToFileURL(join(rendererDir, 'node_modules/mermaid/dist/mermaid.min.js')).href
  const html = markdownHtml.replace(
    /<pre><code class="language-mermaid">([\s\S]*?)<\/code><\/pre>/g,
    (_, code: string) => `<pre class="mermaid">${code}</pre>`
  )
  return `<!doctype html><html><head><meta charset="utf-8"><style>${css}
body { margin: 0; background: #fff } .markdown-body { box-sizing: border-box; width: 1012px; padding: 24px }
pre.mermaid { background: none }</style><script src="${mermaidJs}"></script></head>
<body><article class="markdown-body">${html}</article><script>
// Open every <details> first: Mermaid cannot measure text in a closed one (GitHub draws each block on its own);
// once drawn, each is put back as the summary has it.
const details = [...document.querySelectorAll('details')]
const wasOpen = details.map(d => d.open)
details.forEach(d => { d.open = true })
mermaid.initialize({ startOnLoad: false, theme: 'default' })
mermaid.run().then(() => {
  details.forEach((d, i) => { d.open = wasOpen[i] })
  window.done = 'ok'
}, e => { window.done = String(e) })
</script></body></html>`
}

interface Browser {
  newPage(): Promise<BrowserPage>
  close(): Promise<void>
}
interface BrowserPage {
  setViewport(viewport: { width: number; height: number; deviceScaleFactor: number }): Promise<void>
  goto(url: string): Promise<unknown>
  waitForFunction(body: string, options: { timeout: number }): Promise<unknown>
  evaluate(body: string): Promise<unknown>
  screenshot(options: Record<string, unknown>): Promise<unknown>
  close(): Promise<void>
}

/** For the README: the pictures of these samples; the head of the others (title, figures, table). */
const PICTURES_SHOWN = new Set(['4', '40-failures', '3000'])

/** The "### Time and memory" section (`pictures`), or everything above the first "###" (`head`), as a box. */
function sectionBox(part: 'pictures' | 'head'): string {
  return `(() => {
  const part = ${JSON.stringify(part)}
  const heads = [...document.querySelectorAll('h2, h3')]
  const start = part === 'head' ? heads[0] : heads.find(h => h.textContent.startsWith('Time and memory'))
  if (!start) return null
  let end = start
  while (end.nextElementSibling && !/^H[1-3]$/.test(end.nextElementSibling.tagName)) end = end.nextElementSibling
  const a = start.getBoundingClientRect(), b = end.getBoundingClientRect()
  return { x: 0, y: a.top + window.scrollY - 8, width: 1012, height: b.bottom - a.top + 24 }
})()`
}

async function drawAll(samples: { name: string; markdown: string }[], outDir: string): Promise<void> {
  const rendererDir = process.env.SUMMARY_RENDERER
  if (!rendererDir) return
  const load = (name: string, file: string): Promise<unknown> =>
    import(pathToFileURL(join(rendererDir, 'node_modules', name, file)).href)
  const { marked } = (await load('marked', 'lib/marked.esm.js')) as { marked: (md: string) => string }
  const puppeteer = (await load('puppeteer-core', 'lib/esm/puppeteer/puppeteer-core.js')) as {
    default: { launch(options: Record<string, unknown>): Promise<Browser> }
  }
  const browser = await puppeteer.default.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--allow-file-access-from-files']
  })
  try {
    for (const { name, markdown } of samples)
      await drawOne(browser, name, marked(markdown), outDir, rendererDir)
  } finally {
    await browser.close()
  }
}

async function drawOne(browser: Browser, name: string, html: string, outDir: string, rendererDir: string) {
  const file = join(outDir, `${name}.html`)
  writeFileSync(file, page(html, rendererDir))
  const tab = await browser.newPage()
  await tab.setViewport({ width: 1012, height: 800, deviceScaleFactor: 1 })
  await tab.goto(pathToFileURL(file).href)
  await tab.waitForFunction('window.done !== undefined', { timeout: 30_000 })
  const done = await tab.evaluate('window.done')
  if (done !== 'ok') console.error(`${name}: Mermaid said ${String(done)}`)
  await tab.screenshot({ path: join(outDir, `${name}.png`), fullPage: true })
  // The README's pictures show the timeline unfolded.
  if (PICTURES_SHOWN.has(name))
    await tab.evaluate(
      "document.querySelectorAll('details').forEach(d => { if (d.textContent.startsWith('When the instances ran')) d.open = true })"
    )
  const box = await tab.evaluate(sectionBox(PICTURES_SHOWN.has(name) ? 'pictures' : 'head'))
  if (box) {
    const path = resolve('docs/images', `summary-${name}.png`)
    await tab.screenshot({ path, clip: box })
    // Lossy but sharp for flat colours: a fifth of the size. Skipped when pngquant is not installed.
    spawnSync('pngquant', ['--force', '--skip-if-larger', '--output', path, '--', path])
    console.log(`wrote ${path}`)
  }
  await tab.close()
}

async function main(): Promise<void> {
  const outDir = resolve(process.argv[2] ?? '.tmp/summaries')
  mkdirSync(outDir, { recursive: true })
  mkdirSync('docs/images', { recursive: true })
  const samples = SCENARIOS.map(s => ({ name: s.name, markdown: sampleMarkdown(s) }))
  for (const { name, markdown } of samples) {
    writeFileSync(join(outDir, `${name}.md`), markdown)
    console.log(`wrote ${join(outDir, `${name}.md`)} (${Buffer.byteLength(markdown)} bytes)`)
  }
  await drawAll(samples, outDir)
}

await main()
