/**
 * Validates values against the Qarnot schemas derived into qarnot-schemas.json (docs/qarnot-api.md §12), with the
 * exceptions of exceptions.ts. OpenAPI 3.0 schemas are not JSON Schema, so they are converted first:
 * - `nullable: true` becomes a null type (or an anyOf with null beside a $ref, whose siblings JSON Schema ignores);
 * - inheritance (`allOf: [{$ref: Base}, {own properties}]`, each part with additionalProperties: false) is flattened
 *   into one object, or each part would refuse the other's properties;
 * - a discriminated oneOf (`discriminator.mapping`) picks the one schema named by the discriminator value, as
 *   OpenAPI reads it, instead of requiring exactly one match among schemas that overlap;
 * - OpenAPI formats (int32, float, double, uuid, date-time, date-span) are checked as .NET writes them.
 */
import { readFileSync } from 'node:fs'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { EXCEPTIONS } from './exceptions.js'

type Schema = { [key: string]: unknown }

interface Derived {
  source: { title: string; version: string }
  components: { schemas: Record<string, Schema> }
}

const derived = JSON.parse(readFileSync(new URL('./qarnot-schemas.json', import.meta.url), 'utf8')) as Derived

/** The source named in the derived file: 'Qarnot Computing: Compute API' v1.0. */
export const SOURCE = derived.source

const REF_PREFIX = '#/components/schemas/'
const isObject = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T
const refName = (schema: unknown): string | undefined =>
  isObject(schema) && typeof schema.$ref === 'string' && schema.$ref.startsWith(REF_PREFIX)
    ? schema.$ref.slice(REF_PREFIX.length)
    : undefined

// --- exceptions, applied to the OpenAPI schemas before conversion ---

function applyExceptions(schemas: Record<string, Schema>): void {
  const property = (schema: string, name: string): Schema => {
    const properties = schemas[schema]?.properties
    if (!isObject(properties) || !isObject(properties[name]))
      throw new Error(`exceptions.ts: ${schema}.${name} is not in qarnot-schemas.json`)
    return properties[name]
  }
  for (const exception of EXCEPTIONS) {
    switch (exception.kind) {
      case 'nullable':
        property(exception.schema, exception.property).nullable = true
        break
      case 'enum-ignore-case': {
        const target = property(exception.schema, exception.property)
        const referenced = refName(target)
        const values = (referenced ? schemas[referenced] : target).enum
        if (!Array.isArray(values))
          throw new Error(`exceptions.ts: ${exception.schema}.${exception.property}`)
        delete target.$ref
        delete target.enum
        Object.assign(target, { type: 'string', enumIgnoreCase: values })
        break
      }
      case 'extra-properties': {
        const properties = schemas[exception.schema].properties as Schema
        for (const name of exception.properties) properties[name] = {}
        break
      }
      case 'names-ignore-case':
      case 'rule-not-enforced':
        break // applied by bindLikeServer / no structural effect
    }
  }
}

// --- OpenAPI 3.0 -> JSON Schema draft-07 ---

interface Discriminated {
  readonly property: string
  /** Discriminator value -> schema name. */
  readonly mapping: Record<string, string>
}

function discriminatedBases(schemas: Record<string, Schema>): Map<string, Discriminated> {
  const bases = new Map<string, Discriminated>()
  for (const [name, schema] of Object.entries(schemas)) {
    const discriminator = schema.discriminator
    if (!isObject(discriminator) || !isObject(discriminator.mapping)) continue
    const mapping: Record<string, string> = {}
    for (const [value, ref] of Object.entries(discriminator.mapping))
      mapping[value] = refName({ $ref: ref }) ?? ''
    bases.set(name, { property: String(discriminator.propertyName), mapping })
  }
  return bases
}

function convert(schema: unknown, bases: Map<string, Discriminated>): unknown {
  if (Array.isArray(schema)) return schema.map(item => convert(item, bases))
  if (!isObject(schema)) return schema
  const out: Schema = {}
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'nullable' || key === 'discriminator') continue
    if (key === '$ref' && typeof value === 'string') out.$ref = value.replace(REF_PREFIX, '#/definitions/')
    else if (key === 'properties' && isObject(value))
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v, bases)]))
    else if (key === 'enum' || key === 'required' || key === 'enumIgnoreCase') out[key] = value
    else out[key] = convert(value, bases)
  }
  if (Array.isArray(schema.oneOf)) {
    const dispatch = discriminatedOneOf(schema.oneOf, bases)
    if (dispatch) {
      delete out.oneOf
      Object.assign(out, dispatch)
    }
  }
  if (out.$ref !== undefined && Object.keys(out).length > 1) {
    // JSON Schema draft-07 ignores the siblings of $ref.
    const { $ref, ...rest } = out
    return nullable(schema, { allOf: [{ $ref }, rest] })
  }
  return nullable(schema, out)
}

