import { join } from 'node:path';
import type { ImageHold, Store } from '@rkt/image-store';
import { loadAuth } from '../config/auth.js';
import { loadCaCertificates } from '../config/certs.js';
import { HttpClient } from '../http/client.js';
import { Keystore } from '../keystore/keystore.js';
import type { ProgressSink } from '../progress.js';
import type { FetchOptions, InsecureFlags, NetworkOptions, PullPolicy } from './options.js';

/** Everything one `fetchImage` call shares across the image and its dependencies. */
export interface FetchContext {
  readonly store: Store;
  /** Every image this fetch stores or uses, kept from `image rm` and gc until the fetch (and render) is done. */
  readonly hold: ImageHold;
  /** The hold is the fetch's own (released when it returns), not the caller's `options.hold`. */
  readonly ownsHold: boolean;
  readonly http: HttpClient;
  readonly keystore: Keystore;
  readonly insecure: InsecureFlags;
  readonly pullPolicy: PullPolicy;
  readonly cwd: string;
  readonly stderr: ProgressSink | undefined;
  readonly network: NetworkOptions;
  readonly partialDir: string;
  /** The caller's options, for what the fetch passes on (config dirs, --trust-keys-from-https). */
  readonly options: FetchOptions;
  /** Warnings already printed, so a dependency chain (and, given `options.warned`, a command) says each once. */
  readonly warned: Set<string>;
  warn(message: string): void;
  /** rkt's "signature verified:" lines, one user ID each, on stderr. */
  signatureVerified(userIds: readonly string[]): void;
}

export const DEFAULT_SYSTEM_CONFIG_DIR = '/usr/lib/rkt';
export const DEFAULT_LOCAL_CONFIG_DIR = '/etc/rkt';

/** The configuration directories a fetch reads (trusted keys, certs.d, auth.d), in the order they apply. */
export function configDirs(opts: Pick<FetchOptions, 'systemConfigDir' | 'localConfigDir' | 'userConfigDir'>): string[] {
  const dirs = [opts.systemConfigDir ?? DEFAULT_SYSTEM_CONFIG_DIR, opts.localConfigDir ?? DEFAULT_LOCAL_CONFIG_DIR];
  if (opts.userConfigDir !== undefined) dirs.push(opts.userConfigDir);
  return dirs;
}

export function insecureFlags(i: Partial<InsecureFlags> | undefined): InsecureFlags {
  return {
    skipImageCheck: i?.skipImageCheck === true,
    skipTlsCheck: i?.skipTlsCheck === true,
    allowHttp: i?.allowHttp === true,
    considerInsecurePubKeys: i?.considerInsecurePubKeys === true,
  };
}

/** Builds the HTTP client from config: extra CAs from certs.d, credentials from auth.d. */
export async function createHttpClient(opts: {
  dirs: readonly string[];
  insecure: InsecureFlags;
  network: NetworkOptions;
}): Promise<HttpClient> {
  const [ca, auth] = await Promise.all([loadCaCertificates(opts.dirs), loadAuth(opts.dirs)]);
  return new HttpClient({
    ca: [...ca, ...(opts.network.ca ?? [])],
    insecureTls: opts.insecure.skipTlsCheck,
    allowHttp: opts.insecure.allowHttp,
    auth,
    lookup: opts.network.lookup,
    timeoutMs: opts.network.timeoutMs,
    env: opts.network.env,
  });
}

export async function createContext(opts: FetchOptions): Promise<FetchContext> {
  const insecure = insecureFlags(opts.insecure);
  const network = opts.network ?? {};
  const dirs = configDirs(opts);
  const http = await createHttpClient({ dirs, insecure, network });
  const warned = opts.warned ?? new Set<string>();
  const stderr = opts.stderr;
  const ctx: FetchContext = {
    store: opts.store,
    hold: opts.hold ?? opts.store.hold(),
    ownsHold: opts.hold === undefined,
    http,
    keystore: new Keystore({
      systemConfigDir: opts.systemConfigDir ?? DEFAULT_SYSTEM_CONFIG_DIR,
      localConfigDir: opts.localConfigDir ?? DEFAULT_LOCAL_CONFIG_DIR,
    }),
    insecure,
    pullPolicy: opts.pullPolicy ?? 'update',
    cwd: opts.cwd ?? process.cwd(),
    stderr,
    network,
    partialDir: join(opts.store.layout.dataDir, 'tmp', 'fetch'),
    options: opts,
    warned,
    warn(message) {
      if (warned.has(message)) return;
      warned.add(message);
      stderr?.write(`${message}\n`);
    },
    signatureVerified(userIds) {
      stderr?.write(`${['signature verified:', ...userIds.map((u) => `  ${u}`)].join('\n')}\n`);
    },
  };
  if (insecure.skipTlsCheck) ctx.warn('warning: TLS certificate checks are disabled (--insecure-options=tls)');
  return ctx;
}
