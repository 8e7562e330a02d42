/**
 * What a task cost: credits consumed and carbon facts (docs/qarnot-api.md §9), read from either shape the API is
 * known in (the SDKs read snake_case, the OpenAPI document names camelCase). Pure: unreadable figures are left out.
 */

export interface CarbonFacts {
  /** Energy consumed, in Wh. */
  readonly consumedWh?: number
  /** Energy reused as heat, in Wh. */
  readonly reusedWh?: number
  /** Emissions, in gCO2eq. */
  readonly gCO2eq?: number
  /** What the same computation would have emitted in the comparison datacenter, and its name. */
  readonly datacenterGCO2eq?: number
  readonly datacenterName?: string
  readonly savedPercent?: number
}

function number(value: unknown): number | undefined {
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  return typeof parsed === 'number' && Number.isFinite(parsed) && parsed >= 0 ? parsed : undefined
}

/** The first of `names` the object has, compared without case (the C# SDK reads them case-insensitively). */
function field(object: Record<string, unknown>, ...names: string[]): unknown {
  const lower = new Map(Object.keys(object).map(key => [key.toLowerCase(), key]))
  for (const name of names) {
    const key = lower.get(name.toLowerCase())
    if (key !== undefined && object[key] !== null && object[key] !== undefined) return object[key]
  }
  return undefined
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** `{"credits": 3600.42}` -> 3600.42 (Python SDK fixture); undefined when absent or not a number. */
export function readCredits(answer: unknown): number | undefined {
  return isObject(answer) ? number(field(answer, 'credits')) : undefined
}

export function readCarbonFacts(answer: unknown): CarbonFacts | undefined {
  if (!isObject(answer)) return undefined
  const name = field(answer, 'equivalent_datacenter_name', 'comparisonDataCenterName')
  const facts: CarbonFacts = {
    consumedWh: number(field(answer, 'total_consumed_energy_Wh', 'totalConsumedEnergyWh')),
    reusedWh: number(field(answer, 'total_reused_energy_Wh', 'totalReuseEnergyWh')),
    gCO2eq: number(field(answer, 'qarnot_carbon_footprint', 'carbonFootprintC02Eq')),
    datacenterGCO2eq: number(
      field(answer, 'equivalent_DC_carbon_footprint', 'equivalentDCCarbonFootprintC02Eq')
    ),
    datacenterName: typeof name === 'string' ? name : undefined,
    savedPercent: number(field(answer, 'saved_carbon_footprint_percent', 'savedCarbonFootprintPercentage'))
  }
  return facts.consumedWh === undefined && facts.gCO2eq === undefined ? undefined : facts
}

/** The figures of several tasks (a re-run and the attempts it completes), added up. */
export function sumCarbonFacts(all: readonly CarbonFacts[]): CarbonFacts | undefined {
  if (all.length === 0) return undefined
  const total = (pick: (facts: CarbonFacts) => number | undefined): number | undefined =>
    all.some(f => pick(f) === undefined) ? undefined : all.reduce((sum, f) => sum + (pick(f) ?? 0), 0)
  const gCO2eq = total(f => f.gCO2eq)
  const datacenterGCO2eq = total(f => f.datacenterGCO2eq)
  const names = [...new Set(all.map(f => f.datacenterName))]
  return {
    consumedWh: total(f => f.consumedWh),
    reusedWh: total(f => f.reusedWh),
    gCO2eq,
    datacenterGCO2eq,
    datacenterName: names.length === 1 ? names[0] : undefined,
    savedPercent:
      gCO2eq !== undefined && datacenterGCO2eq !== undefined && datacenterGCO2eq > 0
        ? (100 * (datacenterGCO2eq - gCO2eq)) / datacenterGCO2eq
        : undefined
  }
}
