import { describe, expect, it } from '@jest/globals'
import { decodeKept, encodeKept, MAX_KEPT_LABEL_CHARS } from '../src/task/kept-label.js'
import type { EarlierTask, KeptResults } from '../src/task/rerun.js'
import type { InstanceResult } from '../src/task/verdict.js'

const A = '11111111-2222-3333-4444-555555555555'
const B = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'

function kept(uuid: string, ids: number[]): KeptResults {
  const task = { uuid, attempt: 1, document: { uuid, state: 'Failure' }, ids: [] } as EarlierTask
  return { task, instances: ids.map(id => ({ id, state: 'Success' }) as InstanceResult) }
}

describe('the kept-instances label of a re-run that does not wait', () => {
  it('names each earlier task and its kept ids, and reads back what it wrote', () => {
    const value = encodeKept([kept(A, [0, 1, 2, 5]), kept(B, [7]), kept(B, [])])
    expect(value).toBe(`${A}=0-2,5;${B}=7`)
    expect(decodeKept(value ?? '')).toEqual([
      {
        uuid: A,
        ids: [
          { first: 0, last: 2 },
          { first: 5, last: 5 }
        ]
      },
      { uuid: B, ids: [{ first: 7, last: 7 }] }
    ])
  })

  it('is not written past its bound (the step then computes everything)', () => {
    const every = Array.from({ length: 4000 }, (_, i) => i * 2)
    expect(encodeKept([kept(A, every)])).toBeUndefined()
    expect(decodeKept('x'.repeat(MAX_KEPT_LABEL_CHARS + 1))).toMatchObject({
      error: expect.stringMatching(/longer/)
    })
  })

  it.each([
    ['not-a-uuid=1'],
    [`${A}`],
    [`${A}=`],
    [`${A}=3-1`],
    [`${A}=1=2`],
    [`${A}=1;;${B}=2`],
    [`${A}=-1`]
  ])('refuses a label it did not write: %s', value => {
    expect(decodeKept(value)).toMatchObject({ error: expect.any(String) })
  })
})
