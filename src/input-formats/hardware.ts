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

/** Parses one constraint word; throws an Error listing the words it knows. */
export function parseHardwareWord(item: string): HardwareConstraint {
  const equals = item.indexOf('=')
  const word = (equals < 0 ? item : item.slice(0, equals)).trim().toLowerCase()
  const value = equals < 0 ? undefined : item.slice(equals + 1).trim()
  const needsValue = (v: string | undefined): string => {
    if (v === undefined) throw new Error(`"${word}" needs a value: ${word}=...`)
    return v
  }
  const noValue = (): void => {
    if (value !== undefined) throw new Error(`"${word}" takes no value; write just ${word}`)
  }
  switch (word) {
    case 'min-cores':
      return {
        discriminator: 'MinimumCoreHardwareConstraint',
        coreCount: positiveInteger(word, needsValue(value))
      }
    case 'max-cores':
      return {
        discriminator: 'MaximumCoreHardwareConstraint',
        coreCount: positiveInteger(word, needsValue(value))
      }
    case 'min-ram':
      return {
        discriminator: 'MinimumRamHardwareConstraint',
        minimumMemoryMB: memoryMB(word, needsValue(value))
      }
    case 'max-ram':
      return {
        discriminator: 'MaximumRamHardwareConstraint',
        maximumMemoryMB: memoryMB(word, needsValue(value))
      }
    case 'min-ram-per-core':
      return {
        discriminator: 'MinimumRamCoreRatioHardwareConstraint',
        minimumMemoryGBCoreRatio: memoryGB(word, needsValue(value))
      }
    case 'max-ram-per-core':
      return {
        discriminator: 'MaximumRamCoreRatioHardwareConstraint',
        maximumMemoryGBCoreRatio: memoryGB(word, needsValue(value))
      }
    case 'specification':
      return {
        discriminator: 'SpecificHardwareConstraint',
        specificationKey: nonEmpty(word, needsValue(value))
      }
    case 'cpu-model':
      return { discriminator: 'CpuModelHardwareConstraint', cpuModel: nonEmpty(word, needsValue(value)) }
    case 'gpu':
      noValue()
      return { discriminator: 'GpuHardwareConstraint' }
    case 'no-gpu':
      noValue()
      return { discriminator: 'NoGpuHardwareConstraint' }
    case 'ssd':
      noValue()
      return { discriminator: 'SSDHardwareConstraint' }
    case 'no-ssd':
      noValue()
      return { discriminator: 'NoSSDHardwareConstraint' }
    default:
      throw new Error(`"${item.trim()}" is not a hardware constraint; use one of: ${WORDS}`)
  }
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
