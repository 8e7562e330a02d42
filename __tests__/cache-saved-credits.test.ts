/** What the cache's hits saved in credits: an even share of each earlier task's credits (docs/cache.md). */
import { describe, expect, it } from '@jest/globals'
import { shareOfCredits, type CacheSource } from '../src/cache/saved-credits.js'

const source = (task: string, hits: number, taskInstances: number | undefined): CacheSource => ({
  task,
  hits,
  taskInstances
})

describe('shareOfCredits', () => {
  it('shares each task out evenly over the instances it ran', () => {
    const credits = new Map([
      ['a', 40],
      ['b', 9]
    ])
    expect(shareOfCredits([source('a', 1, 4), source('b', 3, 3)], credits)).toBeCloseTo(10 + 9)
  })

  it.each<[string, CacheSource[], Map<string, number>]>([
    ['no hit at all', [], new Map()],
    ['a task whose credits are unknown', [source('a', 1, 2), source('b', 1, 2)], new Map([['a', 4]])],
    ['entries without the task size', [source('a', 1, undefined)], new Map([['a', 4]])],
    ['more hits than the task ran (entries that lie)', [source('a', 5, 2)], new Map([['a', 4]])]
  ])('says nothing for %s', (_, sources, credits) => {
    expect(shareOfCredits(sources, credits)).toBeUndefined()
  })
})
