/**
 * Docker image references as people write them, turned into the docker-batch profile's constants.
 * `ubuntu` -> DOCKER_REPO=library/ubuntu, DOCKER_TAG=latest; `ghcr.io/org/img:tag` adds DOCKER_SRV=ghcr.io.
 */

export interface DockerImage {
  /** Registry host (with port), absent for Docker Hub. */
  readonly server?: string
  /** Repository path, with the `library/` prefix for official Docker Hub images. */
  readonly repository: string
  readonly tag: string
}

const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])
// Docker's reference grammar, simplified: lower-case path components separated by one of . _ __ -
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::\d+)?$/

/** Returns the parsed image, or throws an Error whose message says what to write instead. */
export function parseDockerImage(reference: string): DockerImage {
  const text = reference.trim()
  if (text === '') throw new Error('the image reference is empty')
  if (/\s/.test(text))
    throw new Error(`"${text}" contains white space; write one reference such as python:3.12-slim`)
  if (text.includes('@')) {
    throw new Error(
      `"${text}" pins a digest, which the docker-batch profile cannot take (it has DOCKER_REPO and DOCKER_TAG only); use a tag`
    )
  }
  const parts = text.split('/')
  let server: string | undefined
  const first = parts[0]
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!HOST.test(first)) throw new Error(`"${first}" is not a valid registry host`)
    server = DOCKER_HUB_HOSTS.has(first.toLowerCase()) ? undefined : first
    parts.shift()
  }
  const last = parts[parts.length - 1]
  const colon = last.lastIndexOf(':')
  let tag = 'latest'
  if (colon >= 0) {
    tag = last.slice(colon + 1)
    parts[parts.length - 1] = last.slice(0, colon)
    if (!TAG.test(tag)) {
      throw new Error(
        `"${tag}" is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`
      )
    }
  }
  for (const component of parts) {
    if (!PATH_COMPONENT.test(component)) {
      throw new Error(
        `"${component}" is not a valid repository name part (lower-case letters and digits, separated by . _ or -)`
      )
    }
  }
  if (server === undefined && parts.length === 1) parts.unshift('library')
  return { server, repository: parts.join('/'), tag }
}

/** The docker-batch constants for an image, in the order Qarnot documents them. */
export function dockerImageConstants(image: DockerImage): { key: string; value: string }[] {
  const constants = [
    { key: 'DOCKER_REPO', value: image.repository },
    { key: 'DOCKER_TAG', value: image.tag }
  ]
  if (image.server !== undefined) constants.push({ key: 'DOCKER_SRV', value: image.server })
  return constants
}
