/** Qarnot task states (docs/qarnot-api.md §5). */

export const FINAL_STATES = new Set(['Success', 'Failure', 'Cancelled'])

export const KNOWN_STATES = new Set([
  'Submitted',
  'PartiallyDispatched',
  'FullyDispatched',
  'PartiallyExecuting',
  'FullyExecuting',
  'UploadingResults',
  'DownloadingResults',
  'PendingCancel',
  'PendingDelete',
  'Success',
  'Failure',
  'Cancelled'
])

/** Whether polling can stop. `PendingCancel` and unknown states are not final; `PendingDelete` ends the task's life. */
export function isFinalState(state: string): boolean {
  return FINAL_STATES.has(state) || state === 'PendingDelete'
}

export function isKnownState(state: string): boolean {
  return KNOWN_STATES.has(state)
}