function nullable(original: Schema, converted: Schema): Schema {
  if (original.nullable !== true) return converted
  if (typeof converted.type === 'string') {
    const out: Schema = { ...converted, type: [converted.type, 'null'] }
    if (Array.isArray(converted.enum)) out.enum = [...converted.enum, null]
    return out
  }
  return { anyOf: [converted, { type: 'null' }] }
}

/** A oneOf whose members are the schemas of a discriminator mapping: choose by the discriminator value. */
function discriminatedOneOf(members: unknown[], bases: Map<string, Discriminated>): Schema | undefined {
  const names = members.map(refName)
  if (names.some(name => name === undefined)) return undefined
  for (const base of bases.values()) {
    const values = Object.keys(base.mapping).filter(
      value => names.includes(base.mapping[value]) || names.some(name => bases.get(name as string) === base)
    )
    if (values.length === 0) continue
    const covered = names.every(
      name => bases.get(name as string) === base || Object.values(base.mapping).includes(name as string)
    )
    if (!covered) continue
    return {
      type: 'object',
      required: [base.property],
      properties: { [base.property]: { type: 'string', enum: values } },
      allOf: values.map(value => ({
        if: { properties: { [base.property]: { const: value } } },
        then: { $ref: `#/definitions/${base.mapping[value]}` }
      }))
    }
  }
  return undefined
}

/** Flattens `allOf: [{$ref: Base}, {...}]` of a discriminated subtype into one closed object. */
function flattenInheritance(schemas: Record<string, Schema>, bases: Map<string, Discriminated>): void {
  for (const [name, schema] of Object.entries(schemas)) {
    if (!Array.isArray(schema.allOf)) continue
    const parts = schema.allOf.map(part => {
      const referenced = refName(part)
      return referenced ? schemas[referenced] : part
    }) as Schema[]
    const baseName = schema.allOf.map(refName).find(part => part !== undefined && bases.has(part))
    const base = baseName ? bases.get(baseName) : undefined
    if (!base || !parts.every(isObject)) continue
    const properties: Schema = {}
    const required = new Set<string>()
    for (const part of parts) {
      Object.assign(properties, clone(part.properties ?? {}))
      for (const field of (part.required as string[] | undefined) ?? []) required.add(field)
    }
    const values = Object.keys(base.mapping).filter(value => base.mapping[value] === name)
    properties[base.property] = { type: 'string', enum: values }
    required.add(base.property)
    const closed = parts.every(part => part.additionalProperties === false)
    schemas[name] = {
      type: 'object',
      properties,
      required: [...required],
      ...(closed ? { additionalProperties: false } : {})
    }
  }
}

// --- formats as .NET writes them ---

type FormatCheck =
  | { type: 'string'; validate: (value: string) => boolean }
  | { type: 'number'; validate: (value: number) => boolean }

const FORMATS: Record<string, FormatCheck> = {
  int32: { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 },
  int64: { type: 'number', validate: (n: number) => Number.isSafeInteger(n) },
  float: { type: 'number', validate: (n: number) => Number.isFinite(n) },
  double: { type: 'number', validate: (n: number) => Number.isFinite(n) },
  uuid: {
    type: 'string',
    validate: (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s)
  },
  'date-time': {
    type: 'string',
    validate: (s: string) =>
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})$/.test(s) &&
      !Number.isNaN(Date.parse(s))
  },
  // A time of day as .NET writes a TimeSpan: hh:mm:ss[.fffffff] (pools' weekly scaling periods).
  time: { type: 'string', validate: (s: string) => /^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,7})?$/.test(s) },
  // A .NET TimeSpan in its constant ("c") format: [-][d.]hh:mm:ss[.fffffff].
  'date-span': {
    type: 'string',
    validate: (s: string) => /^-?(\d+\.)?([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,7})?$/.test(s)
  }
}

// --- the validator ---

function buildAjv(): Ajv {
  const schemas = clone(derived.components.schemas)
  applyExceptions(schemas)
  const bases = discriminatedBases(schemas)
  flattenInheritance(schemas, bases)
  const definitions = Object.fromEntries(
    Object.entries(schemas).map(([name, schema]) => [name, convert(schema, bases)])
  )
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true })
  for (const [name, definition] of Object.entries(FORMATS)) ajv.addFormat(name, definition)
  ajv.addKeyword({
    keyword: 'enumIgnoreCase',
    type: 'string',
    schemaType: 'array',
    error: { message: cxt => `must be one of ${JSON.stringify(cxt.schema)} (any case)` },
    validate: (values: string[], data: string) => values.some(v => v.toLowerCase() === data.toLowerCase())
  })
  ajv.addSchema({ $id: 'qarnot.json', definitions }, 'qarnot.json')
  return ajv
}

