/**
 * What the emulator answers on the credits and carbon services (docs/qarnot-api.md §9): figures derived from what a
 * task ran, with the emulator's own rates (docs/emulator.md gives them and says why they are only plausible).
 */

/** Credits one core costs per second of execution (an emulator rate: 1.8 credits per core-hour). */
export const CREDITS_PER_CORE_SECOND = 0.0005
/** IT power drawn by one emulated core while it runs, in watts. */
export const WATTS_PER_CORE = 40
/** Power Usage Effectiveness of Qarnot's heaters: energy consumed over energy used by the IT. */
export const QARNOT_PUE = 1.02
/** Energy Reuse Factor: the share of the consumed energy given back as heat. */
export const QARNOT_ERF = 0.96
/** Carbon intensity of the electricity Qarnot's heaters use, in gCO2eq per kWh. */
export const QARNOT_G_PER_KWH = 60
/** Carbon intensity of the heating the reused heat replaces, in gCO2eq per kWh. */
export const HEATING_G_PER_KWH = 200
/** The datacenter a task is compared with when the request names none (the OpenAPI document's example). */
export const DEFAULT_DATACENTER = 'Common European Datacenter'
/** The comparison datacenter's PUE and carbon intensity (gCO2eq per kWh), whatever name is asked for. */
export const DATACENTER = { pue: 1.6, gPerKWh: 250 }

const round = (value: number, digits = 6): number => {
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}

/** Credits of a task that ran `coreSeconds` core-seconds at `perCoreSecond`: `{"credits": number}`. */
export function creditsOf(coreSeconds: number, perCoreSecond = CREDITS_PER_CORE_SECOND): { credits: number } {
  return { credits: round(coreSeconds * perCoreSecond) }
}

/** The facts, by the names the Python SDK reads (carbon_facts.py). */
export interface CarbonFactsSnake {
  total_consumed_energy_Wh: number
  total_energy_it_Wh: number
  total_reused_energy_Wh: number
  qarnot_carbon_footprint: number
  equivalent_datacenter_name: string
  equivalent_DC_carbon_footprint: number
  saved_carbon_footprint_compute: number
  saved_carbon_footprint_heat: number
  saved_carbon_footprint_compute_heat: number
  saved_carbon_footprint_percent: number
  PUE: number | null
  ERE: number | null
  ERF: number | null
  WUE: number | null
}

/** The same facts by the OpenAPI document's names (GetTaskCarbonFactsResponse). */
export interface CarbonFactsCamel {
  totalConsumedEnergyWh: number
  totalEnergyITWh: number
  totalReuseEnergyWh: number
  carbonFootprintC02Eq: number
  pue: number | null
  ere: number | null
  erf: number | null
  wue: number | null
  comparisonDataCenterName: string
  equivalentDCCarbonFootprintC02Eq: number
  savedCarbonFootprintComputeC02Eq: number
  savedCarbonFootprintHeatC02Eq: number
  savedCarbonFootprintComputeHeatC02Eq: number
  savedCarbonFootprintPercentage: number
}

/**
 * The carbon facts of a task that ran `coreSeconds` core-seconds, compared with `datacenter`. The ratios are null
 * when nothing ran (no energy to divide by: the OpenAPI document makes them nullable).
 */
export function carbonFactsOf(
  coreSeconds: number,
  datacenter: string | null,
  style: 'snake' | 'camel' = 'snake'
): CarbonFactsSnake | CarbonFactsCamel {
  const itWh = (coreSeconds * WATTS_PER_CORE) / 3600
  const consumedWh = itWh * QARNOT_PUE
  const reusedWh = consumedWh * QARNOT_ERF
  const footprint = (consumedWh / 1000) * QARNOT_G_PER_KWH
  const equivalent = ((itWh * DATACENTER.pue) / 1000) * DATACENTER.gPerKWh
  const savedCompute = equivalent - footprint
  const savedHeat = (reusedWh / 1000) * HEATING_G_PER_KWH
  const ran = itWh > 0
  const name = datacenter ?? DEFAULT_DATACENTER
  const ratios = {
    pue: ran ? round(consumedWh / itWh) : null,
    ere: ran ? round((consumedWh - reusedWh) / itWh) : null,
    erf: ran ? round(reusedWh / consumedWh) : null,
    wue: ran ? 0 : null
  }
  const percent = ran ? round((100 * savedCompute) / equivalent) : 0
  if (style === 'camel') {
    return {
      totalConsumedEnergyWh: round(consumedWh),
      totalEnergyITWh: round(itWh),
      totalReuseEnergyWh: round(reusedWh),
      carbonFootprintC02Eq: round(footprint),
      ...ratios,
      comparisonDataCenterName: name,
      equivalentDCCarbonFootprintC02Eq: round(equivalent),
      savedCarbonFootprintComputeC02Eq: round(savedCompute),
      savedCarbonFootprintHeatC02Eq: round(savedHeat),
      savedCarbonFootprintComputeHeatC02Eq: round(savedCompute + savedHeat),
      savedCarbonFootprintPercentage: percent
    }
  }
  return {
    total_consumed_energy_Wh: round(consumedWh),
    total_energy_it_Wh: round(itWh),
    total_reused_energy_Wh: round(reusedWh),
    qarnot_carbon_footprint: round(footprint),
    equivalent_datacenter_name: name,
    equivalent_DC_carbon_footprint: round(equivalent),
    saved_carbon_footprint_compute: round(savedCompute),
    saved_carbon_footprint_heat: round(savedHeat),
    saved_carbon_footprint_compute_heat: round(savedCompute + savedHeat),
    saved_carbon_footprint_percent: percent,
    PUE: ratios.pue,
    ERE: ratios.ere,
    ERF: ratios.erf,
    WUE: ratios.wue
  }
}
