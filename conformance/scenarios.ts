/**
 * The scenarios: each a small independent function that talks raw HTTP to the API, checks what
 * docs/qarnot-api.md says (a failed check fails the scenario) and records what it saw, including what no document
 * settles (an observation never fails anything). docs/conformance.md describes each one.
 */
import { randomBytes } from 'node:crypto'
import { FINAL_STATES, type Json, type ScenarioContext } from './context.js'
import { outputText } from './http.js'
import { schemaErrors } from './schema.js'

export interface Scenario {
  readonly name: string
  readonly title: string
  readonly run: (ctx: ScenarioContext) => Promise<void>
}

const HELLO = "sh -c 'echo hello $INSTANCE_ID'"

/** The ids of an advanced range (`0-1,5`), sorted; `""` and null are none (docs/qarnot-api.md §6). */
export function rangeIds(range: unknown): number[] {
  if (typeof range !== 'string' || range.trim() === '') return []
  const ids = new Set<number>()
  for (const item of range.split(',')) {
    const [from, to = from] = item.trim().split('-').map(Number)
    for (let id = from; id <= to; id++) ids.add(id)
  }
  return [...ids].sort((a, b) => a - b)
}

/** How a collection came: `null`, absent, or an array of n. */
function shapeOf(value: unknown): string {
  if (value === undefined) return 'absent'
  if (value === null) return 'null'
  if (Array.isArray(value)) return `array(${value.length})`
  return typeof value
}

const typeOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value

const instanceIds = (task: Json): number[] =>
  Array.isArray(task.completedInstances)
    ? (task.completedInstances as Json[]).map(i => Number(i.instanceId)).sort((a, b) => a - b)
    : []

const statusOf = (task: Json): Json => (task.status as Json | null) ?? {}

/** Every schema error of a task document, recorded and checked. */
function checkSchema(ctx: ScenarioContext, label: string, task: Json): number {
  const errors = schemaErrors('TaskOutput', task)
  ctx.observe(`schemaErrors.${label}`, errors)
  ctx.check(
    errors.length === 0,
    `TaskOutput (${label}) does not match the OpenAPI schema: ${errors.join('; ')}`
  )
  return errors.length
}

async function create(ctx: ScenarioContext): Promise<void> {
  const body = ctx.taskBody('hello', HELLO)
  const started = Date.now()
  const uuid = await ctx.createTask(body)
  ctx.check(/^[0-9a-f-]{36}$/i.test(uuid), `POST /tasks answered a uuid that is not one: ${uuid}`)
  const first = await ctx.readTask(uuid)
  ctx.observe('firstState', first.state)
  ctx.check(first.uuid === uuid, `GET /tasks/{uuid} gives uuid ${String(first.uuid)}`)
  ctx.check(first.name === body.name, `name reads back as ${JSON.stringify(first.name)}`)
  ctx.check(first.profile === ctx.settings.profile, `profile reads back as ${JSON.stringify(first.profile)}`)
  ctx.check(first.instanceCount === 2, `instanceCount reads back as ${JSON.stringify(first.instanceCount)}`)
  const firstErrors = checkSchema(ctx, 'first read', first)
  const end = await ctx.waitForEnd(uuid)
  const { task } = end
  const ms = Date.now() - started
  const states = end.states[0] === first.state ? end.states : [String(first.state), ...end.states]
  const finalErrors = checkSchema(ctx, 'final', task)
  ctx.observe('states', states)
  ctx.observe('msFromCreateToEnd', ms)
  ctx.check(task.state === 'Success', `the task ended ${String(task.state)}, not Success`)
  ctx.observe('totalInstanceCount', task.totalInstanceCount)
  ctx.observe('tags', task.tags)
  ctx.observe('fieldTypes', {
    endDateBefore: first.endDate,
    endDate: typeOf(task.endDate),
    executionTime: typeOf(task.executionTime),
    poolUuid: typeOf(task.poolUuid),
    jobUuid: typeOf(task.jobUuid),
    errors: shapeOf(task.errors),
    completedInstances: shapeOf(task.completedInstances),
    constants: shapeOf(task.constants),
    statusFirstRead: typeOf(first.status)
  })
  ctx.summary = `${states.join(' > ')} in ${ms} ms; schema errors ${firstErrors + finalErrors}`
}

