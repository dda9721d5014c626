import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Key } from 'openpgp';
import { isAcIdentifier, removeDeadWriterTemps, writerTempPath } from '@rkt/appc-spec/lean';
import { errnoReason, makeDirs, writeFileAtomic } from '@rkt/image-store';
import { FetchError, firstLine } from '../errors.js';

export interface TrustedKey {
  /** Lowercase hex fingerprint of the primary key: the file's name. */
  readonly fingerprint: string;
  readonly key: Key;
  readonly file: string;
}

export interface KeystoreDirs {
  /** `--system-config` (default `/usr/lib/rkt`): vendor keys. */
  readonly systemConfigDir: string;
  /** `--local-config` (default `/etc/rkt`): keys the administrator trusted, and masks. */
  readonly localConfigDir: string;
}

/**
 * rkt's trusted-key store: `trustedkeys/root.d/<fingerprint>` (trusted for every image) and
 * `trustedkeys/prefix.d/<prefix>/<fingerprint>` (trusted for names under the prefix), under the system
 * and then the local config dir. A later source overrides an earlier one, and an empty file masks the
 * key of that fingerprint (so a local empty file un-trusts a vendor key).
 */
export class Keystore {
  constructor(readonly dirs: KeystoreDirs) {}

  get localRoot(): string {
    return join(this.dirs.localConfigDir, 'trustedkeys', 'root.d');
  }
  get localPrefix(): string {
    return join(this.dirs.localConfigDir, 'trustedkeys', 'prefix.d');
  }
  private get systemRoot(): string {
    return join(this.dirs.systemConfigDir, 'trustedkeys', 'root.d');
  }
  private get systemPrefix(): string {
    return join(this.dirs.systemConfigDir, 'trustedkeys', 'prefix.d');
  }

  /** The keys trusted for `name`: root keys and keys of every path prefix of the name (whole components). */
  async keyringFor(name: string): Promise<TrustedKey[]> {
    if (!isAcIdentifier(name)) throw new FetchError('FETCH_KEY', `${JSON.stringify(name)} is not a valid AC Identifier`, { subject: name });
    const parts = name.split('/');
    const prefixDirs = (base: string) => parts.map((_, i) => join(base, ...parts.slice(0, i + 1)));
    const dirs = [this.systemRoot, this.localRoot, ...prefixDirs(this.systemPrefix), ...prefixDirs(this.localPrefix)];
    const keys = new Map<string, TrustedKey>();
    for (const dir of dirs) {
      let names: string[];
      try {
        names = (await readdir(dir)).sort();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        throw new FetchError('FETCH_KEY', `${dir}: ${firstLine(err)}`, { subject: dir, cause: err });
      }
      for (const fname of names) {
        if (isWriterTemp(fname)) continue;
        const file = join(dir, fname);
        const st = await stat(file);
        if (!st.isFile()) continue;
        if (st.size === 0) {
          keys.delete(fname.toLowerCase());
          continue;
        }
        const key = await readKeyFile(file);
        keys.set(key.fingerprint, key);
      }
    }
    return [...keys.values()];
  }

  /**
   * Every key trusted for some name (root and every prefix; masks ignored). Only for starting a
   * verification before the name is known: whether the key counts is decided by `keyringFor(name)` later.
   */
  async anyTrustedKeys(): Promise<TrustedKey[]> {
    const keys = new Map<string, TrustedKey>();
    for (const dir of [this.systemRoot, this.localRoot, this.systemPrefix, this.localPrefix]) {
      let names: string[];
      try {
        names = await readdir(dir, { recursive: true });
      } catch {
        continue;
      }
      for (const rel of names) {
        if (isWriterTemp(basename(rel))) continue;
        const file = join(dir, rel);
        const st = await stat(file).catch(() => undefined);
        if (st === undefined || !st.isFile() || st.size === 0) continue;
        const key = await readKeyFile(file).catch(() => undefined);
        if (key !== undefined) keys.set(key.fingerprint, key);
      }
    }
    return [...keys.values()];
  }

  /**
   * Whether the key `fingerprint` is trusted at exactly this location (`prefix.d/<prefix>`, or `root.d` with
   * `prefix` undefined), by the system or the local config dir, and not masked there by a local empty file.
   */
  async trustedAt(prefix: string | undefined, fingerprint: string): Promise<boolean> {
    const fpr = fingerprint.toLowerCase();
    const at = (root: string, base: string) => (prefix === undefined ? join(root, fpr) : join(base, ...prefix.split('/'), fpr));
    let trusted = false;
    for (const file of [at(this.systemRoot, this.systemPrefix), at(this.localRoot, this.localPrefix)]) {
      const st = await stat(file).catch(() => undefined);
      if (st?.isFile() === true) trusted = st.size > 0;
    }
    return trusted;
  }

