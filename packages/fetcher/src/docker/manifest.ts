import { posix } from 'node:path';
import { z } from 'zod';
import {
  APPC_SPEC_VERSION,
  ValidationError,
  isEnvironmentVariableName,
  isTimestamp,
  validateImageManifest,
  type ImageManifest,
} from '@rkt/appc-spec';
import { FetchError } from '../errors.js';
import { hostLabels } from '../image-string.js';
import type { DockerImageSource } from './types.js';

// The fields of a Docker / OCI image config that the conversion reads; everything else passes through unread.
// Go's encoding/json reads `null` as absent, and Docker writes `"Cmd": null`, so null is accepted everywhere.
const strings = z.array(z.string()).nullish();
const set = z.record(z.string(), z.unknown()).nullish();
const innerSchema = z.looseObject({
  User: z.string().nullish(),
  Env: strings,
  Entrypoint: strings,
  Cmd: strings,
  WorkingDir: z.string().nullish(),
  ExposedPorts: set,
  Volumes: set,
});
const configSchema = z.looseObject({
  architecture: z.string().nullish(),
  os: z.string().nullish(),
  variant: z.string().nullish(),
  author: z.string().nullish(),
  created: z.string().nullish(),
  config: innerSchema.nullish(),
});
type InnerConfig = z.infer<typeof innerSchema>;

/** docker2aci's annotation names (its lib/common). */
export const ANNOTATIONS = {
  originalName: 'appc.io/docker/originalname',
  registryUrl: 'appc.io/docker/registryurl',
  repository: 'appc.io/docker/repository',
  imageId: 'appc.io/docker/imageid',
  manifestHash: 'appc.io/docker/manifesthash',
  entrypoint: 'appc.io/docker/entrypoint',
  cmd: 'appc.io/docker/cmd',
} as const;

/**
 * appc's `SanitizeACIdentifier`: lower case, every other character than `a-z0-9-._~/` becomes `_` (one per
 * code point, as Go's regexp replaces runes), separators trimmed off both ends.
 */
export function sanitizeAcIdentifier(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9._~/-]/gu, '_').replace(/^[-._~/]+|[-._~/]+$/g, '');
}

/** appc's `SanitizeACName`: lower case, anything but `a-z0-9-` becomes `-`, dashes trimmed off both ends. */
export function sanitizeAcName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9-]/gu, '-').replace(/^-+|-+$/g, '');
}

/**
 * The image name docker2aci gave a squashed image: the top layer's name `REGISTRY/REPOSITORY-DIGEST`, sanitized
 * as an AC Identifier, with everything from its last `-` cut off again (its `stripLayerID`). A registry's port
 * so becomes `_port` (`127.0.0.1:5000/x` -> `127.0.0.1_5000/x`).
 */
export function dockerImageName(registry: string, repository: string, topLayerDigest: string): string {
  const full = sanitizeAcIdentifier(`${registry}/${repository}-${topLayerDigest}`);
  const cut = full.lastIndexOf('-');
  return cut > 0 ? full.slice(0, cut) : full;
}

/**
 * appc's `ToAppcOSArch` (Go's os/arch and ARM variant to appc's labels), with the image config's `variant`
 * (`v7`) as its flavor, which docker2aci always left empty (so its ARM images were all `armv6l`).
 */
const OS_ARCH: Readonly<Record<string, readonly [string, string]>> = {
  'linux/amd64/': ['linux', 'amd64'],
  'linux/386/': ['linux', 'i386'],
  'linux/arm64/': ['linux', 'aarch64'],
  'linux/arm64/8': ['linux', 'aarch64'],
  'linux/arm/': ['linux', 'armv6l'],
  'linux/arm/6': ['linux', 'armv6l'],
  'linux/arm/7': ['linux', 'armv7l'],
  'linux/ppc64/': ['linux', 'ppc64'],
  'linux/ppc64le/': ['linux', 'ppc64le'],
  'linux/s390x/': ['linux', 's390x'],
  'freebsd/amd64/': ['freebsd', 'amd64'],
  'freebsd/386/': ['freebsd', 'i386'],
  'freebsd/arm/': ['freebsd', 'arm'],
  'freebsd/arm/5': ['freebsd', 'arm'],
  'freebsd/arm/6': ['freebsd', 'arm'],
  'freebsd/arm/7': ['freebsd', 'arm'],
  'darwin/amd64/': ['darwin', 'x86_64'],
  'darwin/386/': ['darwin', 'i386'],
};

