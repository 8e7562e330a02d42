/**
 * Schema checks of what the API answers: the OpenAPI schemas derived into __tests__/contract/qarnot-schemas.json,
 * with the SDK-backed exceptions of __tests__/contract/exceptions.ts (docs/qarnot-api.md §11, §12). The same
 * validator the contract tests use on the emulator's documents, so both sides are held to one reading.
 */
import { SOURCE, validate } from '../__tests__/contract/validate.js'

/** The readable schema errors of `value` against `schema` (`TaskOutput`, ...); empty when it conforms. */
export function schemaErrors(schema: string, value: unknown): string[] {
  return validate(schema, value)
}

/** The OpenAPI document the schemas come from, for the observations. */
export const SCHEMA_SOURCE = `${SOURCE.title} ${SOURCE.version}`
