/**
 * Files that hold credentials by what they are called (docs/security.md, "What is staged"): package registry
 * and git credentials, environment files, cloud and container logins, private SSH keys. A pattern with a
 * wildcard, or a folder, leaves them out (with a warning); a pattern naming one by its whole path takes it. The
 * list goes by names: a secret in a file called otherwise is the user's to keep out. Pure.
 */

/** Names (any folder, any case) that hold a secret wherever they are. */
const SECRET_NAMES = new Set([
  '.npmrc', // npm/yarn v1 registry tokens (actions/setup-node writes one with registry-url)
  '.yarnrc.yml', // npmAuthToken
  '.pypirc', // PyPI upload tokens
  '.netrc', // logins for curl, git, pip
  '_netrc',
  '.git-credentials', // git's credential store
  '.pgpass',
  '.htpasswd',
  '.env', // dotenv files
  'credentials.tfrc.json' // Terraform Cloud
])

/** Whole names, and what they are, matched in any case. */
const SECRET_PATTERNS: readonly RegExp[] = [
  /^\.env\.(?!(example|sample|template|dist)$).+$/, // .env.local, .env.production; not the templates
  /^.+\.env$/, // prod.env
  /^id_(rsa|dsa|ecdsa|ed25519)(_sk)?$/, // private SSH keys (the .pub is public)
  /^gha-creds-[^/]*\.json$/ // google-github-actions/auth writes its credentials into the workspace
]

/** Files known by their folder too. */
const SECRET_PATHS: readonly (readonly [string, string])[] = [
  ['.docker', 'config.json'], // docker login
  ['.aws', 'credentials'],
  ['.kube', 'config'],
  ['.ssh', '*'] // everything in an .ssh folder but public keys and known hosts
]

export function holdsSecret(path: string): boolean {
  const segments = path.toLowerCase().split('/')
  const name = segments[segments.length - 1] ?? ''
  const folder = segments[segments.length - 2]
  if (SECRET_NAMES.has(name) || SECRET_PATTERNS.some(pattern => pattern.test(name))) return true
  return SECRET_PATHS.some(
    ([inside, file]) =>
      folder === inside &&
      (file === name || (file === '*' && !name.endsWith('.pub') && !name.startsWith('known_hosts')))
  )
}
