import { FetchError } from '../errors.js';

/**
 * A `docker://` image string as docker (and so rkt's docker2aci) read it:
 * `docker://[REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]`.
 */
export interface DockerRef {
  /** The string as given. */
  readonly raw: string;
  /** `host[:port]` of the registry's API: `registry-1.docker.io` for Docker Hub. */
  readonly registry: string;
  /** The repository path on that registry (`library/busybox` for Docker Hub's official `busybox`). */
  readonly repository: string;
  /** The tag: `latest` when neither a tag nor a digest is given. */
  readonly tag?: string;
  /** `sha256:` + 64 hex digits: the manifest to pull (it wins over a tag given with it, as in docker). */
  readonly digest?: string;
}

/** Docker Hub's API host, and the names it is also known by (docker's `docker.io`, the old `index.docker.io`). */
export const DOCKER_HUB = 'registry-1.docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', DOCKER_HUB]);

/** The registry host that credentials and requests use: Docker Hub's aliases become its API host. */
export function canonicalRegistry(host: string): string {
  const h = host.toLowerCase();
  return HUB_ALIASES.has(h) ? DOCKER_HUB : h;
}

// docker/distribution's reference grammar: path components of lowercase alphanumerics separated by one `.`,
// one or two `_`, or any number of `-`; a tag of up to 128 word characters, `.` and `-`, not starting with
// `.` or `-`; a host name of labels with an optional port.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
const MAX_NAME = 255;

/** Parses `docker://...` (the `docker://` prefix may be left out); a bad string is FETCH_BAD_IMAGE_STRING in one line. */
export function parseDockerRef(raw: string): DockerRef {
  const bad = (why: string) => new FetchError('FETCH_BAD_IMAGE_STRING', `${raw}: invalid docker image reference: ${why}`, { subject: raw });
  let rest = raw.startsWith('docker://') ? raw.slice('docker://'.length) : raw;
  if (rest === '') throw bad('no repository name');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw bad(/^sha256:/.test(digest) ? `digest ${JSON.stringify(digest)} is not sha256: followed by 64 lowercase hex digits` : `unsupported digest ${JSON.stringify(digest)} (only sha256:HEX)`);
    }
  }
  // The tag is after the last `:` that comes after the last `/` (a `:` before it is the registry's port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`invalid tag ${JSON.stringify(tag)} (up to 128 letters, digits, _, . and -, not starting with . or -)`);
  }
  // The first component is a registry when it looks like a host: a `.` or a `:` in it, or `localhost`.
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      if (!HOST.test(first)) throw bad(`invalid registry host ${JSON.stringify(first)}`);
      registry = canonicalRegistry(first);
      repository = rest.slice(slash + 1);
    }
  }
  if (repository === '') throw bad('no repository name');
  if (repository.length > MAX_NAME) throw bad(`repository name longer than ${MAX_NAME} characters`);
  for (const component of repository.split('/')) {
    if (component === '') throw bad(`empty path component in ${JSON.stringify(repository)}`);
    if (component !== component.toLowerCase() && COMPONENT.test(component.toLowerCase())) throw bad(`repository name ${JSON.stringify(repository)} must be lowercase`);
    if (!COMPONENT.test(component)) throw bad(`invalid repository path component ${JSON.stringify(component)} (lowercase letters and digits, separated by ., _, __ or -)`);
  }
  // Docker Hub's official images live under `library/`.
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (digest === undefined && tag === undefined) tag = 'latest';
  return { raw, registry, repository, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** `tag` or `digest` as the manifests endpoint takes it (the digest when both are given). */
export function manifestReference(ref: DockerRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
