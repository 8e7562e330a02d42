/**
 * The summary's output section, chosen on purpose: every instance that did not succeed first (the first few open),
 * each with the tail of its output, then a few that succeeded (folded together above GROUP_SUCCESSES_ABOVE), then
 * a note that counts what is left out and says why, and where the whole output is. Pure apart from reading outputs.
 */
import { Output } from '../constants.js'
import type { InstanceResult } from '../task/verdict.js'
import { idRanges, LISTED_IDS_CHARS } from './id-lists.js'
import { failedFirst, STATE_ICON } from './instance-table.js'
import type { StepReport } from './model.js'
import { escapeHtml, utf8Bytes } from './text.js'

/** Most of one instance's output shown (its tail, per stream). */
export const INSTANCE_OUTPUT_BYTES = 32 * 1024
/** Least worth showing for an instance; below this its block is left out. */
const MIN_OUTPUT_BYTES = 512
/** Failed instances whose output is open at first. */
const OPEN_FAILURES = 3
/** Up to this many successful instances, each has its block; above, SUCCESSES_SHOWN of them, folded together. */
export const GROUP_SUCCESSES_ABOVE = 20
export const SUCCESSES_SHOWN = 5
/** What a block costs beyond its output: its tags and label. */
const BLOCK_OVERHEAD = 200

/** One instance's output block: a collapsible section with stdout and stderr in `<pre>`, escaped. */
export function outputBlock(
  instance: Pick<InstanceResult, 'id' | 'state' | 'attempts'>,
  parts: readonly { stream: string; text: string; totalBytes: number }[],
  open = false
): string {
  const sections: string[] = []
  for (const { stream, text, totalBytes } of parts) {
    if (totalBytes === 0) continue
    const shownBytes = utf8Bytes(text)
    const note = shownBytes < totalBytes ? ` (last ${kib(shownBytes)} of ${kib(totalBytes)})` : ''
    // <pre> on its own line starts an HTML block that blank lines inside the output cannot end.
    sections.push(`<b>${stream}</b>${note}\n<pre>\n${escapeHtml(text.replace(/\n$/, ''))}\n</pre>`)
  }
  if (sections.length === 0) sections.push('<i>no output</i>')
  // A restarted instance's output holds every run, one after the other: say so rather than show it as one.
  const runs =
    (instance.attempts ?? 1) > 1 ? ` (ran ${instance.attempts} times: the output holds every run)` : ''
  const icon = STATE_ICON[instance.state] ?? ''
  return `<details${open ? ' open' : ''}><summary>${icon} Instance ${instance.id}: ${escapeHtml(instance.state)}${runs}</summary>\n\n${sections.join('\n\n')}\n\n</details>\n`
}

/** `1 instance`, `2,964 instances`. */
const count = (n: number, word: string): string => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`

export function kib(bytes: number): string {
  return bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${(bytes / 1048576).toFixed(1)} MiB`
}

interface Chosen {
  readonly blocks: string[]
  /** Left out for want of room in the summary. */
  readonly noRoom: number[]
}

/** The blocks of `instances`, each taking an equal share of what is left, as many as fit in `budget`. */
function blocksOf(
  report: StepReport,
  instances: readonly InstanceResult[],
  budget: number,
  openFirst: number
): Chosen & { used: number } {
  const blocks: string[] = []
  const noRoom: number[] = []
  let left = budget
  instances.forEach((instance, index) => {
    const share = Math.floor(left / (instances.length - index) / 2) - BLOCK_OVERHEAD
    const perStream = Math.min(INSTANCE_OUTPUT_BYTES, Math.max(MIN_OUTPUT_BYTES, share))
    const parts = (['stdout', 'stderr'] as const).map(stream => ({
      stream,
      ...report.outputs.tail(instance.id, stream, perStream)
    }))
    const block = outputBlock(instance, parts, index < openFirst)
    const size = utf8Bytes(block) + 1
    if (size > left) {
      noRoom.push(instance.id)
      return
    }
    blocks.push(block)
    left -= size
  })
  return { blocks, noRoom, used: budget - left }
}

/** The `### Output` section and its closing note, within `budgetBytes` (`""` when there is no instance). */
export function outputSection(report: StepReport, budgetBytes: number): string {
  const ordered = failedFirst(report.verdict?.instances ?? [])
  if (ordered.length === 0) return ''
  const failed = ordered.filter(i => i.state !== 'Success')
  const succeeded = ordered.filter(i => i.state === 'Success')
  const grouped = succeeded.length > GROUP_SUCCESSES_ABOVE
  const shownSuccesses = grouped ? succeeded.slice(0, SUCCESSES_SHOWN) : succeeded
  // Failures first, with room kept for the few successes shown.
  const reserve = Math.min(budgetBytes / 4, shownSuccesses.length * (2 * MIN_OUTPUT_BYTES + BLOCK_OVERHEAD))
  const fails = blocksOf(report, failed, budgetBytes - reserve, OPEN_FAILURES)
  const wins = blocksOf(report, shownSuccesses, budgetBytes - fails.used - 200, 0)
  const parts = [...fails.blocks]
  if (wins.blocks.length > 0 && grouped) {
    const label = `${STATE_ICON.Success} ${wins.blocks.length} of the ${succeeded.length.toLocaleString('en-US')} instances that succeeded`
    parts.push(`<details><summary>${label}</summary>\n\n${wins.blocks.join('\n')}\n</details>\n`)
  } else parts.push(...wins.blocks)
  const notShown = succeeded.length - shownSuccesses.length
  const note = omittedNote(report, { failedNoRoom: fails.noRoom, successNoRoom: wins.noRoom, notShown })
  return `${parts.length > 0 ? `\n### Output\n\n${parts.join('\n')}` : ''}${note}`
}

/** What is left out and why, and where every instance's whole output is. */
function omittedNote(
  report: StepReport,
  left: { failedNoRoom: number[]; successNoRoom: number[]; notShown: number }
): string {
  const reasons: string[] = []
  if (left.notShown > 0)
    reasons.push(
      `The output of ${count(left.notShown, 'more instance')} that succeeded is not shown: this summary shows every instance that did not succeed, then ${SUCCESSES_SHOWN} that did.`
    )
  const noRoom = [...left.failedNoRoom, ...left.successNoRoom]
  if (noRoom.length > 0)
    reasons.push(
      `The output of ${count(noRoom.length, 'instance')} (${idRanges(noRoom, LISTED_IDS_CHARS).text}) did not fit: GitHub drops a job summary over 1 MiB whole.`
    )
  if (reasons.length === 0) return ''
  const where = report.logsDir
    ? ` Every instance's complete output is in the step log, and in the folder the \`${Output.LogsDir}\` output names, which is gone after the job: to keep it, upload it with \`actions/upload-artifact\` (\`path: \${{ steps.<id>.outputs.${Output.LogsDir} }}\`).`
    : " Every instance's complete output is in the step log."
  return `\n> [!NOTE]\n> ${reasons.join(' ')}${where}\n`
}