let ajv: Ajv | undefined
const compiled = new Map<string, ValidateFunction>()

function validator(schemaName: string): ValidateFunction {
  ajv ??= buildAjv()
  let validate = compiled.get(schemaName)
  if (!validate) {
    if (!(schemaName in derived.components.schemas))
      throw new Error(`${schemaName} is not in qarnot-schemas.json`)
    validate = ajv.compile({ $ref: `qarnot.json#/definitions/${schemaName}` })
    compiled.set(schemaName, validate)
  }
  return validate
}

function describe(error: ErrorObject): string {
  const at = error.instancePath || '(root)'
  const params = error.params as Record<string, unknown>
  if (error.keyword === 'additionalProperties')
    return `${at}: unknown property "${String(params.additionalProperty)}"`
  if (error.keyword === 'enum') return `${at}: ${error.message} ${JSON.stringify(params.allowedValues)}`
  if (error.keyword === 'required')
    return `${at}: missing required property "${String(params.missingProperty)}"`
  return `${at}: ${error.message}`
}

/**
 * Errors that only echo another: the wrappers (anyOf, if/then, allOf), and the "must be null" of a nullable value's
 * null branch when the value failed for a reason of its own (at its path or below).
 */
function readable(errors: ErrorObject[]): string[] {
  const isNullBranch = (error: ErrorObject) =>
    error.keyword === 'type' && (error.params as { type?: unknown }).type === 'null'
  const real = errors.filter(error => !['anyOf', 'if', 'allOf'].includes(error.keyword))
  const reasons = real.filter(error => !isNullBranch(error)).map(error => error.instancePath)
  const kept = real.filter(
    error =>
      !isNullBranch(error) ||
      !reasons.some(path => path === error.instancePath || path.startsWith(`${error.instancePath}/`))
  )
  return [...new Set(kept.map(describe))]
}

export interface ValidateOptions {
  /** Match property names ignoring case first, as the server binds them (exceptions.ts, names-ignore-case). */
  readonly bindLikeServer?: boolean
}

/** Validates `value` against a derived schema; returns readable errors, empty when valid. */
export function validate(schemaName: string, value: unknown, options: ValidateOptions = {}): string[] {
  const checked = options.bindLikeServer ? bindLikeServer(schemaName, value) : value
  const run = validator(schemaName)
  return run(checked) ? [] : readable(run.errors ?? [])
}

// --- case-insensitive binding of property names, as ASP.NET does on input ---

function propertiesOf(schema: unknown, schemas: Record<string, Schema>, seen = new Set<string>()): Schema {
  if (!isObject(schema)) return {}
  const referenced = refName(schema)
  if (referenced) {
    if (seen.has(referenced)) return {}
    seen.add(referenced)
    return propertiesOf(schemas[referenced], schemas, seen)
  }
  const found: Schema = { ...(isObject(schema.properties) ? schema.properties : {}) }
  for (const key of ['allOf', 'anyOf', 'oneOf'])
    for (const part of (schema[key] as unknown[] | undefined) ?? [])
      Object.assign(found, propertiesOf(part, schemas, seen))
  if (isObject(schema.discriminator) && isObject(schema.discriminator.mapping))
    for (const ref of Object.values(schema.discriminator.mapping))
      Object.assign(found, propertiesOf({ $ref: ref }, schemas, seen))
  return found
}

function itemsOf(schema: unknown, schemas: Record<string, Schema>): unknown {
  const referenced = refName(schema)
  if (referenced) return itemsOf(schemas[referenced], schemas)
  return isObject(schema) ? schema.items : undefined
}

function bind(schema: unknown, value: unknown, schemas: Record<string, Schema>): unknown {
  if (Array.isArray(value)) return value.map(item => bind(itemsOf(schema, schemas), item, schemas))
  if (!isObject(value)) return value
  const properties = propertiesOf(schema, schemas)
  const byLowerCase = new Map(Object.keys(properties).map(name => [name.toLowerCase(), name]))
  if (byLowerCase.size === 0) return value // a map (labels) or a free object: its keys are data
  const out: Schema = {}
  for (const [key, item] of Object.entries(value)) {
    const name = byLowerCase.get(key.toLowerCase()) ?? key
    out[name] = bind(properties[name], item, schemas)
  }
  return out
}

/** The value with its property names spelt as the schema spells them, where they match ignoring case. */
export function bindLikeServer(schemaName: string, value: unknown): unknown {
  const rule = EXCEPTIONS.find(e => e.kind === 'names-ignore-case')
  if (!rule || rule.kind !== 'names-ignore-case' || !rule.schemas.includes(schemaName))
    throw new Error(`no names-ignore-case exception covers ${schemaName}`)
  return bind({ $ref: `${REF_PREFIX}${schemaName}` }, value, derived.components.schemas)
}
