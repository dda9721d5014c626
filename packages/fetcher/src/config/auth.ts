import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z as Zod } from 'zod';
import { FetchError } from '../errors.js';
import { canonicalRegistry } from '../docker/docker-ref.js';

/**
 * rkt's `auth.d` configuration (kind `auth`, version `v1`): credentials per domain, `basic` (user and
 * password) or `oauth` (a bearer token). Files are read from the system config dir first, then the local
 * one, then the user one; a later directory's entry for a domain replaces an earlier one, as in rkt.
 * The schema is built when a file needs it: zod takes ~75 ms to load, which a fetch without credentials
 * would otherwise pay before its first request.
 */
function buildAuthSchema(z: typeof Zod) {
  const basicSchema = z.object({
    rktKind: z.literal('auth'),
    rktVersion: z.literal('v1'),
    domains: z.array(z.string().min(1)).min(1),
    type: z.literal('basic'),
    credentials: z.object({ user: z.string(), password: z.string() }),
  });
  const oauthSchema = z.object({
    rktKind: z.literal('auth'),
    rktVersion: z.literal('v1'),
    domains: z.array(z.string().min(1)).min(1),
    type: z.literal('oauth'),
    credentials: z.object({ token: z.string().min(1) }),
  });
  return z.discriminatedUnion('type', [basicSchema, oauthSchema]);
}

/** rkt's `dockerAuth` kind: a user and password for Docker registries, by registry host (`host[:port]`). */
function buildDockerAuthSchema(z: typeof Zod) {
  return z.object({
    rktKind: z.literal('dockerAuth'),
    rktVersion: z.literal('v1'),
    registries: z.array(z.string().min(1)).min(1),
    credentials: z.object({ user: z.string(), password: z.string() }),
  });
}

let authSchema: ReturnType<typeof buildAuthSchema> | undefined;
let dockerAuthSchema: ReturnType<typeof buildDockerAuthSchema> | undefined;

/** A Docker registry's user and password, from a `dockerAuth` file. */
export interface DockerCredentials {
  readonly user: string;
  readonly password: string;
}

/**
 * The dockerAuth credentials by registry host. Docker Hub is one registry under three names (`docker.io`,
 * `index.docker.io`, and its API host `registry-1.docker.io`): an entry for any of them serves all three.
 */
export class DockerAuth {
  constructor(readonly byRegistry: ReadonlyMap<string, DockerCredentials>) {}

  forRegistry(registry: string): DockerCredentials | undefined {
    return this.byRegistry.get(canonicalRegistry(registry));
  }
}

function issueOf(file: string, error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }, what: string): FetchError {
  const issue = error.issues[0];
  const where = issue === undefined ? '' : `${issue.path.map(String).join('.') || '(root)'}: `;
  return new FetchError('FETCH_CONFIG', `${file}: ${where}${issue?.message ?? `invalid ${what} configuration`}`, { subject: file });
}

/** One domain's credentials as an `auth` file gives them (its `type` and `credentials`). */
export type AuthCredentials =
  | { readonly type: 'basic'; readonly credentials: { readonly user: string; readonly password: string } }
  | { readonly type: 'oauth'; readonly credentials: { readonly token: string } };

export class AuthHeaders {
  constructor(private readonly byDomain: ReadonlyMap<string, string>) {}

  /** The Authorization header for this URL's host (`host:port` first, then the bare host name). */
  forHost(url: URL): Record<string, string> {
    const value = this.byDomain.get(url.host) ?? this.byDomain.get(url.hostname);
    return value === undefined ? {} : { authorization: value };
  }
}

/**
 * Both kinds of credentials in every `*.json` in `<dir>/auth.d` of each config dir, in order (later dirs win per
 * domain or registry), read in one pass as rkt's config loader did: a bad file of either kind is refused by both
 * readers below.
 */
