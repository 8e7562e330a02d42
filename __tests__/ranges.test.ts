import { describe, expect, it } from '@jest/globals'
import {
  countIds,
  expandIds,
  formatIds,
  formatRanges,
  idsToIntervals,
  parseRangeField,
  parseRanges,
  RangeSyntaxError
} from '../src/ranges.js'

describe('parseRanges', () => {
  it('reads inclusive bounds: 1-6,15,20,25-30 is 14 ids', () => {
    const intervals = parseRanges('1-6,15,20,25-30')
    expect(countIds(intervals)).toBe(14)
    expect(expandIds(intervals)).toEqual([1, 2, 3, 4, 5, 6, 15, 20, 25, 26, 27, 28, 29, 30])
  })

  it('keeps both ends of a two-id range (the C# SDK drops the upper bound)', () => {
    expect(expandIds(parseRanges('0-1'))).toEqual([0, 1])
  })

  it('tolerates white space, sorts, and merges overlaps and neighbours', () => {
    expect(formatRanges(parseRanges(' 10-12 , 3, 1-4,5 , 11 '))).toBe('1-5,10-12')
  })

  it.each([
    ['', 'empty'],
    [',', 'empty item'],
    ['1,,2', 'empty item'],
    ['1,', 'empty item'],
    ['-', 'neither'],
    ['0--', 'neither'],
    ['5-2', 'backwards'],
    ['1-2-3', 'neither'],
    ['0xa', 'neither'],
    ['+3', 'neither'],
    ['-3', 'neither'],
    ['a-b', 'neither'],
    ['1.5', 'neither'],
    ['99999999999', 'larger']
  ])('refuses %j (%s)', (text, reason) => {
    expect(() => parseRanges(text)).toThrow(RangeSyntaxError)
    expect(() => parseRanges(text)).toThrow(reason)
  })
})

describe('formatting', () => {
  it('turns any list of ids into merged intervals', () => {
    expect(idsToIntervals([11, 3, 1, 2, 10, 2])).toEqual([
      { first: 1, last: 3 },
      { first: 10, last: 11 }
    ])
  })

  it('formats ids as the API writes ranges', () => {
    expect(formatIds([7, 5, 2, 6, 5])).toBe('2,5-7')
    expect(formatIds([])).toBe('')
  })

  it('round-trips through format and parse', () => {
    const ids = [0, 1, 2, 9, 11, 12, 100]
    expect(expandIds(parseRanges(formatIds(ids)))).toEqual(ids)
  })

  it('reads null and empty range fields as none', () => {
    expect(parseRangeField(null)).toEqual([])
    expect(parseRangeField('')).toEqual([])
    expect(parseRangeField(undefined)).toEqual([])
  })
})
