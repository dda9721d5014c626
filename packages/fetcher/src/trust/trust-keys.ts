import { readFile } from 'node:fs/promises';
import type { Key } from 'openpgp';
import { isAcIdentifier } from '@rkt/appc-spec/lean';
import { errnoReason } from '@rkt/image-store';
import { resolve } from 'node:path';
import { discover, discoveryFailure } from '../discovery/discover.js';
import { FetchError } from '../errors.js';
import { configDirs, createHttpClient, DEFAULT_LOCAL_CONFIG_DIR, DEFAULT_SYSTEM_CONFIG_DIR, insecureFlags } from '../fetch/context.js';
import type { InsecureFlags, NetworkOptions } from '../fetch/options.js';
import { parseAppName } from '../image-string.js';
import { Keystore, parsePublicKey } from '../keystore/keystore.js';
import { describeKey, describeLapse, keyInfo, keyLapse, type KeyInfo, type KeyLapse } from './key-info.js';

export interface TrustOptions {
  /** Trust for names under this prefix; absent with `root`. */
  readonly prefix?: string;
  /** Trust for every image (`root.d`). */
  readonly root?: boolean;
  /** Key files or URLs; empty: discover them through the prefix's `ac-discovery-pubkeys`. */
  readonly locations: readonly string[];
  readonly skipFingerprintReview?: boolean;
  /** `--trust-keys-from-https`: keys that came over verified https need no review. */
  readonly trustKeysFromHttps?: boolean;
  readonly insecure?: Partial<InsecureFlags>;
  /**
   * rkt trust's `--insecure-allow-http`: discovery and keys over plain http, for this command only (what
   * `--insecure-options=http` allows every command).
   */
  readonly allowHttp?: boolean;
  readonly systemConfigDir?: string;
  readonly localConfigDir?: string;
  readonly userConfigDir?: string;
  readonly cwd?: string;
  readonly network?: NetworkOptions;
  /** Shows the review text and answers whether to trust the key; called unless review is skipped. */
  readonly confirm?: (review: string, info: KeyInfo) => Promise<boolean>;
  /** Notes for stderr (a key trusted without review, over http...). */
  readonly warn?: (message: string) => void;
}

export interface TrustedKeyResult {
  readonly location: string;
  readonly fingerprint: string;
  /** Where the key was written; undefined when the user declined it. */
  readonly path: string | undefined;
}

/**
 * `rkt trust`: fetches each key (a file, an https URL, or the keys discovered for the prefix), shows its
 * fingerprint for review unless told not to, and stores it under `<local config>/trustedkeys`.
 */