async function ranges(ctx: ScenarioContext): Promise<void> {
  const uuid = await ctx.createTask(
    ctx.taskBody('ranges', HELLO, { instanceCount: undefined, advancedRanges: '0-1,5' })
  )
  const { task } = await ctx.waitForEnd(uuid)
  ctx.check(task.state === 'Success', `the task ended ${String(task.state)}, not Success`)
  const ids = instanceIds(task)
  const succeeded = rangeIds(statusOf(task).succeededRange)
  ctx.observe('advancedRanges', task.advancedRanges)
  ctx.observe('instanceCount', task.instanceCount)
  ctx.observe('totalInstanceCount', task.totalInstanceCount)
  ctx.observe('completedInstances', shapeOf(task.completedInstances))
  ctx.observe('completedInstanceIds', ids)
  ctx.observe('succeededRange', statusOf(task).succeededRange)
  // A finished task may list no completed instance (docs/qarnot-api.md §4): only a non-empty list is checked.
  if (ids.length > 0)
    ctx.check(ids.join(',') === '0,1,5', `completedInstances are ${ids.join(',')}, not 0,1,5`)
  ctx.check(
    succeeded.join(',') === '0,1,5',
    `status.succeededRange is ${String(statusOf(task).succeededRange)}`
  )
  ctx.check(task.totalInstanceCount === 3, `totalInstanceCount is ${String(task.totalInstanceCount)}, not 3`)
  const five = outputText(await ctx.api.expect('GET', `/tasks/${uuid}/stdout/5`)).text
  ctx.observe('stdoutOfInstance5', five.slice(0, 200))
  ctx.check(five.includes('hello 5'), `instance 5's stdout has no "hello 5" (INSTANCE_ID is the range's id)`)
  ctx.summary = `completedInstances ${ids.join(',') || shapeOf(task.completedInstances)}, succeededRange ${String(statusOf(task).succeededRange)}, instanceCount ${String(task.instanceCount)}`
}

async function output(ctx: ScenarioContext): Promise<void> {
  const uuid = await ctx.createTask(ctx.taskBody('output', HELLO))
  const { task } = await ctx.waitForEnd(uuid)
  ctx.check(task.state === 'Success', `the task ended ${String(task.state)}, not Success`)
  const whole = await ctx.api.expect('GET', `/tasks/${uuid}/stdout`)
  const { text, form } = outputText(whole)
  ctx.observe('taskStdout', text.slice(0, 500))
  ctx.observe('taskStdoutForm', form)
  ctx.observe('taskStdoutContentType', whole.contentType)
  const prefixed = /^0> ?hello 0$/m.test(text) && /^1> ?hello 1$/m.test(text)
  ctx.observe('taskStdoutPrefix', prefixed ? (/^0> hello/m.test(text) ? '"<id>> "' : '"<id>>"') : 'none seen')
  for (const id of [0, 1]) {
    ctx.check(text.includes(`hello ${id}`), `GET /tasks/{uuid}/stdout has no "hello ${id}"`)
    const one = outputText(await ctx.api.expect('GET', `/tasks/${uuid}/stdout/${id}`)).text
    ctx.observe(`instance${id}Stdout`, one.slice(0, 200))
    ctx.check(one.includes(`hello ${id}`), `GET /tasks/{uuid}/stdout/${id} has no "hello ${id}"`)
    ctx.check(
      !one.includes(`hello ${1 - id}`),
      `GET /tasks/{uuid}/stdout/${id} has the other instance's line`
    )
  }
  const stderr = await ctx.api.call('GET', `/tasks/${uuid}/stderr`)
  ctx.observe('taskStderrStatus', stderr.status)
  ctx.check(stderr.status === 200, `GET /tasks/{uuid}/stderr answered ${stderr.status}`)
  const missing = await ctx.api.call('GET', `/tasks/${uuid}/stdout/99`)
  ctx.observe('unknownInstanceStatus', missing.status)
  ctx.check(missing.status === 404, `GET /tasks/{uuid}/stdout/99 answered ${missing.status}, not 404`)
  ctx.summary = `stdout as ${form}, prefix ${String(ctx.observed.taskStdoutPrefix)}; unknown instance ${missing.status}`
}

