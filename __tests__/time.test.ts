import { describe, expect, it } from '@jest/globals'
import { parseDate, parseNonNegative, parseNumber, parseTimeSpan } from '../src/qarnot/time.js'

const GARBAGE: unknown[] = [
  undefined,
  null,
  '',
  ' ',
  'soon',
  'NaN',
  'Infinity',
  '-Infinity',
  {},
  [],
  ['00:00:01'],
  true,
  NaN,
  Infinity,
  Symbol('x'),
  () => 1
]

describe('parseTimeSpan (.NET TimeSpan, constant format)', () => {
  it.each([
    ['00:00:00', 0],
    ['00:01:02', 62],
    ['23:59:59', 86_399],
    ['1.02:03:04.5000001', 86_400 + 2 * 3600 + 3 * 60 + 4.5000001],
    ['00:00:25.1000003', 25.1000003],
    ['00:00:00.5', 0.5],
    ['00:00:00.0000001', 1e-7],
    ['3.00:00:00', 3 * 86_400],
    ['400.00:00:00', 400 * 86_400],
    ['10675199.02:48:05.4775807', 10675199 * 86_400 + 2 * 3600 + 48 * 60 + 5.4775807],
    ['-00:00:01', -1],
    ['-1.00:00:00.5', -86_400.5],
    ['+00:00:02', 2],
    [' 00:00:03 ', 3],
    ['-00:00:00', 0]
  ])('reads %j as %d s', (text, seconds) => {
    expect(parseTimeSpan(text)).toBeCloseTo(seconds, 9)
  })

  it.each([
    ...GARBAGE,
    '1:2',
    '00:01',
    '24:00:00',
    '00:60:00',
    '00:00:60',
    '1.24:00:00',
    '00:00:00.12345678',
    '00:00:00.',
    '.00:00:00',
    '1:02:03:04',
    '00-00-00',
    '00:00:0x',
    'PT1M2S',
    '62',
    62,
    '--00:00:01',
    '00:00:01\n00:00:02',
    '123456789.00:00:00'
  ])('gives undefined for %p', value => {
    expect(parseTimeSpan(value)).toBeUndefined()
  })
})

describe('parseDate (ISO 8601, UTC, up to 7 fraction digits)', () => {
  it.each([
    ['2026-11-30T10:00:00Z', Date.UTC(2026, 10, 30, 10)],
    ['2026-11-30T10:00:00.1234567Z', Date.UTC(2026, 10, 30, 10, 0, 0, 123)],
    ['2026-11-30T10:00:00.029Z', Date.UTC(2026, 10, 30, 10, 0, 0, 29)],
    ['2026-11-30T10:00:00.5Z', Date.UTC(2026, 10, 30, 10, 0, 0, 500)],
    ['2026-11-30T10:00:00.9999999Z', Date.UTC(2026, 10, 30, 10, 0, 0, 999)],
    ['2026-11-30T10:00:00', Date.UTC(2026, 10, 30, 10)],
    ['2026-11-30T10:00:00+01:00', Date.UTC(2026, 10, 30, 9)],
    ['2026-11-30T10:00:00-05:30', Date.UTC(2026, 10, 30, 15, 30)],
    ['2026-11-30T10:00:00+0100', Date.UTC(2026, 10, 30, 9)],
    ['2026-11-30 10:00:00z', Date.UTC(2026, 10, 30, 10)],
    ['2028-02-29T00:00:00Z', Date.UTC(2028, 1, 29)],
    ['2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
    ['1970-01-01T00:00:00Z', 0]
  ])('reads %j', (text, ms) => {
    expect(parseDate(text)).toBe(ms)
  })

  it('reads year 50 as 50, not 1950 (Date.UTC maps years below 100 to the 1900s)', () => {
    expect(new Date(parseDate('0050-06-01T00:00:00Z') ?? 0).getUTCFullYear()).toBe(50)
  })

  it.each([
    ...GARBAGE,
    '0001-01-01T00:00:00Z',
    '0001-01-01T00:00:00',
    '0001-01-01T00:00:00.0000000Z',
    '0001-01-01T00:00:00+01:00',
    '9999-12-31T23:59:59.9999999Z',
    '2026-13-01T00:00:00Z',
    '2026-00-01T00:00:00Z',
    '2026-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-11-30T24:00:00Z',
    '2026-11-30T10:60:00Z',
    '2026-11-30T10:00:60Z',
    '2026-11-30T10:00:00+24:00',
    '2026-11-30',
    '2026-11-30T10:00Z',
    '30/11/2026 10:00:00',
    'Mon, 30 Nov 2026 10:00:00 GMT',
    '2026-11-30T10:00:00.Z',
    '2026-11-30T10:00:00.1234567890Z',
    1764496800000,
    '1764496800000'
  ])('gives undefined for %p', value => {
    expect(parseDate(value)).toBeUndefined()
  })
})

describe('parseNumber and parseNonNegative', () => {
  it.each([
    [12, 12],
    [12.5, 12.5],
    [-3, -3],
    [0, 0],
    ['12', 12],
    ['12.5', 12.5],
    [' 7 ', 7],
    ['1e3', 1000],
    ['.5', 0.5],
    ['5.', 5],
    ['-2.25', -2.25],
    [Number.MAX_VALUE, Number.MAX_VALUE]
  ])('reads %p as %p', (value, number) => {
    expect(parseNumber(value)).toBe(number)
  })

  it.each([...GARBAGE, '0x10', '1,5', '1 000', '12 s', '1e999', '--1', '+', '.', 'e5', 10n])(
    'gives undefined for %p',
    value => {
      expect(parseNumber(value)).toBeUndefined()
    }
  )

  it('keeps only numbers at or above zero', () => {
    expect(parseNonNegative('0')).toBe(0)
    expect(parseNonNegative(3.5)).toBe(3.5)
    expect(parseNonNegative(-0.001)).toBeUndefined()
    expect(parseNonNegative('-1')).toBeUndefined()
    expect(parseNonNegative('x')).toBeUndefined()
  })
})

describe('no reader ever answers NaN, Infinity or anything but a number or undefined', () => {
  const samples: unknown[] = [
    ...GARBAGE,
    '00:00:01',
    '2026-11-30T10:00:00Z',
    '12',
    '99999999.23:59:59.9999999',
    '9'.repeat(400),
    `${'9'.repeat(400)}.5`,
    '1e308',
    '-1e308'
  ]
  it.each([parseTimeSpan, parseDate, parseNumber, parseNonNegative])('%p', reader => {
    for (const value of samples) {
      const answer = reader(value)
      if (answer !== undefined) expect(Number.isFinite(answer)).toBe(true)
    }
  })
})
