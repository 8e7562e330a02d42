/**
 * The peak memory of an instance's processes, measured as Linux shows it: a sampler reads /proc for the process
 * and its descendants (`/proc/<pid>/task/<pid>/children`) when it starts and every SAMPLE_MS until stopped, and
 * keeps the larger of the highest resident set a single process reached (`VmHWM`, the kernel's own high-water
 * mark) and the highest sum of the tree's resident sets (`VmRSS`) at one sample. A lower bound of the true peak
 * (a spike between two samples of a short-lived child can be missed), never a made-up figure; 0 where /proc is not
 * there (not Linux) or the process ended before a read, which the action reads as "not measured".
 */
import { readFileSync } from 'node:fs'

export const SAMPLE_MS = 100
/** A fork bomb must not make a sample read the whole of /proc. */
const MAX_PROCESSES = 256

function statusKb(field: 'VmHWM' | 'VmRSS', status: string): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)
  return match ? Number(match[1]) : undefined
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined // the process ended meanwhile, or this is not Linux
  }
}

/** The pids of the tree under `root` (itself first), as far as they are still there. */
function tree(root: number): number[] {
  const pids = [root]
  for (let i = 0; i < pids.length && pids.length < MAX_PROCESSES; i++) {
    const children = read(`/proc/${pids[i]}/task/${pids[i]}/children`) ?? ''
    for (const child of children.trim().split(/\s+/)) if (child !== '') pids.push(Number(child))
  }
  return pids.slice(0, MAX_PROCESSES)
}

export class PeakMemory {
  private peakKb = 0
  private readonly timer: NodeJS.Timeout

  constructor(private readonly pid: number) {
    this.sample()
    this.timer = setInterval(() => this.sample(), SAMPLE_MS)
    this.timer.unref()
  }

  sample(): void {
    let sumRss = 0
    for (const pid of tree(this.pid)) {
      const status = read(`/proc/${pid}/status`)
      if (status === undefined) continue
      sumRss += statusKb('VmRSS', status) ?? 0
      this.peakKb = Math.max(this.peakKb, statusKb('VmHWM', status) ?? 0)
    }
    this.peakKb = Math.max(this.peakKb, sumRss)
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** In MB (2^20 bytes), as Qarnot's `peakMemoryMB` (an integer); 0 when nothing was read. */
  get megabytes(): number {
    return Math.round(this.peakKb / 1024)
  }
}