async function cancel(ctx: ScenarioContext): Promise<void> {
  const uuid = await ctx.createTask(ctx.taskBody('sleep', 'sleep 600', { instanceCount: 1 }))
  const running = await ctx.waitFor(
    uuid,
    t => /Executing$/.test(String(t.state)) || FINAL_STATES.includes(String(t.state))
  )
  ctx.observe('statesBeforeAbort', running.states)
  ctx.check(
    !FINAL_STATES.includes(String(running.task.state)),
    `a sleep 600 task ended ${String(running.task.state)} by itself`
  )
  const abort = await ctx.api.call('POST', `/tasks/${uuid}/abort`)
  ctx.observe('abortStatus', abort.status)
  if (!ctx.check(abort.status === 200, `POST /tasks/{uuid}/abort answered ${abort.status}`)) {
    ctx.summary = `abort answered ${abort.status}`
    return
  }
  const { task, states, ms } = await ctx.waitFor(
    uuid,
    t => FINAL_STATES.includes(String(t.state)),
    ctx.settings.cancelTimeoutMs
  )
  ctx.observe('statesAfterAbort', states)
  ctx.observe('msToCancelled', ms)
  ctx.check(task.state === 'Cancelled', `the aborted task ended ${String(task.state)}, not Cancelled`)
  ctx.observe('cancelledRange', statusOf(task).cancelledRange)
  ctx.observe('failedRange', statusOf(task).failedRange)
  ctx.observe('completedInstances', task.completedInstances)
  const again = await ctx.api.call('POST', `/tasks/${uuid}/abort`)
  ctx.observe('abortAgainStatus', again.status)
  ctx.observe('abortAgainBody', again.text.slice(0, 200))
  ctx.check(again.status === 403, `aborting an ended task answered ${again.status}, not 403`)
  ctx.summary = `${states.join(' > ')} ${ms} ms after abort; abort again ${again.status}`
}

/** Whitelists whose uploads tell what the API matches them against (docs/qarnot-api.md §8 says the relative path). */
const WHITELISTS: { key: string; pattern?: string; matches: string }[] = [
  { key: 'none', matches: 'control: no whitelist' },
  { key: 'out', pattern: '^out/', matches: 'the path relative to $TASK_PATH (out/result.txt)' },
  { key: 'slash', pattern: '^/', matches: 'an absolute path (/.../out/result.txt)' },
  { key: 'name', pattern: '^result\\.txt$', matches: 'the file name alone (result.txt)' }
]

async function files(ctx: ScenarioContext): Promise<void> {
  const storage = await ctx.storage()
  const input = ctx.bucket('in')
  const content = `conformance input ${ctx.settings.runId}\n`
  await storage.createBucket(input)
  await storage.putText(input, 'input.txt', content)
  const command = "sh -c 'pwd; mkdir -p out && cat input.txt > out/result.txt && cat out/result.txt'"
  const runs = await Promise.all(
    WHITELISTS.map(async variant => {
      const results = ctx.bucket(`out-${variant.key}`)
      const uuid = await ctx.createTask(
        ctx.taskBody(`files-${variant.key}`, command, {
          instanceCount: 1,
          resourceBuckets: [input],
          resultBucket: results,
          ...(variant.pattern !== undefined && { resultsWhitelist: variant.pattern })
        })
      )
      const { task } = await ctx.waitForEnd(uuid)
      const stdout = outputText(await ctx.api.expect('GET', `/tasks/${uuid}/stdout/0`)).text
      const keys = (await storage.keys(results)) ?? null
      const uploaded = keys?.includes('out/result.txt') ?? false
      const text = uploaded ? await storage.getText(results, 'out/result.txt') : undefined
      return { variant, task, stdout, keys, uploaded, text }
    })
  )
  const [control] = runs
  for (const run of runs)
    ctx.check(run.task.state === 'Success', `${run.variant.key}: the task ended ${String(run.task.state)}`)
  ctx.observe('workingDirectory', control.stdout.split('\n')[0])
  ctx.check(control.stdout.includes(content), 'the task did not read input.txt from its resource bucket')
  ctx.check(
    control.uploaded,
    `without a whitelist out/result.txt was not uploaded (keys: ${JSON.stringify(control.keys)})`
  )
  ctx.check(control.text === content, `out/result.txt came back as ${JSON.stringify(control.text)}`)
  ctx.check(
    !(control.keys ?? []).includes('input.txt'),
    'the unchanged resource input.txt was uploaded as a result'
  )
  const matching = runs.slice(1).filter(run => run.uploaded)
  ctx.observe(
    'resultsWhitelist',
    Object.fromEntries(
      runs.map(run => [run.variant.pattern ?? '(none)', { keys: run.keys, uploaded: run.uploaded }])
    )
  )
  ctx.observe(
    'whitelistMatchedAgainst',
    matching.map(run => run.variant.matches)
  )
  const documented = runs[1].uploaded && !runs[2].uploaded && !runs[3].uploaded
  ctx.observe('whitelistAsDocumented', documented)
  ctx.summary = `whitelist matched against: ${matching.map(run => run.variant.matches).join(' and ') || 'none of the three'}`
}