/**
 * docker2aci's `parseDockerUser`: empty is root; `user:group` (later parts ignored); a lone user is also the
 * group, since the user's primary group would need the image's /etc/passwd.
 */
export function dockerUser(user: string): { user: string; group: string } {
  if (user === '') return { user: '0', group: '0' };
  const parts = user.split(':');
  if (parts.length < 2) return { user: parts[0]!, group: parts[0]! };
  return { user: parts[0]!, group: parts[1]! };
}

/**
 * Go's json.Marshal of a string array: HTML-sensitive characters and the JavaScript line separators are
 * escaped as `\u003c` and so on, which JSON.stringify does not do, so the annotations read as docker2aci's.
 */
export function goJson(v: readonly string[]): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** What `ImageManifest` docker2aci's squashed conversion of `src` had, checked against appc's schemas. */
export function dockerImageManifest(src: DockerImageSource): ImageManifest {
  const where = `image config ${src.configDigest}`;
  const bad = (field: string, why: string): never => {
    throw new FetchError('FETCH_DOCKER_CONVERT', `${where}: ${field}: ${why}`, { subject: src.configDigest });
  };
  const parsed = configSchema.safeParse(src.config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    bad(jsonPath(issue.path), issue.message);
  }
  const config = parsed.data!;
  const topLayer = src.layers.at(-1)?.digest ?? src.manifestDigest;

  // GenerateEmptyManifest starts from the host's os/arch; the config's replace them when appc has a name for them.
  const host = hostLabels();
  const labels = new Map<string, string>([['os', host.os], ['arch', host.arch]]);
  if (src.tag !== undefined && src.tag !== '') labels.set('version', src.tag);
  const os = config.os ?? '';
  const arch = config.architecture ?? '';
  if (os !== '' || arch !== '') {
    const flavor = (config.variant ?? '').replace(/^v/, '');
    // A variant appc has no name for is refused for ARM (v5 is not v6), ignored elsewhere (amd64's v2, v3).
    const appc = OS_ARCH[`${os}/${arch}/${flavor}`] ?? (arch === 'arm' ? undefined : OS_ARCH[`${os}/${arch}/`]);
    // docker2aci kept the host's labels for a pair appc has no name for, which would run such an image as the
    // host's; refused instead.
    if (appc === undefined) {
      bad('architecture', `os ${JSON.stringify(os)}, architecture ${JSON.stringify(arch)}${flavor === '' ? '' : `, variant ${JSON.stringify(config.variant)}`} has no appc os/arch label`);
    }
    labels.set('os', appc![0]);
    labels.set('arch', appc![1]);
  }

  const annotations: Array<{ name: string; value: string }> = [];
  const annotate = (name: string, value: string | null | undefined) => {
    if (value === undefined || value === null || value === '') return;
    const i = annotations.findIndex((a) => a.name === name);
    if (i >= 0) annotations[i] = { name, value };
    else annotations.push({ name, value });
  };
  annotate('author', config.author);
  // An unreadable creation date is left out rather than failing the whole image over metadata.
  if (isTimestamp(config.created)) annotate('created', config.created);
  annotate(ANNOTATIONS.originalName, src.originalName);
  annotate(ANNOTATIONS.registryUrl, src.registry);
  annotate(ANNOTATIONS.repository, src.repository);
  annotate(ANNOTATIONS.imageId, topLayer);
  annotate(ANNOTATIONS.manifestHash, src.manifestDigest);

  const manifest: Record<string, unknown> = {
    acKind: 'ImageManifest',
    acVersion: APPC_SPEC_VERSION,
    name: dockerImageName(src.registry, src.repository, topLayer),
    labels: [...labels].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([name, value]) => ({ name, value })),
  };
  if (config.config !== undefined && config.config !== null) {
    const inner = config.config;
    manifest.app = dockerApp(inner, bad);
    if ((inner.Entrypoint ?? []).length > 0) annotate(ANNOTATIONS.entrypoint, goJson(inner.Entrypoint!));
    if ((inner.Cmd ?? []).length > 0) annotate(ANNOTATIONS.cmd, goJson(inner.Cmd!));
  }
  manifest.annotations = annotations;

  try {
    return validateImageManifest(manifest, `the manifest converted from ${src.registry}/${src.repository}`);
  } catch (err) {
    if (err instanceof ValidationError) throw new FetchError('FETCH_DOCKER_CONVERT', err.message.split('\n')[0]!, { subject: src.configDigest, cause: err });
    throw err;
  }
}

