/**
 * The bundled action (dist/index.js) started as the runner starts it, against the emulator: real processes,
 * real signals, the command files read back.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import type { QarnotEmulator } from '../emulator/server.js'
import { runAction, startStep, type StepResult, readActionDefinition } from '../src/local-runner/runner.js'
import { fastEmulator, waitForState } from './helpers/emulator.js'

let emulator: QarnotEmulator
afterEach(async () => {
  await emulator.stop()
})

function api(): Record<string, string> {
  return { token: emulator.token, 'api-url': emulator.url }
}

async function untilExecuting(timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!emulator.allTasks().some(t => t.state === 'FullyExecuting')) {
    if (Date.now() > deadline) throw new Error('no task reached FullyExecuting')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('dist/index.js as the runner runs it', () => {
  beforeEach(async () => {
    emulator = await fastEmulator()
  })

  it('runs the hello world: four lines, outputs, summary, exit 0, post does nothing', async () => {
    const { main, post } = await runAction({
      inputs: { ...api(), 'instance-count': '4', command: 'echo hello world from node ${INSTANCE_ID}!' }
    })
    expect(main.exitCode).toBe(0)
    for (let i = 0; i < 4; i++) expect(main.log).toContain(`hello world from node ${i}!\n`)
    expect(main.outputs).toMatchObject({
      'qarnot-outcome': 'success',
      state: 'Success',
      'instance-count': '4'
    })
    expect(main.summary).toContain('✅ Qarnot task succeeded: 4/4 instances')
    // The token appears only in the ::add-mask:: command that registers it.
    const unmasked = main.log.split('\n').filter(line => !line.startsWith('::add-mask::'))
    expect(unmasked.join('\n')).not.toContain(emulator.token)
    expect(post.exitCode).toBe(0)
    expect(post.log).toContain('was followed to its end by the main step')
    expect(emulator.requestCount('POST /tasks/{uuid}/abort')).toBe(0)
  })

  it('exits 1 naming the odd instances, with every output written', async () => {
    const { main } = await runAction({
      inputs: { ...api(), 'instance-count': '4', command: "sh -c 'exit $((INSTANCE_ID % 2))'" }
    })
    expect(main.exitCode).toBe(1)
    expect(main.log).toMatch(
      /::error title=[^:]*::Qarnot task .* ended in state Failure: instances 1, 3 failed/
    )
    expect(Object.keys(main.outputs)).toHaveLength(Object.keys(readActionDefinition().outputs).length)
    expect(main.outputs['failed-instances']).toBe('1,3')
    expect(main.summary).toContain('❌ Qarnot task failed: 2 of 4 instances did not succeed')
  })

  it('refuses bad input with exit 1 and no request', async () => {
    const { main } = await runAction({ inputs: { ...api(), 'instance-range': '0-3,a', command: 'echo' } })
    expect(main.exitCode).toBe(1)
    expect(main.log).toMatch(/::error title=[^:]*::Input 'instance-range': .*"a" is neither a whole number/)
    expect(emulator.requestCount()).toBe(0)
  })

  it('on SIGINT aborts the task at once, writes outputs and summary, and exits non-zero', async () => {
    const step = startStep({ inputs: { ...api(), 'instance-count': '3', command: 'sleep 60' } })
    await untilExecuting()
    const sentAt = Date.now()
    step.child.kill('SIGINT')
    let abortSeenAt = 0
    const watcher = setInterval(() => {
      if (!abortSeenAt && emulator.requestCount('POST /tasks/{uuid}/abort') > 0) abortSeenAt = Date.now()
    }, 5)
    const main: StepResult = await step.result
    clearInterval(watcher)
    expect(main.exitCode).toBe(1)
    expect(abortSeenAt - sentAt).toBeLessThan(1500)
    expect(main.outputs).toMatchObject({
      'qarnot-outcome': 'cancelled',
      state: 'Cancelled',
      'failed-instances': '0-2'
    })
    expect(main.summary).toContain('⛔ Qarnot task cancelled')
    expect(main.state.taskEnded).toBe('true')
    expect(emulator.allTasks()[0].state).toBe('Cancelled')
  })

  it('when main is killed outright, the post step aborts the task', async () => {
    const step = startStep({ inputs: { ...api(), command: 'sleep 60' } })
    await untilExecuting()
    step.child.kill('SIGKILL')
    const main = await step.result
    expect(main.signal).toBe('SIGKILL')
    // task-uuid was written before the kill, and names the task the emulator holds.
    expect(main.outputs['task-uuid']).toBe(emulator.allTasks()[0].uuid)
    const post = await startStep({
      inputs: { ...api(), command: 'sleep 60' },
      phase: 'post',
      state: main.state
    }).result
    expect(post.exitCode).toBe(0)
    expect(post.log).toMatch(/it has been aborted/)
    await waitForState(emulator, main.outputs['task-uuid'], ['Cancelled'])
  })
})

describe('a stop in the first moments', () => {
  beforeEach(async () => {
    emulator = await fastEmulator()
  })
  afterEach(async () => {
    await emulator.stop()
  })

  it('SIGINT at 0-200 ms: the post step never creates a task, and none is left running', async () => {
    for (const delayMs of [0, 40, 80, 120, 160, 200]) {
      const inputs = { token: emulator.token, 'api-url': emulator.url, command: 'sleep 60' }
      const step = startStep({ inputs })
      await new Promise(resolve => setTimeout(resolve, delayMs))
      step.child.kill('SIGINT')
      const main = await step.result
      const before = emulator.requestCount('POST /tasks')
      const post = await startStep({ inputs, phase: 'post', state: main.state }).result
      expect(post.exitCode).toBe(0)
      // The post step has its own entry: it looks, it may abort, it never creates.
      expect(emulator.requestCount('POST /tasks')).toBe(before)
      for (const task of emulator.allTasks()) {
        await waitForState(emulator, task.uuid, ['Cancelled', 'PendingCancel'])
      }
    }
  })

  it('SIGKILL during a slow create: the post step finds the task by the shortname saved before it, and aborts it', async () => {
    emulator.faults.add({ endpoint: 'POST /tasks', fault: { type: 'delay', ms: 1500 } })
    const inputs = { token: emulator.token, 'api-url': emulator.url, command: 'sleep 60' }
    const step = startStep({ inputs })
    while (emulator.requestCount('POST /tasks') === 0) await new Promise(resolve => setTimeout(resolve, 10))
    step.child.kill('SIGKILL')
    const main = await step.result
    expect(main.state.shortname).toMatch(/^gha-/)
    expect(main.state.taskUuid).toBeUndefined()
    const post = await startStep({ inputs, phase: 'post', state: main.state }).result
    expect(post.log).toMatch(/has been aborted/)
    expect(emulator.allTasks()).toHaveLength(1)
    await waitForState(emulator, emulator.allTasks()[0].uuid, ['Cancelled'])
  })
})

describe('secrets', () => {
  beforeEach(async () => {
    emulator = await fastEmulator()
  })

  it('never writes the token or a secret constant to the log, outputs, summary or state, even in debug mode', async () => {
    const secret = 'pa55-w0rd-that-must-not-leak'
    const inputs = {
      ...api(),
      'instance-count': '2',
      command: 'sh -c \'test -n "$QARNOT_SECRET__DB" && echo has secret ${INSTANCE_ID}\'',
      constants: `QARNOT_SECRET__DB=${secret}\nVISIBLE=plain`
    }
    const { main, post } = await runAction({ inputs, env: { ACTIONS_STEP_DEBUG: 'true', RUNNER_DEBUG: '1' } })
    expect(main.exitCode).toBe(0)
    expect(main.log).toContain('::debug::Create body:')
    expect(main.log).toContain('"key":"QARNOT_SECRET__DB","value":"[SECRET]"')
    expect(main.log).toContain(`::add-mask::${secret}`)
    for (const [where, text] of [
      ['main log', main.log],
      ['post log', post.log],
      ['outputs', JSON.stringify(main.outputs)],
      ['summary', main.summary],
      ['state', JSON.stringify(main.state)]
    ]) {
      const unmasked = text
        .split('\n')
        .filter(line => !line.startsWith('::add-mask::'))
        .join('\n')
      for (const value of [emulator.token, secret]) {
        if (unmasked.includes(value)) throw new Error(`${where} contains a secret`)
      }
    }
    // The token is registered before anything else is written.
    expect(main.log.startsWith(`::add-mask::${emulator.token}\n`)).toBe(true)
  })
})

describe('against the API shapes the real server is reported to use', () => {
  beforeEach(async () => {
    emulator = await fastEmulator({ quirks: { jsonStringOutput: true, nullCollections: true } })
  })

  it('works with the /v1 base path, JSON-string output bodies and null collections', async () => {
    const { main } = await runAction({
      inputs: {
        token: emulator.token,
        'api-url': `${emulator.url}/v1`,
        'instance-range': '1-6,15,20,25-30',
        command: 'echo "line from ${INSTANCE_ID}"'
      }
    })
    expect(main.exitCode).toBe(0)
    expect(main.outputs['instance-count']).toBe('14')
    expect(main.outputs.stdout).toContain('30> line from 30\n')
    expect(main.outputs.stdout).not.toContain('"')
  })
})