async function lookup(ctx: ScenarioContext): Promise<void> {
  const shortname = `qconf-${ctx.settings.runId}-lookup`
  const uuid = await ctx.createTask(ctx.taskBody('lookup', HELLO, { shortname }))
  const { task: whole } = await ctx.waitForEnd(uuid)
  const byShortname = await ctx.api.call('GET', `/tasks/${shortname}`)
  ctx.observe('byShortnameStatus', byShortname.status)
  ctx.check(
    byShortname.status === 200 && (byShortname.json() as Json).uuid === uuid,
    `GET /tasks/{shortname} answered ${byShortname.status}`
  )
  const listed = (await ctx.api.json('GET', `/tasks?tag=${encodeURIComponent(ctx.tag)}`)) as Json[]
  ctx.check(Array.isArray(listed), 'GET /tasks?tag= does not answer an array')
  const entry = listed.find(t => t.uuid === uuid)
  ctx.check(entry !== undefined, 'GET /tasks?tag= does not list the task carrying the tag')
  ctx.check(
    listed.every(t => Array.isArray(t.tags) && t.tags.includes(ctx.tag)),
    'GET /tasks?tag= lists tasks without the tag'
  )
  ctx.observe('listedByTag', listed.length)
  ctx.observe(
    'listEntry',
    entry && {
      completedInstances: shapeOf(entry.completedInstances),
      wholeTaskCompletedInstances: shapeOf(whole.completedInstances),
      status: typeOf(entry.status),
      succeededRange: statusOf(entry).succeededRange ?? null,
      advancedRanges: entry.advancedRanges ?? null,
      state: entry.state
    }
  )
  const unused = (await ctx.api.json(
    'GET',
    `/tasks?tag=qconf-unused-${randomBytes(6).toString('hex')}`
  )) as Json[]
  ctx.observe('listedByUnusedTag', Array.isArray(unused) ? unused.length : unused)
  ctx.check(
    Array.isArray(unused) && unused.length === 0,
    'GET /tasks?tag=<a tag no task has> lists tasks: the filter is ignored'
  )
  const all = (await ctx.api.json('GET', '/tasks')) as Json[]
  const info = (await ctx.api.json('GET', '/info')) as Json
  ctx.observe('listedWithoutFilter', all.length)
  ctx.observe('infoTaskCount', info.taskCount)
  ctx.observe('listCapped', typeof info.taskCount === 'number' ? all.length < info.taskCount : null)
  await paginate(ctx, uuid)
  ctx.summary = `list entry completedInstances ${shapeOf(entry?.completedInstances)} (whole: ${shapeOf(whole.completedInstances)}); GET /tasks ${all.length} of ${String(info.taskCount)}; paginate ${String(ctx.observed.paginateStatus)}`
}

/** `POST /tasks/paginate` (OpenAPI; not used by the action): observed only. */
async function paginate(ctx: ScenarioContext, uuid: string): Promise<void> {
  const page = await ctx.api.call('POST', '/tasks/paginate', { maximumResults: 1 })
  ctx.observe('paginateStatus', page.status)
  if (page.status !== 200) return ctx.observe('paginateBody', page.text.slice(0, 200))
  const body = page.json() as Json
  const data = Array.isArray(body.data) ? (body.data as Json[]) : []
  ctx.observe('paginatePage', {
    keys: Object.keys(body),
    count: body.count,
    total: body.total,
    isTruncated: body.isTruncated,
    nextToken: typeOf(body.nextToken),
    entryCompletedInstances: shapeOf(data[0]?.completedInstances)
  })
  const filter = { field: 'Tags', operator: 'Equal', value: ctx.tag }
  const filtered = await ctx.api.call('POST', '/tasks/paginate', { maximumResults: 10, filter })
  ctx.observe('paginateByTagStatus', filtered.status)
  if (filtered.status === 200) {
    const found = ((filtered.json() as Json).data as Json[] | null) ?? []
    ctx.observe(
      'paginateByTagFound',
      found.some(t => t.uuid === uuid)
    )
    ctx.observe('paginateByTagCount', found.length)
  }
}

