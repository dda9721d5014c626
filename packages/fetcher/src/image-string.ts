import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { imageIdPrefix, isImageIdPrefix, parseAppString } from '@rkt/image-store';
import { parseDockerRef, type DockerRef } from './docker/docker-ref.js';
import { FetchError } from './errors.js';

export interface Label {
  readonly name: string;
  readonly value: string;
}

/** What an image string names, classified the way rkt's `guessImageType` did. */
export type ImageString =
  | { readonly kind: 'id'; readonly id: string; readonly raw: string }
  | { readonly kind: 'url'; readonly url: URL; readonly raw: string }
  | { readonly kind: 'path'; readonly path: string; readonly raw: string }
  | { readonly kind: 'name'; readonly app: AppName; readonly raw: string }
  | { readonly kind: 'docker'; readonly ref: DockerRef; readonly raw: string };

/** A name and the labels asked for; `labels` keeps the user's order, without duplicates. */
export interface AppName {
  readonly name: string;
  readonly labels: readonly Label[];
}

const SCHEME_RE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;

/** appc's os/arch label values for the host (types.ValidOSArch spelling, not Node's). */
export function hostLabels(): { os: string; arch: string } {
  const archs: Partial<Record<string, string>> = {
    x64: 'amd64', ia32: 'i386', arm64: 'aarch64', arm: 'armv7l', ppc64: 'ppc64le', s390x: 's390x',
  };
  return { os: process.platform, arch: archs[process.arch] ?? process.arch };
}

/**
 * rkt's image-string heuristics: an image ID, then a URL (`scheme://`), then an absolute path, an
 * existing regular file, a `:` (a version: a name), a `./` in it, an `.aci` extension; anything else is
 * a name. Anything else starting with `sha512-` is refused as an invalid image ID. Unlike Go's url.Parse we only call `scheme://...` a URL, so `busybox:1.0` is a name.
 */
export function parseImageString(raw: string, opts: { cwd?: string } = {}): ImageString {
  const cwd = opts.cwd ?? process.cwd();
  // Refused in the store's words ("empty image string"), before it is taken for the working directory.
  if (raw === '') return { kind: 'name', app: parseAppName(raw), raw };
  if (isImageIdPrefix(raw)) return { kind: 'id', id: raw, raw };
  const scheme = SCHEME_RE.exec(raw)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    // Before the URL parser, which takes `docker://busybox:latest`'s tag for a bad port.
    if (scheme === 'docker') return { kind: 'docker', ref: parseDockerRef(raw), raw };
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new FetchError('FETCH_BAD_IMAGE_STRING', `invalid URL ${JSON.stringify(raw)}`, { subject: raw });
    }
    if (scheme === 'file') {
      // file://relative.aci reads `relative.aci` as the URL's host, which fileURLToPath refuses in Node's words.
      if (url.host !== '' && url.host !== 'localhost') {
        throw new FetchError('FETCH_BAD_IMAGE_STRING',
          `${raw}: a file URL needs an absolute path (file:///dir/image.aci); "${url.host}" would be its host`, { subject: raw });
      }
      return { kind: 'path', path: fileURLToPath(url), raw };
    }
    if (scheme === 'http' || scheme === 'https') return { kind: 'url', url, raw };
    throw new FetchError('FETCH_BAD_IMAGE_STRING', `${raw}: unsupported URL scheme "${scheme}" (supported: http, https, file, docker)`, { subject: raw });
  }
  if (isAbsolute(raw)) return { kind: 'path', path: raw, raw };
  const abs = resolve(cwd, raw);
  try {
    if (statSync(abs).isFile()) return { kind: 'path', path: abs, raw };
  } catch {
    // Not an existing file: the remaining heuristics decide.
  }
  // Not a valid ID, yet meant as one (a typo, a truncated copy): as a name it would go to discovery and fail
  // on DNS. Refused in the store's words.
  if (raw.startsWith('sha512-')) imageIdPrefix(raw, (message) => new FetchError('FETCH_BAD_IMAGE_STRING', message, { subject: raw }));
  if (raw.includes(':')) return { kind: 'name', app: parseAppName(raw), raw };
  if (raw.includes('./') || raw.endsWith('.aci')) return { kind: 'path', path: abs, raw };
  return { kind: 'name', app: parseAppName(raw), raw };
}

/**
 * Refuses a local signature (rkt's `--signature`) for an image ID, in one line naming both: an ID names an image
 * already in the store, verified when it was fetched. Any other image takes one, read instead of the `.asc` beside
 * the file, at the URL, or discovered.
 */
export function signatureFileApplies(parsed: ImageString, signatureFile: string): void {
  if (parsed.kind === 'docker') {
    throw new FetchError('FETCH_SIGNATURE',
      `${parsed.raw}: a signature file (${signatureFile}) cannot apply to a docker image: signature verification for docker images is not supported (try --insecure-options=image)`, { subject: parsed.raw });
  }
  if (parsed.kind !== 'id') return;
  throw new FetchError('FETCH_SIGNATURE',
    `${parsed.raw}: a signature file (${signatureFile}) is for an image to fetch, not an image ID (a stored image was verified when it was fetched)`, { subject: parsed.raw });
}

/**
 * appc's NewAppFromString, read by the store's parser (`rkt image rm`, `rkt run` of a stored name and `rkt fetch`
 * refuse a bad string in the same words).
 */
export function parseAppName(raw: string): AppName {
  return parseAppString(raw, (message) => new FetchError('FETCH_BAD_IMAGE_STRING', message, { subject: raw }));
}

/** The labels discovery and manifest checks use: os and arch default to the host's, as rkt did. */
export function withHostDefaults(app: AppName): AppName {
  const host = hostLabels();
  const labels = [...app.labels];
  if (!labels.some((l) => l.name === 'os')) labels.push({ name: 'os', value: host.os });
  if (!labels.some((l) => l.name === 'arch')) labels.push({ name: 'arch', value: host.arch });
  return { name: app.name, labels };
}

export function labelValue(app: AppName, name: string): string | undefined {
  return app.labels.find((l) => l.name === name)?.value;
}

/** `name,l1=v1,...` as rkt printed an app. */
export function formatAppName(app: AppName): string {
  return [app.name, ...app.labels.map((l) => `${l.name}=${l.value}`)].join(',');
}
