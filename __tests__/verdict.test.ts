import { describe, expect, it } from '@jest/globals'
import type { TaskOutputWire } from '../src/qarnot/types.js'
import { decideVerdict as decide, taskIntervals } from '../src/task/verdict.js'
import { describeProgress, progressCounts } from '../src/task/progress.js'
import { isFinalState } from '../src/task/states.js'
import { pollIntervalMs } from '../src/task/poll-schedule.js'

function task(fields: Partial<TaskOutputWire>): TaskOutputWire {
  return { uuid: 'u', state: 'Success', instanceCount: 3, errors: [], completedInstances: [], ...fields }
}
const ok = (instanceId: number) => ({ instanceId, state: 'Success', error: null, executionAttemptCount: 1 })
const ko = (instanceId: number, message = 'exit 1') => ({
  instanceId,
  state: 'Failure',
  error: { code: 'x', message, debug: null },
  executionAttemptCount: 2
})

/** The verdict over what the task says it was asked (as for a task the action follows). */
const decideVerdict = (wire: TaskOutputWire) => decide(wire, taskIntervals(wire))

describe('decideVerdict', () => {
  it('passes a Success task whose every instance succeeded', () => {
    const verdict = decideVerdict(task({ completedInstances: [ok(0), ok(1), ok(2)] }))
    expect(verdict.passed).toBe(true)
    expect(verdict.succeededCount).toBe(3)
    expect(verdict.failedIds).toEqual([])
  })

  it('fails on failed instances and keeps their errors', () => {
    const verdict = decideVerdict(
      task({ state: 'Failure', completedInstances: [ok(0), ko(1, 'boom'), ok(2)] })
    )
    expect(verdict.passed).toBe(false)
    expect(verdict.failedIds).toEqual([1])
    expect(verdict.instances[1]).toMatchObject({ state: 'Failure', error: 'boom (x)', attempts: 2 })
  })

  it('fails a Success state when an instance asked for never completed', () => {
    const verdict = decideVerdict(task({ completedInstances: [ok(0), ok(2)] }))
    expect(verdict.passed).toBe(false)
    expect(verdict.failedIds).toEqual([1])
    expect(verdict.instances[1]).toMatchObject({ state: 'NotCompleted', error: 'never completed' })
  })

  it('fails when a range says failed or cancelled, even if the list says success', () => {
    const completed = [ok(0), ok(1), ok(2)]
    expect(
      decideVerdict(task({ completedInstances: completed, status: { failedRange: '1' } })).failedIds
    ).toEqual([1])
    expect(
      decideVerdict(task({ completedInstances: completed, status: { cancelledRange: '2' } })).failedIds
    ).toEqual([2])
  })

  it('fails on task-level errors', () => {
    const verdict = decideVerdict(
      task({ completedInstances: [ok(0), ok(1), ok(2)], errors: [{ code: 'E', message: 'disk full' }] })
    )
    expect(verdict.passed).toBe(false)
    expect(verdict.taskErrors).toEqual(['disk full (E)'])
  })

  it('fails a state other than Success', () => {
    expect(
      decideVerdict(task({ state: 'Cancelled', completedInstances: [ok(0), ok(1), ok(2)] })).passed
    ).toBe(false)
  })

  it('uses advancedRanges for the ids asked for, and survives null collections', () => {
    const verdict = decideVerdict(
      task({
        instanceCount: 0,
        advancedRanges: '1-2,5',
        completedInstances: null,
        errors: null,
        status: null
      })
    )
    expect(verdict.instances.map(i => i.id)).toEqual([1, 2, 5])
    expect(verdict.failedIds).toEqual([1, 2, 5])
  })

  it('passes a finished task that lists no completed instance when the ranges say they succeeded', () => {
    // The Node SDK's own example: Success, completedInstances [], succeededRange "0".
    const verdict = decideVerdict(
      task({ instanceCount: 1, completedInstances: [], status: { succeededRange: '0' } })
    )
    expect(verdict.passed).toBe(true)
    expect(verdict.instances[0]).toMatchObject({
      state: 'Success',
      wallTimeSec: undefined,
      attempts: undefined
    })
    const fromNull = decideVerdict(
      task({ instanceCount: 4, completedInstances: null, status: { succeededRange: '0-3' } })
    )
    expect(fromNull.passed).toBe(true)
    expect(fromNull.succeededCount).toBe(4)
  })

  it('takes failure evidence from the ranges alone, and resolves conflicts toward failure', () => {
    const verdict = decideVerdict(
      task({
        state: 'Failure',
        completedInstances: [],
        status: { succeededRange: '0-2', failedOnlyRange: '1' }
      })
    )
    expect(verdict.failedIds).toEqual([1])
    expect(verdict.instances[1].state).toBe('Failure')
  })

  it('lets a failure entry win over a later success entry for the same instance', () => {
    const verdict = decideVerdict(task({ instanceCount: 2, completedInstances: [ko(0), ok(0), ok(1)] }))
    expect(verdict.passed).toBe(false)
    expect(verdict.failedIds).toEqual([0])
  })

  it('reports ids never asked for without counting them as instances', () => {
    const verdict = decide(task({ instanceCount: 2, completedInstances: [ok(0), ok(1), ok(7)] }), [
      { first: 0, last: 1 }
    ])
    expect(verdict.instances).toHaveLength(2)
    expect(verdict.unexpected).toBe('7')
    expect(verdict.passed).toBe(true)
  })

  it('never expands a range the API claims: 50 million ids cost nothing', () => {
    const verdict = decide(
      task({
        instanceCount: 50_000_000,
        completedInstances: [ok(0), ok(1)],
        status: { succeededRange: '0-49999999' }
      }),
      [{ first: 0, last: 1 }]
    )
    expect(verdict.instances).toHaveLength(2)
    expect(verdict.unexpected).toBe('2-49999999')
  })

  it('counts a Cancelled completed instance as failed', () => {
    const verdict = decideVerdict(
      task({ instanceCount: 1, completedInstances: [{ instanceId: 0, state: 'Cancelled' }] })
    )
    expect(verdict.instances[0].state).toBe('Cancelled')
    expect(verdict.passed).toBe(false)
  })
})

describe('states, progress and polling', () => {
  it('treats only Success, Failure, Cancelled (and PendingDelete) as final', () => {
    expect(['Success', 'Failure', 'Cancelled', 'PendingDelete'].every(isFinalState)).toBe(true)
    expect(['PendingCancel', 'FullyExecuting', 'UploadingResults', 'SomethingNew'].some(isFinalState)).toBe(
      false
    )
  })

  it('describes progress as done/total with failures', () => {
    const counts = progressCounts(
      task({
        state: 'FullyExecuting',
        totalInstanceCount: 14,
        runningInstanceCount: 3,
        completedInstances: [ok(0), ko(1)]
      })
    )
    expect(describeProgress(counts)).toBe('2/14 instances done, 1 failed, 3 running')
  })

  it('polls every second for a minute, then slows to 15 s, never below the floor', () => {
    expect(pollIntervalMs(0)).toBe(1000)
    expect(pollIntervalMs(59_000)).toBe(1000)
    expect(pollIntervalMs(2 * 3600_000)).toBe(15_000)
    expect(pollIntervalMs(0, 5000)).toBe(5000)
  })
})
