/** The `logs-dir` output: a folder with each instance's complete output as `<id>.stdout.log` and `<id>.stderr.log`. */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { InstanceOutput } from './model.js'

export function logsDirFor(baseDir: string, uuid: string): string {
  return join(baseDir, 'qarnot-logs', uuid)
}

export async function writeLogsDir(dir: string, outputs: ReadonlyMap<number, InstanceOutput>): Promise<void> {
  await mkdir(dir, { recursive: true })
  for (const [id, output] of outputs) {
    await writeFile(join(dir, `${id}.stdout.log`), output.stdout)
    await writeFile(join(dir, `${id}.stderr.log`), output.stderr)
  }
}
