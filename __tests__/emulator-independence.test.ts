/**
 * The emulator stands on its own: it checks and serves what the action sends with code of its own (docs/emulator.md,
 * "Independence"), so no file under emulator/ imports the action's src/. Its own range parser and its SigV4 check
 * refuse what they should.
 */
import { describe, expect, it } from '@jest/globals'
import { createHash, createHmac } from 'node:crypto'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { SignatureV4 } from '@smithy/signature-v4'
import ts from 'typescript'
import { idsOfRange, isValidRange, rangeOfIds, readSpans } from '../emulator/ranges.js'
import { verifyRequest } from '../emulator/storage/sigv4.js'
import { PROJECT_ROOT } from '../src/local-runner/runner.js'

const EMULATOR = join(PROJECT_ROOT, 'emulator')
const SRC = join(PROJECT_ROOT, 'src')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return files(path)
    return /\.(ts|js|mjs|cjs)$/.test(name) ? [path] : []
  })
}

/** Every module specifier of a file: imports, re-exports, `import()`, `require()`, `import x = require()`. */
function specifiers(path: string): string[] {
  const file = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true)
  const found: string[] = []
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier)
      found.push((node.moduleSpecifier as ts.StringLiteral).text)
    if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
      found.push((node.moduleReference.expression as ts.StringLiteral).text)
    if (ts.isCallExpression(node) && node.arguments.length > 0 && ts.isStringLiteralLike(node.arguments[0])) {
      const callee = node.expression
      if (
        callee.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(callee) && callee.text === 'require')
      )
        found.push(node.arguments[0].text)
    }
    if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    )
      found.push(node.argument.literal.text)
    ts.forEachChild(node, visit)
  }
  visit(file)
  return found
}

describe('the emulator stands on its own', () => {
  it('no file under emulator/ imports from src/', () => {
    const all = files(EMULATOR)
    expect(all.length).toBeGreaterThan(10)
    const offending = all.flatMap(path =>
      specifiers(path)
        .filter(spec => spec.startsWith('.'))
        .filter(spec => {
          const target = resolve(dirname(path), spec)
          return target === SRC || target.startsWith(`${SRC}/`)
        })
        .map(spec => `${relative(PROJECT_ROOT, path)}: ${spec}`)
    )
    expect(offending).toEqual([])
  })

  it('finds every form of import (the check itself)', () => {
    const path = join(PROJECT_ROOT, '__tests__', 'emulator-independence.test.ts')
    expect(specifiers(path)).toEqual(expect.arrayContaining(['../src/local-runner/runner.js', 'typescript']))
  })
})

describe("the emulator's range parser", () => {
  it.each(['0', '7', '0-3', '1-6,15,20,25-30', '3-3', ' 1 , 2-4 ', '2147483647'])('takes %j', text => {
    expect(isValidRange(text)).toBe(true)
  })

  it.each([
    '',
    ' ',
    '3-1',
    'a',
    '1,,2',
    ',1',
    '1,',
    '-1',
    '+1',
    '1-',
    '-',
    '1--2',
    '1-2-3',
    '1.5',
    '0x10',
    '1 2',
    '2147483648',
    '1;2'
  ])('refuses %j', text => {
    expect(isValidRange(text)).toBe(false)
    expect(() => readSpans(text)).toThrow(/invalid advanced range/)
  })

  it('gives the ids once each, ascending, and writes them back joined', () => {
    expect(idsOfRange('5,0-2,1-3')).toEqual([0, 1, 2, 3, 5])
    expect(rangeOfIds([5, 0, 1, 2, 3])).toBe('0-3,5')
    expect(rangeOfIds([])).toBe('')
    expect(rangeOfIds([4])).toBe('4')
  })
})

type SourceData = string | ArrayBuffer | ArrayBufferView
const bytes = (data: SourceData) =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data)
class Sha256 {
  private readonly hash
  constructor(secret?: SourceData) {
    this.hash = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256')
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data))
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest())
  }
}

describe("the emulator's SigV4 check", () => {
  const accounts = new Map([['me@example.com', 'right-secret']])
  const sign = (secret: string, path: string, body = '') =>
    new SignatureV4({
      credentials: { accessKeyId: 'me@example.com', secretAccessKey: secret },
      region: 'us-east-1',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false
    }).sign({
      method: 'PUT',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 9000,
      path,
      query: {},
      headers: {
        host: '127.0.0.1:9000',
        'x-amz-content-sha256': createHash('sha256').update(body).digest('hex')
      },
      body
    })

  it('accepts the right secret', async () => {
    const good = await sign('right-secret', '/bucket/a.txt', 'hello')
    await expect(
      verifyRequest({ method: 'PUT', url: '/bucket/a.txt', headers: good.headers }, accounts)
    ).resolves.toEqual({ ok: true, accessKey: 'me@example.com' })
  })

  it('refuses a wrong secret', async () => {
    const bad = await sign('wrong-secret', '/bucket/a.txt')
    await expect(
      verifyRequest({ method: 'PUT', url: '/bucket/a.txt', headers: bad.headers }, accounts)
    ).resolves.toMatchObject({ ok: false, status: 403, code: 'SignatureDoesNotMatch' })
  })

  it('refuses a tampered path, method or query', async () => {
    const good = await sign('right-secret', '/bucket/a.txt')
    for (const [method, url] of [
      ['PUT', '/bucket/b.txt'],
      ['PUT', '/other/a.txt'],
      ['DELETE', '/bucket/a.txt'],
      ['PUT', '/bucket/a.txt?uploads']
    ]) {
      await expect(verifyRequest({ method, url, headers: good.headers }, accounts)).resolves.toMatchObject({
        ok: false,
        code: 'SignatureDoesNotMatch'
      })
    }
  })

  it('refuses a tampered payload hash and a stale date', async () => {
    const good = await sign('right-secret', '/bucket/a.txt')
    const headers = { ...good.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }
    await expect(
      verifyRequest({ method: 'PUT', url: '/bucket/a.txt', headers }, accounts)
    ).resolves.toMatchObject({ ok: false })
    await expect(
      verifyRequest(
        { method: 'PUT', url: '/bucket/a.txt', headers: good.headers },
        accounts,
        Date.now() + 3_600_000
      )
    ).resolves.toMatchObject({ ok: false, code: 'RequestTimeTooSkewed' })
  })
})