async function credits(ctx: ScenarioContext): Promise<void> {
  const info = (await ctx.api.json('GET', '/info')) as Json
  ctx.check(typeof info.email === 'string', 'GET /info has no email')
  for (const field of ['maxTask', 'taskCount', 'maxRunningTask', 'runningTaskCount'])
    ctx.check(typeof info[field] === 'number', `GET /info ${field} is ${typeOf(info[field])}, not a number`)
  ctx.observe(
    'infoFields',
    Object.fromEntries(
      Object.entries(info)
        .filter(([k]) => k !== 'email')
        .map(([k, v]) => [k, typeOf(v)])
    )
  )
  const uuid = await ctx.createTask(
    ctx.taskBody('credits', "sh -c 'echo hello $INSTANCE_ID; sleep 1'", { instanceCount: 1 })
  )
  const { task } = await ctx.waitForEnd(uuid)
  ctx.check(task.state === 'Success', `the task ended ${String(task.state)}, not Success`)
  const status = statusOf(task)
  const instance =
    (Array.isArray(task.completedInstances) ? (task.completedInstances as Json[])[0] : undefined) ?? {}
  const figures = {
    executionTime: task.executionTime,
    wallTime: task.wallTime,
    'status.executionTimeSec': status.executionTimeSec,
    'status.wallTimeSec': status.wallTimeSec,
    'status.executionTime': status.executionTime,
    'completedInstances[0].execTimeSec': instance.execTimeSec,
    'completedInstances[0].execTimeSecGHz': instance.execTimeSecGHz,
    'completedInstances[0].wallTimeSec': instance.wallTimeSec
  }
  ctx.observe('costFields', figures)
  ctx.check(
    typeof task.executionTime === 'string',
    `executionTime after the end is ${typeOf(task.executionTime)}`
  )
  ctx.check(
    typeof status.executionTimeSec === 'number',
    `status.executionTimeSec is ${typeOf(status.executionTimeSec)}`
  )
  const credit = await figuresOf(ctx, `/credits/v1/tasks/${uuid}/credits`)
  ctx.observe('credits', credit)
  if (credit.status === 200)
    ctx.check(
      typeof (credit.body as Json | undefined)?.credits === 'number',
      'the credits answer has no number `credits`'
    )
  const carbon = await figuresOf(ctx, `/carbon/v1/tasks/${uuid}/carbon-facts`)
  ctx.observe('carbonFacts', {
    status: carbon.status,
    keys: carbon.body && typeof carbon.body === 'object' ? Object.keys(carbon.body) : null
  })
  ctx.summary = `executionTime ${String(task.executionTime)}; credits ${credit.status}${credit.status === 200 ? ` ${JSON.stringify(credit.body)}` : ''}; carbon ${carbon.status}`
}

/**
 * A credits or carbon answer: 403 and 404 are allowed (docs/qarnot-api.md §9), and a 404 right after the end may
 * turn into figures, so a 404 is read again for `figuresWaitMs` (a minute on the real API).
 */
async function figuresOf(
  ctx: ScenarioContext,
  path: string
): Promise<{ status: number; body?: unknown; tries: number }> {
  const deadline = Date.now() + ctx.settings.figuresWaitMs
  for (let tries = 1; ; tries++) {
    const answer = await ctx.api.call('GET', path)
    if (answer.status === 200) {
      let body: unknown
      try {
        body = answer.json()
      } catch {
        body = answer.text.slice(0, 200)
      }
      return { status: 200, body, tries }
    }
    if (answer.status !== 404 || Date.now() > deadline)
      return { status: answer.status, body: answer.text.slice(0, 200), tries }
    await ctx.sleep(ctx.settings.pollMs)
  }
}

export const SCENARIOS: readonly Scenario[] = [
  { name: 'create', title: 'create and read back a docker-batch task', run: create },
  { name: 'ranges', title: 'advancedRanges 0-1,5', run: ranges },
  { name: 'output', title: 'task and instance stdout', run: output },
  { name: 'cancel', title: 'abort a running task', run: cancel },
  { name: 'files', title: 'resources in, results out, resultsWhitelist', run: files },
  { name: 'lookup', title: 'find tasks again: tags, shortname, paginate', run: lookup },
  { name: 'credits', title: 'account info and cost figures', run: credits }
]
