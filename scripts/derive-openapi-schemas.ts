/**
 * Derives __tests__/contract/qarnot-schemas.json from Qarnot's OpenAPI document: the schemas the contract tests
 * check against (task create, retry and output, pool create and output) and every schema they reference, with
 * structural keywords only (names, types, enums, required, additionalProperties, ...) and none of the document's
 * prose (descriptions, examples, titles). The tests read only the derived file, never anything outside the project.
 *
 *   npx tsx scripts/derive-openapi-schemas.ts <path-to-qarnot-openapi.json> [<output.json>]
 *
 * Run it again when Qarnot publishes a new version of the document, then look at the diff and at the contract tests.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { format, resolveConfig } from 'prettier'

/** The schemas the tests validate against; everything they reference comes along. */
export const ROOTS = ['TaskCreationInput', 'TaskRetryInput', 'TaskOutput', 'PoolCreationInput', 'PoolOutput']

/** Keywords kept: the structure, nothing else. */
const STRUCTURAL = new Set([
  'type',
  'properties',
  'items',
  'required',
  'enum',
  'additionalProperties',
  'nullable',
  'format',
  'oneOf',
  'anyOf',
  'allOf',
  'discriminator',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'uniqueItems',
  'pattern',
  '$ref'
])

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Copies a schema keeping structural keywords; counts what it drops so nothing structural goes unnoticed. */
function structural(schema: Json, dropped: Map<string, number>): Json {
  if (Array.isArray(schema)) return schema.map(item => structural(item, dropped))
  if (!isObject(schema)) return schema
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(schema)) {
    if (!STRUCTURAL.has(key)) {
      dropped.set(key, (dropped.get(key) ?? 0) + 1)
      continue
    }
    if (key === 'properties' && isObject(value)) {
      // A map of property names to schemas: every name is kept, whatever it is called.
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, structural(sub, dropped)])
      )
    } else if (key === 'discriminator' && isObject(value)) {
      out.discriminator = {
        propertyName: value.propertyName,
        ...(isObject(value.mapping) ? { mapping: value.mapping } : {})
      }
    } else if (key === 'enum' || key === 'required') {
      out[key] = value
    } else {
      out[key] = structural(value, dropped)
    }
  }
  return out
}

function referencedNames(schema: Json, into: Set<string>): void {
  if (Array.isArray(schema)) return schema.forEach(item => referencedNames(item, into))
  if (!isObject(schema)) return
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$ref' && typeof value === 'string') {
      const match = /^#\/components\/schemas\/(.+)$/.exec(value)
      if (!match) throw new Error(`unsupported $ref ${value}`)
      into.add(match[1])
    } else if (key === 'discriminator' && isObject(value) && isObject(value.mapping)) {
      for (const target of Object.values(value.mapping)) referencedNames({ $ref: target }, into)
    } else {
      referencedNames(value, into)
    }
  }
}

export function deriveSchemas(document: JsonObject, roots: readonly string[] = ROOTS) {
  const info = isObject(document.info) ? document.info : {}
  const components = isObject(document.components) ? document.components : {}
  const all = isObject(components.schemas) ? components.schemas : {}
  const names = new Set<string>()
  const queue = [...roots]
  while (queue.length > 0) {
    const name = queue.shift() as string
    if (names.has(name)) continue
    if (!(name in all)) throw new Error(`schema ${name} is not in the document`)
    names.add(name)
    const refs = new Set<string>()
    referencedNames(all[name], refs)
    queue.push(...refs)
  }
  const dropped = new Map<string, number>()
  const schemas: JsonObject = {}
  for (const name of [...names].sort()) schemas[name] = structural(all[name], dropped)
  return {
    derived: {
      $comment:
        `Structure only (no descriptions, examples or titles) of schemas of the OpenAPI document ` +
        `'${text(info.title)}' version ${text(info.version)} (OpenAPI ${text(document.openapi)}), ` +
        `derived by scripts/derive-openapi-schemas.ts; regenerate with ` +
        `npx tsx scripts/derive-openapi-schemas.ts <path-to-qarnot-openapi.json>. ` +
        `Exceptions backed by the official SDKs live in __tests__/contract/exceptions.ts, not here.`,
      source: { title: info.title ?? null, version: info.version ?? null, openapi: document.openapi ?? null },
      roots: [...roots],
      components: { schemas }
    },
    dropped
  }
}

async function main(): Promise<void> {
  const [input, output] = process.argv.slice(2)
  if (!input) {
    console.error(
      'usage: npx tsx scripts/derive-openapi-schemas.ts <path-to-qarnot-openapi.json> [<output.json>]'
    )
    process.exit(2)
  }
  const root = join(dirname(fileURLToPath(import.meta.url)), '..')
  const target = output ?? join(root, '__tests__', 'contract', 'qarnot-schemas.json')
  const document = JSON.parse(readFileSync(input, 'utf8')) as JsonObject
  const { derived, dropped } = deriveSchemas(document)
  const options = (await resolveConfig(target)) ?? {}
  writeFileSync(target, await format(JSON.stringify(derived, null, 2), { ...options, parser: 'json' }))
  const count = Object.keys(derived.components.schemas).length
  console.log(`${relative(process.cwd(), target)}: ${count} schemas from ${derived.roots.join(', ')}`)
  console.log(`dropped keywords: ${[...dropped].map(([key, n]) => `${key} (${n})`).join(', ') || 'none'}`)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main()

/** A JSON value as text in the derived file's note. */
function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value)
}