async function readAuthDirs(configDirs: readonly string[]): Promise<{ auth: Map<string, AuthCredentials>; docker: Map<string, DockerCredentials> }> {
  const map = new Map<string, AuthCredentials>();
  const docker = new Map<string, DockerCredentials>();
  for (const dir of configDirs) {
    const authDir = join(dir, 'auth.d');
    let names: string[];
    try {
      names = (await readdir(authDir)).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new FetchError('FETCH_CONFIG', `${authDir}: ${(err as Error).message}`, { subject: authDir, cause: err });
    }
    // Within one directory a domain (or registry) configured twice is an error in rkt; across directories the later wins.
    const seen = new Map<string, string>();
    const seenRegistry = new Map<string, string>();
    for (const name of names) {
      const file = join(authDir, name);
      let json: unknown;
      try {
        json = JSON.parse(await readFile(file, 'utf8'));
      } catch (err) {
        throw new FetchError('FETCH_CONFIG', `${file}: ${(err as Error).message.split('\n')[0]}`, { subject: file, cause: err });
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json)) {
        throw new FetchError('FETCH_CONFIG', `${file}: not a configuration: expected a JSON object with rktKind and rktVersion, found ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json}`, { subject: file });
      }
      const kind = (json as { rktKind?: unknown }).rktKind;
      if (kind === 'dockerAuth') {
        dockerAuthSchema ??= buildDockerAuthSchema((await import('zod')).z);
        const parsed = dockerAuthSchema.safeParse(json);
        if (!parsed.success) throw issueOf(file, parsed.error, 'dockerAuth');
        for (const registry of parsed.data.registries) {
          const key = canonicalRegistry(registry);
          const other = seenRegistry.get(key);
          if (other !== undefined) {
            throw new FetchError('FETCH_CONFIG', `${file}: registry ${registry} is already configured in ${other}`, { subject: file });
          }
          seenRegistry.set(key, file);
          docker.set(key, { user: parsed.data.credentials.user, password: parsed.data.credentials.password });
        }
        continue;
      }
      if (kind !== 'auth') {
        throw new FetchError('FETCH_CONFIG',
          `${file}: no parser available for configuration of kind ${JSON.stringify(kind ?? '')} (auth.d holds kinds "auth" and "dockerAuth")`, { subject: file });
      }
      authSchema ??= buildAuthSchema((await import('zod')).z);
      const parsed = authSchema.safeParse(json);
      if (!parsed.success) throw issueOf(file, parsed.error, 'auth');
      const cfg = parsed.data;
      const entry: AuthCredentials = cfg.type === 'basic'
        ? { type: 'basic', credentials: { user: cfg.credentials.user, password: cfg.credentials.password } }
        : { type: 'oauth', credentials: { token: cfg.credentials.token } };
      for (const domain of cfg.domains) {
        const other = seen.get(domain);
        if (other !== undefined) {
          throw new FetchError('FETCH_CONFIG', `${file}: domain ${domain} is already configured in ${other}`, { subject: file });
        }
        seen.set(domain, file);
        map.set(domain, entry);
      }
    }
  }
  return { auth: map, docker };
}

/**
 * The credentials per domain that every `*.json` in `<dir>/auth.d` of each config dir gives, in order (later
 * dirs win per domain): what the fetcher sends, and what `rkt config` prints.
 */
export async function readAuthConfig(configDirs: readonly string[]): Promise<Map<string, AuthCredentials>> {
  return (await readAuthDirs(configDirs)).auth;
}

/** The `dockerAuth` credentials of auth.d (same files, same order), by registry: what a `docker://` pull uses. */
export async function readDockerAuthConfig(configDirs: readonly string[]): Promise<DockerAuth> {
  return new DockerAuth((await readAuthDirs(configDirs)).docker);
}

/** The Authorization header of each domain that auth.d configures. */
export async function loadAuth(configDirs: readonly string[]): Promise<AuthHeaders> {
  const headers = new Map<string, string>();
  for (const [domain, auth] of await readAuthConfig(configDirs)) {
    headers.set(domain, auth.type === 'basic'
      ? `Basic ${Buffer.from(`${auth.credentials.user}:${auth.credentials.password}`).toString('base64')}`
      : `Bearer ${auth.credentials.token}`);
  }
  return new AuthHeaders(headers);
}