  /** Stores an armored public key as trusted for `prefix`, or for every image with `prefix` undefined (root). */
  async store(armored: string, prefix: string | undefined): Promise<string> {
    const key = await parsePublicKey(armored, 'key');
    let dir = this.localRoot;
    if (prefix !== undefined) {
      if (!isAcIdentifier(prefix)) throw new FetchError('FETCH_KEY', `prefix ${JSON.stringify(prefix)} is not a valid AC Identifier`, { subject: prefix });
      dir = join(this.localPrefix, ...prefix.split('/'));
    }
    const dest = join(dir, key.getFingerprint().toLowerCase());
    await writeAtomic(dest, armored.endsWith('\n') ? armored : `${armored}\n`);
    return dest;
  }
}

/** Parses one armored (or binary) public key; a secret key or several keys in one file are refused. */
export async function parsePublicKey(data: string | Uint8Array, source: string): Promise<Key> {
  const openpgp = await import('openpgp');
  let keys: Key[];
  try {
    keys = typeof data === 'string' && data.includes('-----BEGIN PGP')
      ? await openpgp.readKeys({ armoredKeys: data })
      : await openpgp.readKeys({ binaryKeys: typeof data === 'string' ? Buffer.from(data) : data });
  } catch (err) {
    throw new FetchError('FETCH_KEY', `${source}: not an OpenPGP public key: ${firstLine(err)}`, { subject: source, cause: err });
  }
  const key = keys[0];
  if (key === undefined) throw new FetchError('FETCH_KEY', `${source}: no OpenPGP key found`, { subject: source });
  if (keys.length > 1) throw new FetchError('FETCH_KEY', `${source}: holds ${keys.length} keys; give one key per file`, { subject: source });
  if (key.isPrivate()) throw new FetchError('FETCH_KEY', `${source}: is a private key; give the public key`, { subject: source });
  return key;
}

async function readKeyFile(file: string): Promise<TrustedKey> {
  const key = await parsePublicKey(await readFile(file, 'utf8'), file);
  const fingerprint = key.getFingerprint().toLowerCase();
  const base = file.slice(file.lastIndexOf('/') + 1).toLowerCase();
  if (base !== fingerprint) {
    throw new FetchError('FETCH_KEY', `${file}: fingerprint mismatch: the file holds key ${fingerprint}`, { subject: file });
  }
  return { fingerprint, key, file };
}

/**
 * A temp file of a key's write, never a key: this build's (`.<fingerprint>.<pid>.<start time>.<random>.tmp`)
 * or an earlier build's (`<fingerprint>.tmp-<pid>-<random>`). A writer killed part way leaves it among the
 * keys, and read as one it failed every verification after ("fingerprint mismatch", "not an OpenPGP public key").
 */
function isWriterTemp(name: string): boolean {
  return (name.startsWith('.') && name.endsWith('.tmp')) || OLD_WRITER_TEMP.test(name);
}

/** An earlier build's temp, `<fingerprint>.tmp-<pid>-<random>`: its writer's pid alone. */
const OLD_WRITER_TEMP = /\.tmp-(\d+)-[0-9a-f]{8}$/;

/**
 * The store's write (temp + fsync + rename, then the directory's fsync): a trusted key is never half written.
 * The temp is named after its writer, so that the next store into the directory removes those of writers
 * killed part way, an earlier build's too (their pid alone tells); until then the keyring passes over them
 * (`isWriterTemp`).
 */
export async function writeAtomic(dest: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  try {
    await makeDirs(dirname(dest));
  } catch (err) {
    throw new FetchError('FETCH_IO', `${dirname(dest)}: cannot create the directory: ${errnoReason(err)}`, { subject: dest, cause: err });
  }
  try {
    await writeFileAtomic(dest, data, { tmpName: basename(writerTempPath(dest)), mode });
  } catch (err) {
    throw new FetchError('FETCH_IO', `${dest}: ${firstLine(err)}`, { subject: dest, cause: err });
  }
  await removeDeadWriterTemps(dirname(dest), { pidOnly: OLD_WRITER_TEMP });
}
