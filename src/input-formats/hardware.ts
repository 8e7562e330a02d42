/** Hardware constraints in words (`min-cores=16`, `gpu`, `min-ram=32GB`) -> the API's discriminated objects. */

import type { HardwareConstraintWire } from '../qarnot/types.js'

export type HardwareConstraint = HardwareConstraintWire

const WORDS =
  'min-cores=N, max-cores=N, min-ram=32GB, max-ram=64GB, min-ram-per-core=2GB, max-ram-per-core=8GB, gpu, no-gpu, ssd, no-ssd, cpu-model=NAME, specification=KEY'

function positiveInteger(word: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new Error(`${word} needs a whole number of at least 1, got "${value}"`)
  return Number(value)
}

/** Memory in MB from `32GB`, `512MB`, `1.5GB` (GB = 1024 MB, as Qarnot's MB figures are binary). */
function memoryMB(word: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(mb|mib|gb|gib)$/i.exec(value)
  if (!match) throw new Error(`${word} needs a size with a unit, such as 32GB or 512MB, got "${value}"`)
  const amount = Number(match[1]) * (match[2].toLowerCase().startsWith('g') ? 1024 : 1)
  if (amount < 1) throw new Error(`${word} must be at least 1MB, got "${value}"`)
  return Math.round(amount)
}

function memoryGB(word: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(gb|gib)?$/i.exec(value)
  if (!match || Number(match[1]) <= 0)
    throw new Error(`${word} needs a positive size in GB per core, such as 2GB, got "${value}"`)
  return Number(match[1])
}

function nonEmpty(word: string, value: string): string {
  if (value === '') throw new Error(`${word} needs a value after "="`)
  return value
}

/** Each word and how its value (or lack of one) becomes a constraint. */
const WORD_READERS: Record<string, (word: string, value: string | undefined) => HardwareConstraint> = {
  'min-cores': (w, v) => ({
    discriminator: 'MinimumCoreHardwareConstraint',
    coreCount: positiveInteger(w, given(w, v))
  }),
  'max-cores': (w, v) => ({
    discriminator: 'MaximumCoreHardwareConstraint',
    coreCount: positiveInteger(w, given(w, v))
  }),
  'min-ram': (w, v) => ({
    discriminator: 'MinimumRamHardwareConstraint',
    minimumMemoryMB: memoryMB(w, given(w, v))
  }),
  'max-ram': (w, v) => ({
    discriminator: 'MaximumRamHardwareConstraint',
    maximumMemoryMB: memoryMB(w, given(w, v))
  }),
  'min-ram-per-core': (w, v) => ({
    discriminator: 'MinimumRamCoreRatioHardwareConstraint',
    minimumMemoryGBCoreRatio: memoryGB(w, given(w, v))
  }),
  'max-ram-per-core': (w, v) => ({
    discriminator: 'MaximumRamCoreRatioHardwareConstraint',
    maximumMemoryGBCoreRatio: memoryGB(w, given(w, v))
  }),
  specification: (w, v) => ({
    discriminator: 'SpecificHardwareConstraint',
    specificationKey: nonEmpty(w, given(w, v))
  }),
  'cpu-model': (w, v) => ({
    discriminator: 'CpuModelHardwareConstraint',
    cpuModel: nonEmpty(w, given(w, v))
  }),
  gpu: (w, v) => (none(w, v), { discriminator: 'GpuHardwareConstraint' }),
  'no-gpu': (w, v) => (none(w, v), { discriminator: 'NoGpuHardwareConstraint' }),
  ssd: (w, v) => (none(w, v), { discriminator: 'SSDHardwareConstraint' }),
  'no-ssd': (w, v) => (none(w, v), { discriminator: 'NoSSDHardwareConstraint' })
}

function given(word: string, value: string | undefined): string {
  if (value === undefined) throw new Error(`"${word}" needs a value: ${word}=...`)
  return value
}

function none(word: string, value: string | undefined): void {
  if (value !== undefined) throw new Error(`"${word}" takes no value; write just ${word}`)
}

/** Parses one constraint word; throws an Error listing the words it knows. */
export function parseHardwareWord(item: string): HardwareConstraint {
  const equals = item.indexOf('=')
  const word = (equals < 0 ? item : item.slice(0, equals)).trim().toLowerCase()
  const value = equals < 0 ? undefined : item.slice(equals + 1).trim()
  const reader = Object.prototype.hasOwnProperty.call(WORD_READERS, word) ? WORD_READERS[word] : undefined
  if (!reader) throw new Error(`"${item.trim()}" is not a hardware constraint; use one of: ${WORDS}`)
  return reader(word, value)
}

/** Parses every word and refuses contradictions (gpu with no-gpu, min above max). */
export function parseHardware(items: readonly string[]): HardwareConstraint[] {
  const constraints = items.map(parseHardwareWord)
  const kinds = new Set(constraints.map(c => c.discriminator))
  if (kinds.size !== constraints.length) throw new Error('a constraint is given twice; keep one of each')
  if (kinds.has('GpuHardwareConstraint') && kinds.has('NoGpuHardwareConstraint')) {
    throw new Error('gpu and no-gpu contradict each other; keep one')
  }
  if (kinds.has('SSDHardwareConstraint') && kinds.has('NoSSDHardwareConstraint')) {
    throw new Error('ssd and no-ssd contradict each other; keep one')
  }
  const find = <D extends HardwareConstraint['discriminator']>(d: D) =>
    constraints.find(c => c.discriminator === d) as
      Extract<HardwareConstraint, { discriminator: D }> | undefined
  const minCores = find('MinimumCoreHardwareConstraint')
  const maxCores = find('MaximumCoreHardwareConstraint')
  if (minCores && maxCores && minCores.coreCount > maxCores.coreCount) {
    throw new Error(`min-cores=${minCores.coreCount} is above max-cores=${maxCores.coreCount}`)
  }
  const minRam = find('MinimumRamHardwareConstraint')
  const maxRam = find('MaximumRamHardwareConstraint')
  if (minRam && maxRam && minRam.minimumMemoryMB > maxRam.maximumMemoryMB) {
    throw new Error(`min-ram (${minRam.minimumMemoryMB}MB) is above max-ram (${maxRam.maximumMemoryMB}MB)`)
  }
  return constraints
}