function dockerApp(inner: InnerConfig, bad: (field: string, why: string) => never): Record<string, unknown> {
  const exec = [...(inner.Entrypoint ?? []), ...(inner.Cmd ?? [])];
  const { user, group } = dockerUser(inner.User ?? '');
  if (user === '' || group === '') bad('config.User', `${JSON.stringify(inner.User)} names no user or no group`);

  // appc's Environment.Set: a name given twice keeps its first place and its last value.
  const env: Array<{ name: string; value: string }> = [];
  (inner.Env ?? []).forEach((kv, i) => {
    const eq = kv.indexOf('=');
    if (eq < 0) return; // docker2aci skipped entries without a value
    const name = kv.slice(0, eq);
    if (!isEnvironmentVariableName(name)) bad(`config.Env[${i}]`, `${JSON.stringify(name)} is not a valid environment variable name`);
    const value = kv.slice(eq + 1);
    const at = env.findIndex((e) => e.name === name);
    if (at >= 0) env[at] = { name, value };
    else env.push({ name, value });
  });

  const app: Record<string, unknown> = {};
  if (exec.length > 0) app.exec = exec;
  app.user = user;
  app.group = group;
  const wd = inner.WorkingDir ?? '';
  if (wd !== '') {
    if (!wd.startsWith('/')) bad('config.WorkingDir', `${JSON.stringify(wd)} is not an absolute path`);
    app.workingDirectory = wd;
  }
  if (env.length > 0) app.environment = env;
  const mountPoints = dockerMountPoints(Object.keys(inner.Volumes ?? {}), bad);
  if (mountPoints.length > 0) app.mountPoints = mountPoints;
  const ports = dockerPorts(Object.keys(inner.ExposedPorts ?? {}), bad);
  if (ports.length > 0) app.ports = ports;
  return app;
}

/**
 * docker2aci's `convertVolumesToMPs`: each volume path `P` is named `sanitize("volume" + P)`; a name met again
 * gets `-1`, `-2`, ... Paths are taken in sorted order (Go's map order was random), names sorted at the end.
 */
export function dockerMountPoints(paths: readonly string[], bad: (field: string, why: string) => never): Array<{ name: string; path: string }> {
  const seen = new Map<string, number>();
  const out: Array<{ name: string; path: string }> = [];
  for (const p of [...paths].sort()) {
    let name = sanitizeAcName(posix.join('volume', p));
    if (name === '') bad(`config.Volumes[${JSON.stringify(p)}]`, 'gives no mount point name');
    const n = seen.get(name);
    if (n !== undefined) {
      seen.set(name, n + 1);
      name = `${name}-${n}`;
    } else {
      seen.set(name, 1);
    }
    out.push({ name, path: p });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** docker2aci's `parseDockerPort`: `80/tcp` -> name `80-tcp`, protocol `tcp`, port 80 (count 1); sorted by name. */
export function dockerPorts(keys: readonly string[], bad: (field: string, why: string) => never): Array<{ name: string; protocol: string; port: number; count: number }> {
  const out = keys.map((key) => {
    const slash = key.split('/');
    const number = slash[0]!;
    const protocol = slash.length < 2 ? 'tcp' : slash[1]!;
    const port = /^[0-9]{1,5}$/.test(number) ? Number(number) : NaN;
    if (!(port >= 1 && port <= 65535)) bad(`config.ExposedPorts[${JSON.stringify(key)}]`, `${JSON.stringify(number)} is not a port number`);
    if (protocol === '') bad(`config.ExposedPorts[${JSON.stringify(key)}]`, 'has no protocol after "/"');
    const name = sanitizeAcName(key);
    return { name, protocol, port, count: 1 };
  });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function jsonPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? '(the config)' : out;
}
