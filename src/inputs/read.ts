/**
 * Reading single inputs: the error every reader raises (naming the input and the fix), and the readers main and
 * post share (token, API URL, booleans, numbers, durations), so that both read every input the same way.
 */
import { DEFAULT_API_URL, Env, Input, type InputName } from '../constants.js'
import { formatDuration, parseDuration } from '../input-formats/duration.js'
import { errorMessage, redactUrl } from '../words.js'

/** Reads one input as the runner passes it (already trimmed, `""` when unset). */
export type InputReader = (name: InputName) => string

export class InputError extends Error {
  constructor(
    readonly input: InputName,
    detail: string
  ) {
    super(`Input '${input}': ${detail}`)
    this.name = 'InputError'
  }
}

/** Wraps a parser so that its Error becomes an InputError of `input`. */
export function about<T>(input: InputName, parse: () => T): T {
  try {
    return parse()
  } catch (error) {
    if (error instanceof InputError) throw error
    throw new InputError(input, errorMessage(error))
  }
}

export function readBoolean(read: InputReader, input: InputName, fallback: boolean): boolean {
  const text = read(input)
  if (text === '') return fallback
  if (/^true$/i.test(text)) return true
  if (/^false$/i.test(text)) return false
  throw new InputError(input, `"${text}" is not a boolean; write true or false`)
}

export function readWholeNumber(
  read: InputReader,
  input: InputName,
  minimum: number,
  maximum = 2 ** 31 - 1
): number | undefined {
  const text = read(input)
  if (text === '') return undefined
  if (!/^\d+$/.test(text))
    throw new InputError(input, `"${text}" is not a whole number; write for example ${minimum + 3}`)
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value > maximum) {
    throw new InputError(input, `${text} is too large; the most is ${maximum}`)
  }
  if (value < minimum) throw new InputError(input, `${text} is below the minimum of ${minimum}`)
  return value
}

/** A duration of at least one second (`90s`, `30m`, `1h30m`), or undefined when empty. */
export function readDuration(
  read: InputReader,
  input: InputName,
  maximum?: { readonly ms: number; readonly why: string }
): number | undefined {
  const text = read(input)
  if (text === '') return undefined
  const ms = about(input, () => parseDuration(text))
  if (ms < 1000) throw new InputError(input, `${text} is under a second; write at least 1s`)
  if (maximum && ms > maximum.ms)
    throw new InputError(input, `${text} is over ${formatDuration(maximum.ms)}; ${maximum.why}`)
  return ms
}

export function readToken(read: InputReader): string {
  const token = read(Input.Token)
  if (token === '') {
    throw new InputError(
      Input.Token,
      'is empty; pass your Qarnot API token from a secret: token: ${{ secrets.QARNOT_TOKEN }} (a secret that is not set, e.g. in a fork, reads as empty)'
    )
  }
  if (/\s/.test(token)) {
    throw new InputError(
      Input.Token,
      'contains white space; copy the token again from Tasq without spaces or line breaks'
    )
  }
  return token
}

const LOOPBACK_HOSTS = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i

/** `api-url`, else `QARNOT_CLUSTER_URL`, else Qarnot's own; both trimmed and checked the same way. */
export function readApiUrl(read: InputReader, env: NodeJS.ProcessEnv): string {
  const given = read(Input.ApiUrl) || env[Env.ClusterUrl]?.trim() || DEFAULT_API_URL
  // Messages show the URL without the user name and password it may carry.
  const text = redactUrl(given)
  let url: URL
  try {
    url = new URL(given)
  } catch {
    throw new InputError(Input.ApiUrl, `"${text}" is not a URL; write for example ${DEFAULT_API_URL}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InputError(Input.ApiUrl, `"${text}" must start with https:// (or http:// for a local emulator)`)
  }
  // The token goes in every request's header: in clear only to this machine.
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.test(url.hostname)) {
    throw new InputError(
      Input.ApiUrl,
      `"${text}" is http:// to another machine, which would send the token in clear; use https:// (http:// is for an emulator on localhost)`
    )
  }
  if (url.search !== '' || url.hash !== '')
    throw new InputError(Input.ApiUrl, `"${text}" must not carry a query or fragment`)
  return url.toString().replace(/\/+$/, '')
}
