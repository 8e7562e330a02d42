/**
 * What scheduled collectors reported already (docs/long-runs.md, "The scheduled collector"). A Qarnot task cannot
 * be changed once it has ended, so nothing on the task can say it was collected: the collector keeps a mark per task
 * it reported, in the repository's resource bucket of the account's storage (`collected/<task uuid>`; prune leaves
 * the prefix alone). A later run leaves marked tasks out. Storage that cannot be reached, listed or written is a
 * warning, never a failure: the tasks are then reported again by the next run, as without marks.
 */
import type { QarnotClient } from '../qarnot/client.js'
import { ensureBucket } from '../storage/connect.js'
import { isNoSuchBucket } from '../storage/errors.js'
import { COLLECTED_PREFIX, resourceBucketName } from '../storage/layout.js'
import { connectAccountStorage, type StorageSession } from '../storage/session.js'
import { listAllObjects } from '../storage/store.js'
import { errorMessage } from '../words.js'

export interface CollectedMarks {
  /** Whether a run reported the task already. */
  has(uuid: string): boolean
  /** Marks the task reported; a failure is returned as the reason, never thrown. */
  mark(uuid: string, what: { outcome: string; runUrl: string | undefined }): Promise<string | undefined>
  close(): void
}

/** The marks, or why there are none (then every ended task is reported, as before marks existed). */
export async function openCollectedMarks(
  client: QarnotClient,
  env: NodeJS.ProcessEnv,
  token: string,
  signal: AbortSignal
): Promise<CollectedMarks | { readonly unavailable: string }> {
  let session: StorageSession | undefined
  try {
    session = await connectAccountStorage(client.with({ signal }), env, token, signal)
    const bucket = resourceBucketName(session.naming)
    const listed = await listAllObjects(session.store, bucket, COLLECTED_PREFIX, signal).catch(error => {
      if (isNoSuchBucket(error)) return []
      throw error
    })
    return marksIn(session, bucket, new Set(listed.map(o => o.key.slice(COLLECTED_PREFIX.length))), signal)
  } catch (error) {
    session?.close()
    return { unavailable: errorMessage(error) }
  }
}

function marksIn(
  session: StorageSession,
  bucket: string,
  marked: Set<string>,
  signal: AbortSignal
): CollectedMarks {
  let bucketMade = false
  return {
    has: uuid => marked.has(uuid),
    async mark(uuid, { outcome, runUrl }) {
      try {
        if (!bucketMade) await ensureBucket(session.store, bucket, signal)
        bucketMade = true
        const body = JSON.stringify({ task: uuid, outcome, collectedAt: new Date().toISOString(), runUrl })
        await session.store.putObject(bucket, `${COLLECTED_PREFIX}${uuid}`, body, signal)
        marked.add(uuid)
        return undefined
      } catch (error) {
        return errorMessage(error)
      }
    },
    close: () => session.close()
  }
}
