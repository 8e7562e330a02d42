/**
 * Every name the action shares with the outside world, declared once: inputs and outputs (the contract of
 * action.yml), state keys (main -> post), and the values of the `qarnot-outcome` output.
 */

export const Input = {
  Token: 'token',
  Command: 'command',
  InstanceCount: 'instance-count',
  InstanceRange: 'instance-range',
  Profile: 'profile',
  DockerImage: 'docker-image',
  Constants: 'constants',
  Name: 'name',
  Tags: 'tags',
  Labels: 'labels',
  Pool: 'pool',
  Hardware: 'hardware',
  Scheduling: 'scheduling',
  MaxRetriesPerInstance: 'max-retries-per-instance',
  AutoDelete: 'auto-delete',
  Wait: 'wait',
  Timeout: 'timeout',
  AbortOnCancel: 'abort-on-cancel',
  StreamLogs: 'stream-logs',
  Summary: 'summary',
  PollInterval: 'poll-interval',
  ApiUrl: 'api-url',
  Task: 'task',
  PrComment: 'pr-comment',
  GithubToken: 'github-token',
  Rerun: 'rerun',
  Resources: 'resources',
  Results: 'results',
  ResultsInclude: 'results-include',
  ResultsExclude: 'results-exclude',
  KeepResults: 'keep-results',
  ResultsIncomplete: 'results-incomplete',
  Cache: 'cache',
  CacheKey: 'cache-key',
  PullRequestsFromForks: 'pull-requests-from-forks',
  ApprovalLabel: 'approval-label',
  HandOffAfter: 'hand-off-after',
  ContinueWith: 'continue-with',
  SnapshotInterval: 'snapshot-interval',
  InfrastructureRetries: 'infrastructure-retries',
  MaxCredits: 'max-credits'
} as const
export type InputName = (typeof Input)[keyof typeof Input]

export const Output = {
  TaskUuid: 'task-uuid',
  TaskUrl: 'task-url',
  State: 'state',
  Outcome: 'qarnot-outcome',
  InstanceCount: 'instance-count',
  SucceededCount: 'succeeded-count',
  FailedCount: 'failed-count',
  FailedInstances: 'failed-instances',
  Instances: 'instances',
  Stdout: 'stdout',
  LogsDir: 'logs-dir',
  Truncated: 'truncated',
  Credits: 'credits',
  CarbonGCO2eq: 'carbon-gco2eq',
  EnergyWh: 'energy-wh',
  EnergyReusedWh: 'energy-reused-wh',
  ResultsDir: 'results-dir',
  CachedCount: 'cached-count',
  CachedInstances: 'cached-instances'
} as const
export type OutputName = (typeof Output)[keyof typeof Output]

/** Keys saved with core.saveState by main and read back by post (as STATE_<key>). */
export const State = {
  /** Saved before the create is sent: the post step can find a task whose create answer never came. */
  Shortname: 'shortname',
  TaskUuid: 'taskUuid',
  /** `true` once nothing is left for the post step: the task ended, or the user asked to leave it running. */
  TaskEnded: 'taskEnded',
  /**
   * `true` when the step decided to abort its task for a reason other than a cancel (the timeout, during the create
   * or after; a task it could no longer follow): the post step aborts what it finds, abort-on-cancel aside.
   */
  MustAbort: 'mustAbort',
  /** `true` when the step handed its task off on purpose (hand-off-after): the post step must never abort it. */
  HandedOff: 'handedOff'
} as const

/** Values of the `qarnot-outcome` output (not GitHub's own `steps.<id>.outcome`). */
export const Outcome = {
  Success: 'success',
  Failure: 'failure',
  Cancelled: 'cancelled',
  TimedOut: 'timed-out',
  Submitted: 'submitted',
  /** The task succeeded, but result files it made did not all come back (results-incomplete: fail). */
  ResultsIncomplete: 'results-incomplete',
  /** A fork's pull request not approved for its head commit (docs/security.md): nothing was sent to Qarnot. */
  AwaitingApproval: 'awaiting-approval',
  /** A fork's pull request refused outright: `pull-requests-from-forks: never`, or a run without the secrets. */
  RefusedFork: 'refused-fork',
  /** hand-off-after was reached: the step ended, the task runs on, to be collected by a step with `task:`. */
  HandedOff: 'handed-off',
  /** The estimate or the task's credits passed `max-credits` (docs/budget.md). */
  OverBudget: 'over-budget'
} as const
export type OutcomeValue = (typeof Outcome)[keyof typeof Outcome]

export const DEFAULT_API_URL = 'https://api.qarnot.com'
export const TASQ_TASK_URL = 'https://tasq.qarnot.com/tasks/'
/** Environment variables the Qarnot SDKs and CLI already use; the action honours them too. */
export const Env = {
  ClusterUrl: 'QARNOT_CLUSTER_URL',
  ClientToken: 'QARNOT_CLIENT_TOKEN'
} as const
