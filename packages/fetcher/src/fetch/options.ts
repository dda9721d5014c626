import type { LookupFunction } from 'node:net';
import type { ImageHold, Store } from '@rkt/image-store';
import type { ProgressSink } from '../progress.js';

/** The checks `--insecure-options` can relax; stage0-cli's `InsecureOptions` has exactly these getters. */
export interface InsecureFlags {
  /** `image`: do not require or check signatures. */
  readonly skipImageCheck: boolean;
  /** `tls`: accept any certificate. */
  readonly skipTlsCheck: boolean;
  /** `http`: allow plain http. */
  readonly allowHttp: boolean;
  /** `pubkey`: trust keys fetched without TLS or fingerprint review (rkt trust). */
  readonly considerInsecurePubKeys: boolean;
}

/** rkt's pull policies: `new` uses a stored image if there is one, `update` asks the server, `never` only the store. */
export type PullPolicy = 'new' | 'update' | 'never';

export interface FetchOptions {
  readonly store: Store;
  /** Defaults: everything checked. */
  readonly insecure?: Partial<InsecureFlags>;
  /** Default `update`, rkt's default for `rkt fetch` (`rkt run` and `prepare` use `new`). */
  readonly pullPolicy?: PullPolicy;
  /** Config dirs for trusted keys, auth.d and certs.d (defaults `/usr/lib/rkt`, `/etc/rkt`). */
  readonly systemConfigDir?: string;
  readonly localConfigDir?: string;
  readonly userConfigDir?: string;
  /** For relative paths in image strings (default `process.cwd()`). */
  readonly cwd?: string;
  /** stderr: warnings about relaxed checks, and the progress bar when it is a terminal. */
  readonly stderr?: ProgressSink;
  /**
   * A local signature of the image fetched (rkt's `--signature`), read instead of `<file>.asc`, the URL's `.asc` or
   * the discovered one (which are then not asked for), as rkt did; an image ID is refused (FETCH_SIGNATURE:
   * `signatureFileApplies`). Not for its dependencies.
   */
  readonly signatureFile?: string;
  /** Fetch dependencies and render the image into the tree store (default true). */
  readonly withDependencies?: boolean;
  readonly render?: boolean;
  /**
   * `--trust-keys-from-https`: when no key is trusted for a name being fetched, discover its keys
   * (ac-discovery-pubkeys) and trust those that come over verified https, saying so on stderr.
   */
  readonly trustKeysFromHttps?: boolean;
  /** Network overrides, mainly for tests against local servers. */
  readonly network?: NetworkOptions;
  /**
   * The caller's hold (`store.hold()`): every image the fetch stores or uses is added to it, and stays held
   * after the fetch returns, until the caller releases it (`rkt run` holds its images until its pod references
   * them). Default: a hold of the fetch's own, released when it returns.
   */
  readonly hold?: ImageHold;
  /**
   * Warnings already written to `stderr`. One set passed to every fetch of a command says each warning
   * (`--insecure-options=image`, `tls`) once for the command instead of once per image; default: one per fetch.
   */
  readonly warned?: Set<string>;
}

export interface NetworkOptions {
  /** Host name resolution for every request (default: the system resolver). */
  readonly lookup?: LookupFunction;
  /** Port of discovery URLs (`https://{name}?ac-discovery=1`), instead of 443/80. */
  readonly discoveryPort?: number;
  /** Extra trusted CA certificates (PEM) besides those in `certs.d`. */
  readonly ca?: readonly string[];
  readonly timeoutMs?: number;
  /** Environment for HTTPS_PROXY / HTTP_PROXY / NO_PROXY (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Attempts per download when the connection breaks (default 5). */
  readonly maxAttempts?: number;
}

export interface FetchResult {
  /** The image ID in the store. */
  readonly id: string;
  readonly name: string;
  /** Whether image bytes were downloaded (false: found in the store, fresh by max-age, or a 304). */
  readonly downloaded: boolean;
  /** Fingerprint of the key that signed it, when a signature was checked in this fetch. */
  readonly signedBy: string | undefined;
  /** Dependencies fetched or found, in the order they were resolved (IDs). */
  readonly dependencies: readonly string[];
  /** The rendered tree's ID, when rendered. */
  readonly treeId: string | undefined;
}
