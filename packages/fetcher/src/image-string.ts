import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// The lean entry: the schemas' zod (~75 ms to load) is not needed to parse a name.
import { isAcIdentifier } from '@rkt/appc-spec/lean';
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
  | { readonly kind: 'name'; readonly app: AppName; readonly raw: string };

/** A name and the labels asked for; `labels` keeps the user's order, without duplicates. */
export interface AppName {
  readonly name: string;
  readonly labels: readonly Label[];
}

const ID_RE = /^sha512-[0-9a-f]{2,128}$/;
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
  if (raw === '') throw new FetchError('FETCH_BAD_IMAGE_STRING', 'empty image string', { subject: raw });
  if (ID_RE.test(raw)) return { kind: 'id', id: raw, raw };
  const scheme = SCHEME_RE.exec(raw)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
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
    if (scheme === 'docker') {
      throw new FetchError('FETCH_BAD_IMAGE_STRING', `${raw}: docker images are not supported by rkt-ts (appc images only)`, { subject: raw });
    }
    throw new FetchError('FETCH_BAD_IMAGE_STRING', `${raw}: unsupported URL scheme "${scheme}" (supported: http, https, file)`, { subject: raw });
  }
  if (isAbsolute(raw)) return { kind: 'path', path: raw, raw };
  const abs = resolve(cwd, raw);
  try {
    if (statSync(abs).isFile()) return { kind: 'path', path: abs, raw };
  } catch {
    // Not an existing file: the remaining heuristics decide.
  }
  // Not a valid ID, yet meant as one (a typo, a truncated copy): as a name it would go to discovery and fail
  // on DNS. The image store refuses such a reference with the same words.
  if (raw.startsWith('sha512-')) {
    throw new FetchError('FETCH_BAD_IMAGE_STRING',
      `invalid image ID ${JSON.stringify(raw)}: expected "sha512-" and 2 to 128 lowercase hex digits`, { subject: raw });
  }
  if (raw.includes(':')) return { kind: 'name', app: parseAppName(raw), raw };
  if (raw.includes('./') || raw.endsWith('.aci')) return { kind: 'path', path: abs, raw };
  return { kind: 'name', app: parseAppName(raw), raw };
}

/**
 * appc's NewAppFromString: `name[:version][,label=value...]`; every `:` stands for `,version=`. Values are
 * taken literally but must not be empty; names and label names must be AC Identifiers and a label may appear once.
 */
export function parseAppName(raw: string): AppName {
  const parts = `name=${raw.replaceAll(':', ',version=')}`.split(',');
  let name: string | undefined;
  const labels: Label[] = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      throw new FetchError('FETCH_BAD_IMAGE_STRING',
        `${raw}: malformed app string - has a label without a value: ${part}`, { subject: raw });
    }
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (key === 'name') {
      if (name !== undefined) throw new FetchError('FETCH_BAD_IMAGE_STRING', `${raw}: label name with multiple values`, { subject: raw });
      name = value;
      continue;
    }
    if (!isAcIdentifier(key)) {
      throw new FetchError('FETCH_BAD_IMAGE_STRING', `${raw}: label name ${JSON.stringify(key)} is not a valid AC Identifier`, { subject: raw });
    }
    if (labels.some((l) => l.name === key)) {
      throw new FetchError('FETCH_BAD_IMAGE_STRING', `${raw}: label ${key} with multiple values`, { subject: raw });
    }
    // appc took `,os=` (or `name:`) as a label asking for an empty value, which no image has and discovery
    // would put into its URL templates as is: a typo, refused here rather than after a round of discovery.
    if (value === '') {
      throw new FetchError('FETCH_BAD_IMAGE_STRING', `${raw}: label ${key} has an empty value (expected ${key}=VALUE)`, { subject: raw });
    }
    labels.push({ name: key, value });
  }
  if (name === undefined || !isAcIdentifier(name)) {
    throw new FetchError('FETCH_BAD_IMAGE_STRING',
      `${raw}: image name ${JSON.stringify(name ?? '')} is not a valid AC Identifier (lowercase a-z0-9-._~/, alphanumeric at both ends)`, { subject: raw });
  }
  return { name, labels };
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
