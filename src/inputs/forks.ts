/** The inputs about pull requests from forks (docs/security.md): the policy and the approval label. */
import { Input } from '../constants.js'
import { InputError, type InputReader } from './read.js'

export interface ForkSettings {
  /** `approved`: a fork's pull request computes once approved for its head commit; `never`; `always` (unsafe). */
  readonly policy: 'approved' | 'never' | 'always'
  /** The label a user with write access adds to approve the head commit. */
  readonly label: string
}

export const DEFAULT_APPROVAL_LABEL = 'safe-to-compute'
/** GitHub's longest label name. */
const MAX_LABEL_LENGTH = 50

export function readForkSettings(read: InputReader): ForkSettings {
  const text = read(Input.PullRequestsFromForks).toLowerCase()
  const policy = text === '' ? 'approved' : text
  if (policy !== 'approved' && policy !== 'never' && policy !== 'always')
    throw new InputError(
      Input.PullRequestsFromForks,
      `"${read(Input.PullRequestsFromForks)}" is not a choice; write approved, never or always`
    )
  const label = read(Input.ApprovalLabel) || DEFAULT_APPROVAL_LABEL
  // eslint-disable-next-line no-control-regex
  if (label.length > MAX_LABEL_LENGTH || /[\u0000-\u001f\u007f]/.test(label))
    throw new InputError(
      Input.ApprovalLabel,
      `is not a label GitHub can hold (at most ${MAX_LABEL_LENGTH} characters, on one line); write e.g. ${DEFAULT_APPROVAL_LABEL}`
    )
  return { policy, label }
}