export async function trustKeys(opts: TrustOptions): Promise<TrustedKeyResult[]> {
  const root = opts.root === true;
  if (root && opts.prefix !== undefined) throw new FetchError('FETCH_KEY', '--root and --prefix are mutually exclusive', {});
  if (!root && opts.prefix === undefined) throw new FetchError('FETCH_KEY', '--prefix required for non-root keys (or --root for a key trusted for every image)', {});
  if (root && opts.locations.length === 0) throw new FetchError('FETCH_KEY', '--root requires a key file or URL', {});
  // Before any key is fetched or shown: a review answered "yes" must not end in a refusal of the prefix.
  if (opts.prefix !== undefined && !isAcIdentifier(opts.prefix)) {
    throw new FetchError('FETCH_KEY', `prefix ${JSON.stringify(opts.prefix)} is not a valid AC Identifier`, { subject: opts.prefix });
  }
  const globalInsecure = insecureFlags(opts.insecure);
  const insecure = opts.allowHttp === true ? { ...globalInsecure, allowHttp: true } : globalInsecure;
  const httpAllowedBy = globalInsecure.considerInsecurePubKeys ? '--insecure-options=pubkey' : globalInsecure.allowHttp ? '--insecure-options=http' : '--insecure-allow-http';
  const network = opts.network ?? {};
  // `--insecure-options=pubkey` (rkt's ConsiderInsecurePubKeys) lets keys come over plain http too.
  const http = await createHttpClient({ dirs: configDirs(opts), insecure: { ...insecure, allowHttp: insecure.allowHttp || insecure.considerInsecurePubKeys }, network });
  const keystore = new Keystore({
    systemConfigDir: opts.systemConfigDir ?? DEFAULT_SYSTEM_CONFIG_DIR,
    localConfigDir: opts.localConfigDir ?? DEFAULT_LOCAL_CONFIG_DIR,
  });
  let locations = [...opts.locations];
  if (locations.length === 0 && opts.prefix !== undefined) {
    const app = parseAppName(opts.prefix);
    const { endpoints, attempts } = await discover(http, app, 'keys', { port: network.discoveryPort, allowHttp: insecure.allowHttp });
    if (endpoints.keys.length === 0) throw discoveryFailure(app, 'public keys', attempts);
    locations = endpoints.keys;
  }
  // Every key is read and checked before any is reviewed or written: a refused key leaves nothing behind.
  const candidates: Array<{ location: string; data: string | Uint8Array; overHttps: boolean; key: Key; info: KeyInfo; lapse: KeyLapse | undefined }> = [];
  for (const location of locations) {
    const { data, overHttps } = await readKeyLocation(location, http, opts.cwd ?? process.cwd());
    if (/^http:/i.test(location)) opts.warn?.(`warning: ${location}: fetching a key over plain http (${httpAllowedBy})`);
    const key = await parsePublicKey(data, location);
    const info = keyInfo(key);
    const lapse = await keyLapse(key);
    // Verification would refuse what such a key signs, so trusting it anew only hides the problem. A copy of a
    // key already trusted here is taken, though: it carries the revocation to later verifications.
    if (lapse !== undefined && !(await keystore.trustedAt(opts.prefix, info.fingerprint))) {
      throw new FetchError('FETCH_KEY', `${location}: key ${info.fingerprint} ${describeLapse(lapse)}: not trusting it for ${prefixText(opts.prefix)}`, { subject: location });
    }
    candidates.push({ location, data, overHttps, key, info, lapse });
  }
  const out: TrustedKeyResult[] = [];
  for (const { location, data, overHttps, key, info, lapse } of candidates) {
    const review = describeKey(info, location, opts.prefix);
    let accepted: boolean;
    if (opts.skipFingerprintReview === true) {
      opts.warn?.(`${review}Trusting ${JSON.stringify(location)} for ${prefixText(opts.prefix)} without fingerprint review.`);
      accepted = true;
    } else if (opts.trustKeysFromHttps === true && overHttps) {
      opts.warn?.(`${review}Trusting ${JSON.stringify(location)} for ${prefixText(opts.prefix)}: fetched from https (--trust-keys-from-https).`);
      accepted = true;
    } else {
      if (opts.confirm === undefined) throw new FetchError('FETCH_KEY', `${location}: the key needs a fingerprint review (or --skip-fingerprint-review)`, { subject: location });
      accepted = await opts.confirm(review, info);
    }
    if (!accepted) {
      out.push({ location, fingerprint: info.fingerprint, path: undefined });
      continue;
    }
    const path = await keystore.store(typeof data === 'string' ? data : key.armor(), opts.prefix);
    if (lapse !== undefined) {
      const consequence = lapse.state === 'revoked' ? 'images signed by it will be refused' : 'images it signed after that will be refused';
      opts.warn?.(`warning: the stored key ${info.fingerprint} for ${prefixText(opts.prefix)} ${lapse.state === 'revoked' ? 'is now revoked' : 'has expired'}${lapse.since === undefined ? '' : ` (on ${lapse.since.toISOString()})`}: ${consequence}`);
    }
    out.push({ location, fingerprint: info.fingerprint, path });
  }
  return out;
}

function prefixText(prefix: string | undefined): string {
  return prefix === undefined ? 'every image (root key)' : `prefix ${JSON.stringify(prefix)}`;
}

async function readKeyLocation(location: string, http: Awaited<ReturnType<typeof createHttpClient>>, cwd: string): Promise<{ data: string | Uint8Array; overHttps: boolean }> {
  if (/^https?:\/\//i.test(location)) {
    const url = new URL(location);
    const res = await http.getBytes(url);
    if (res.status !== 200) throw new FetchError('FETCH_HTTP', `${url.href}: bad HTTP status code: ${res.status}`, { subject: location });
    const text = res.body.toString('utf8');
    return { data: text.includes('-----BEGIN PGP') ? text : new Uint8Array(res.body), overHttps: res.url.protocol === 'https:' };
  }
  const url = location.startsWith('file://') ? new URL(location) : undefined;
  if (url !== undefined && url.host !== '' && url.host !== 'localhost') {
    throw new FetchError('FETCH_IO', `${location}: a file URL needs an absolute path (file:///dir/key.asc); "${url.host}" would be its host`, { subject: location });
  }
  const path = url !== undefined ? url.pathname : resolve(cwd, location);
  try {
    const buf = await readFile(path);
    const text = buf.toString('utf8');
    return { data: text.includes('-----BEGIN PGP') ? text : new Uint8Array(buf), overHttps: false };
  } catch (err) {
    throw new FetchError('FETCH_IO', `${location}: ${errnoReason(err)}`, { subject: location, cause: err });
  }
}
