/**
 * The emulator accepts what the real API accepts: create bodies as the official SDKs build them (docs/qarnot-api.md
 * §3 and §11) pass the schema through exceptions.ts, and the emulator runs them and honours their retry settings.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import type { QarnotEmulator } from '../../emulator/server.js'
import { call, fastEmulator, waitForState } from '../helpers/emulator.js'
import { validate } from './validate.js'

let emulator: QarnotEmulator
beforeEach(async () => {
  emulator = await fastEmulator()
})
afterEach(async () => {
  await emulator.stop()
})

/** What the Python SDK's Task._to_json sends for a docker-batch task (qarnot/task.py), fields in its order. */
const PYTHON_SDK_BODY = {
  name: 'python task',
  profile: 'docker-batch',
  poolUuid: null,
  jobUuid: null,
  constants: [{ key: 'DOCKER_CMD', value: "sh -c 'exit $((INSTANCE_ID % 2))'" }],
  constraints: [],
  forcedConstants: [],
  waitForPoolResourcesSynchronization: null,
  uploadResultsOnCancellation: null,
  labels: {},
  dependencies: { dependsOn: [] },
  shortname: 'python-task',
  advancedResourceBuckets: [],
  instanceCount: 2,
  tags: [],
  autoDeleteOnCompletion: false,
  completionTimeToLive: '00:00:00',
  hardwareConstraints: [{ discriminator: 'MinimumCoreHardwareConstraint', coreCount: 4 }],
  defaultResourcesCacheTTLSec: null,
  privileges: { exportApiAndStorageCredentialsInEnvironment: false },
  retrySettings: { maxTotalRetries: null, maxPerInstanceRetries: 1 },
  schedulingType: 'Flex',
  forcedNetworkRules: [],
  secretsAccessRights: { bySecret: [], byPrefix: [] }
}

/** The fields of the C# SDK's create body (the whole TaskApi, Newtonsoft's PascalCase) that TaskCreationInput has. */
const CSHARP_SDK_INPUT_FIELDS = {
  Name: 'csharp task',
  Profile: 'docker-batch',
  PoolUuid: null,
  JobUuid: null,
  MaxRetriesPerInstance: 1,
  InstanceCount: 0,
  AdvancedRanges: '0-1',
  ResourceBuckets: [],
  AdvancedResourceBuckets: [],
  ResultBucket: null,
  Constants: [{ Key: 'DOCKER_CMD', Value: 'false' }],
  Labels: { Team: 'CI' },
  Tags: [],
  AutoDeleteOnCompletion: false,
  CompletionTimeToLive: '00:00:00',
  HardwareConstraints: [{ Discriminator: 'MinimumRamHardwareConstraint', MinimumMemoryMB: 4096.0 }],
  Privileges: { ExportApiAndStorageCredentialsInEnvironment: false },
  RetrySettings: { MaxTotalRetries: null, MaxPerInstanceRetries: 3 },
  SecretsAccessRights: { BySecret: [], ByPrefix: [] },
  SchedulingType: 'OnDemand'
}

/** The rest of the C# SDK's TaskApi, output fields included, as it posts them at creation. */
const CSHARP_SDK_OTHER_FIELDS = {
  MaxTimeQueueSeconds: null,
  RunningInstanceCount: null,
  RunningCoreCount: null,
  ExecutionTime: null,
  WallTime: null,
  EndDate: '0001-01-01T00:00:00',
  State: null,
  PreviousState: null,
  StateTransitionTime: '0001-01-01T00:00:00',
  Errors: [],
  SnapshotInterval: 0,
  ResultsCount: 0,
  CreationDate: '0001-01-01T00:00:00',
  Constraints: [],
  Uuid: '00000000-0000-0000-0000-000000000000',
  Shortname: null,
  Status: null,
  CompletedInstances: [],
  Dependencies: null,
  ForcedNetworkRules: null,
  ForcedConstants: null,
  ProjectUuid: null
}

describe('create bodies as the official SDKs send them', () => {
  it("the Python SDK's: valid through exceptions.ts, run by the emulator", async () => {
    expect(validate('TaskCreationInput', PYTHON_SDK_BODY)).toEqual([])
    const answer = await call(emulator, 'POST', '/tasks', PYTHON_SDK_BODY)
    expect(answer.status).toBe(200)
    const task = await waitForState(emulator, (answer.json() as { uuid: string }).uuid, ['Failure'])
    expect(task.schedulingType).toBe('flex')
    const attempts = (task.completedInstances as { instanceId: number; executionAttemptCount: number }[])
      .sort((a, b) => a.instanceId - b.instanceId)
      .map(i => i.executionAttemptCount)
    expect(attempts).toEqual([1, 2])
  })

  it("the C# SDK's: PascalCase, maxRetriesPerInstance beside retrySettings, and its output fields", async () => {
    expect(validate('TaskCreationInput', CSHARP_SDK_INPUT_FIELDS, { bindLikeServer: true })).toEqual([])
    // Without the server's case-insensitive binding the same body is refused by the schema: the exception is needed.
    expect(validate('TaskCreationInput', CSHARP_SDK_INPUT_FIELDS)).toContain(
      '(root): unknown property "Name"'
    )
    const answer = await call(emulator, 'POST', '/tasks', {
      ...CSHARP_SDK_INPUT_FIELDS,
      ...CSHARP_SDK_OTHER_FIELDS
    })
    expect(answer.status).toBe(200)
    const task = await waitForState(emulator, (answer.json() as { uuid: string }).uuid, ['Failure'])
    expect(task).toMatchObject({ name: 'csharp task', advancedRanges: '0-1', labels: { Team: 'CI' } })
    // MaxRetriesPerInstance 1 is stricter than RetrySettings.MaxPerInstanceRetries 3.
    const attempts = (task.completedInstances as { executionAttemptCount: number }[]).map(
      i => i.executionAttemptCount
    )
    expect(attempts).toEqual([2, 2])
    expect(task.hardwareConstraints).toEqual([
      { discriminator: 'MinimumRamHardwareConstraint', minimumMemoryMB: 4096 }
    ])
  })

  it('a retry body (TaskRetryInput) changes fields of the new task but cannot choose its instances', () => {
    const retry = {
      name: 'again',
      shortname: 'again-1',
      retrySettings: { maxTotalRetries: 2, maxPerInstanceRetries: null }
    }
    expect(validate('TaskRetryInput', retry)).toEqual([])
    expect(validate('TaskRetryInput', { ...retry, advancedRanges: '1,3' })).toEqual([
      '(root): unknown property "advancedRanges"'
    ])
  })
})
