/**
 * The emulator's clock: real time, or real time sped up `scale` times (option `timeScale`), so that a benchmark
 * can emulate a task of hours in minutes. Every date and duration a task shows, and every delay it waits
 * (dispatch, environment, upload, cancel), are on this clock; the instances' commands run at real speed, so a
 * command that takes 1 s shows as an instance of `scale` seconds. A client following the task must use the same
 * clock (`now()`, and waits of `ms / scale` real ms) for its figures to agree with the task's.
 */
export interface EmulatorClock {
  readonly scale: number
  /** Emulated now: ms since the epoch, with a fraction (as .NET ticks have). */
  now(): number
  /** The real ms an emulated duration takes. */
  realMs(emulatedMs: number): number
}

export function emulatorClock(scale = 1): EmulatorClock {
  if (!(Number.isFinite(scale) && scale > 0))
    throw new Error(`timeScale must be a positive number, not ${scale}`)
  const origin = performance.timeOrigin + performance.now()
  return {
    scale,
    now: () => origin + (performance.timeOrigin + performance.now() - origin) * scale,
    realMs: ms => ms / scale
  }
}
