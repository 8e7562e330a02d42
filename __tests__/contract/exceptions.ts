/**
 * Every place where the contract tests depart from Qarnot's OpenAPI document ('Qarnot Computing: Compute API' v1.0,
 * derived into qarnot-schemas.json), each with the evidence that the live API does otherwise. This is the one
 * place: validate.ts applies the structural ones, and docs/qarnot-api.md §11 explains them in prose.
 *
 * The rule followed: where the official SDKs (which are tested against the live API) or the document's own
 * examples contradict a schema, they win, and the schema is relaxed by exactly that much, here.
 */

export type SchemaException =
  /** The property may be null although the schema does not say so. */
  | { kind: 'nullable'; schema: string; property: string; source: string; note: string }
  /** A string enum the server reads ignoring case (on input only). */
  | { kind: 'enum-ignore-case'; schema: string; property: string; source: string; note: string }
  /** Properties the SDKs send that the schema lacks; the server ignores them instead of refusing the body. */
  | { kind: 'extra-properties'; schema: string; properties: string[]; source: string; note: string }
  /** Property names the server binds ignoring case (applied when validating with `bindLikeServer`). */
  | { kind: 'names-ignore-case'; schemas: string[]; source: string; note: string }
  /** A rule of the document's prose that the live API does not enforce; no structural effect. */
  | { kind: 'rule-not-enforced'; schema: string; property: string; source: string; note: string }

export const EXCEPTIONS: readonly SchemaException[] = [
  {
    kind: 'nullable',
    schema: 'TaskOutput',
    property: 'poolUuid',
    source:
      "OpenAPI document's own examples of GET /tasks ('Blender task', 'Simple task': \"poolUuid\": null); " +
      'Node SDK lib/resources/Task.js example outputs; Python SDK test fixtures ("poolUuid": None)',
    note: 'a task outside any pool says poolUuid: null; the schema types it as a non-nullable uuid'
  },
  {
    kind: 'nullable',
    schema: 'TaskOutput',
    property: 'jobUuid',
    source:
      'OpenAPI document\'s own examples of GET /tasks ("jobUuid": null); Python SDK test fixtures ("jobUuid": None)',
    note: 'a task outside any job says jobUuid: null'
  },
  {
    kind: 'nullable',
    schema: 'CompletedFrameOutput',
    property: 'error',
    source:
      'Node SDK lib/resources/Task.js example output of run(): every succeeded instance has "error": null; ' +
      'C# SDK QTaskCompletedInstance.Error is a nullable reference',
    note: 'an instance that succeeded has no error; OpenAPI 3.0 cannot mark a $ref nullable, so the schema cannot say it'
  },
  {
    kind: 'nullable',
    schema: 'TaskOutput',
    property: 'status',
    source: "OpenAPI document's own example 'Simple task' of GET /tasks (\"status\": null)",
    note: 'a task with no status yet; the emulator sends it only in its nullCollections quirk mode'
  },
  {
    kind: 'enum-ignore-case',
    schema: 'TaskCreationInput',
    property: 'schedulingType',
    source:
      'Python SDK qarnot/scheduling_type.py sends "Flex", "OnDemand", "Reserved"; C# SDK SchedulingType enum ' +
      '(Newtonsoft StringEnumConverter) and its unit test TaskTests.cs asserting "SchedulingType": "Flex" in the create body',
    note: 'both SDKs send PascalCase values where SchedulingClass lists flex, onDemand, reserved; the task reads back lower-camel'
  },
  {
    kind: 'enum-ignore-case',
    schema: 'TaskRetryInput',
    property: 'schedulingType',
    source: 'as for TaskCreationInput.schedulingType (same SDK serialisers)',
    note: 'same enum, same senders'
  },
  {
    kind: 'enum-ignore-case',
    schema: 'PoolCreationInput',
    property: 'schedulingType',
    source:
      'Python SDK qarnot/pool.py sends SchedulingType.schedulingType ("Flex", ...); C# SDK PoolApi.SchedulingType',
    note: 'same enum, same senders'
  },
  {
    kind: 'extra-properties',
    schema: 'TaskCreationInput',
    properties: [
      'constraints',
      'maxTimeQueueSeconds',
      'targetedReservationName',
      'forcedNetworkRules',
      'projectUuid'
    ],
    source:
      'Python SDK qarnot/task.py Task._to_json (constraints, forcedNetworkRules always; the others when set); ' +
      'C# SDK Api/TaskApi.cs (the whole TaskApi is posted); OpenAPI request examples of POST /tasks also carry "constraints": []',
    note: 'the live API ignores fields it does not know on input instead of refusing them'
  },
  {
    kind: 'names-ignore-case',
    schemas: ['TaskCreationInput', 'TaskRetryInput', 'PoolCreationInput'],
    source:
      'C# SDK Sdk/Task.cs SubmitAsync posts TaskApi with PostAsJsonAsync (Newtonsoft defaults: PascalCase names such as ' +
      '"Name", "RetrySettings": {"MaxTotalRetries", "MaxPerInstanceRetries"}); Python SDK sends "ResultsCacheTTLSec"',
    note: 'ASP.NET model binding matches JSON property names ignoring case (System.Text.Json web defaults, Newtonsoft too)'
  },
  {
    kind: 'rule-not-enforced',
    schema: 'TaskCreationInput',
    property: 'maxRetriesPerInstance',
    source:
      'C# SDK Api/TaskApi.cs: MaxRetriesPerInstance (uint, 0 by default) and RetrySettings (never null) are both in ' +
      'every create body',
    note: 'the document says not to set it with retrySettings.maxPerInstanceRetries; the API accepts both, the stricter applies'
  }
]
