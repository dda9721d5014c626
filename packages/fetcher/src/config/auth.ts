import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z as Zod } from 'zod';
import { FetchError } from '../errors.js';

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

let authSchema: ReturnType<typeof buildAuthSchema> | undefined;

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
 * The credentials per domain that every `*.json` in `<dir>/auth.d` of each config dir gives, in order (later
 * dirs win per domain): what the fetcher sends, and what `rkt config` prints.
 */
export async function readAuthConfig(configDirs: readonly string[]): Promise<Map<string, AuthCredentials>> {
  const map = new Map<string, AuthCredentials>();
  for (const dir of configDirs) {
    const authDir = join(dir, 'auth.d');
    let names: string[];
    try {
      names = (await readdir(authDir)).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new FetchError('FETCH_CONFIG', `${authDir}: ${(err as Error).message}`, { subject: authDir, cause: err });
    }
    // Within one directory a domain configured twice is an error in rkt; across directories the later wins.
    const seen = new Map<string, string>();
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
      // auth.d holds rkt's two kinds of credentials; docker ones are never used here (docker:// is refused).
      if (kind === 'dockerAuth') continue;
      if (kind !== 'auth') {
        throw new FetchError('FETCH_CONFIG',
          `${file}: no parser available for configuration of kind ${JSON.stringify(kind ?? '')} (auth.d holds kinds "auth" and "dockerAuth")`, { subject: file });
      }
      authSchema ??= buildAuthSchema((await import('zod')).z);
      const parsed = authSchema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue === undefined ? '' : `${issue.path.join('.') || '(root)'}: `;
        throw new FetchError('FETCH_CONFIG', `${file}: ${where}${issue?.message ?? 'invalid auth configuration'}`, { subject: file });
      }
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
  return map;
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
