import type { ClassicLevel } from 'classic-level';
import { StoreError } from './errors.js';
import { INDEX_VERSION, type Layout } from './layout.js';
import {
  isImageRecord, isRemoteRecord, isTreeRecord,
  type ImageRecord, type RemoteRecord, type TreeRecord,
} from './records.js';
import { recordsFromDisk } from './rebuild.js';
import { dropSnapshot, readSnapshot, writeSnapshot } from './snapshot.js';
import { announceIndexHeld, withUsage } from './index-presence.js';

/**
 * The index is a LevelDB database, which admits one process at a time. Every operation is a short
 * transaction: open, read and write, close. Holding the database open is therefore also the store-wide
 * mutex: LevelDB's LOCK is an fcntl lock the kernel drops when its process dies, so a killed rkt can never
 * leave the store locked. Publishing an image or tree (a rename) and recording it happen inside one
 * transaction, which is what keeps gc from ever seeing half of a live operation.
 */

const IMAGE = 'image/';
const TREE = 'tree/';
const REMOTE = 'remote/';
const SCHEMA_KEY = 'meta/schema';

type Db = ClassicLevel<string, string>;
type Op = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

/** Upgrades of the index's records, keyed by the version they upgrade from; version 1 is the first. */
const indexUpgrades: Record<number, (db: Db) => Promise<void>> = {};

export class IndexTx {
  private readonly ops: Op[] = [];
  private readonly after: (() => Promise<void>)[] = [];
  private snapshotChanged = false;
  constructor(private readonly db: Db, private readonly layout: Layout) {}

  /**
   * Runs `fn` once the batch is durably committed, still under the lock. Removals use it: the record goes
   * first, then the directory, so a crash in between leaves an unrecorded directory (debris gc removes),
   * never a record without its files.
   */
  afterCommit(fn: () => Promise<void>): void {
    this.after.push(fn);
  }

  private async getJson(key: string): Promise<unknown> {
    const v = await this.db.get(key);
    return v === undefined ? undefined : JSON.parse(v);
  }

  private async scan<T>(prefix: string, guard: (v: unknown) => v is T): Promise<T[]> {
    const out: T[] = [];
    for await (const value of this.db.values({ gte: prefix, lt: `${prefix}\xff` })) {
      const parsed: unknown = JSON.parse(value);
      if (guard(parsed)) out.push(parsed);
    }
    return out;
  }

  /** With `lastUsedAt` including uses recorded without the index (see index-presence.ts). */
  async image(id: string): Promise<ImageRecord | undefined> {
    const v = await this.getJson(IMAGE + id);
    return isImageRecord(v) ? (await withUsage(this.layout, [v]))[0] : undefined;
  }
  async images(): Promise<ImageRecord[]> {
    return withUsage(this.layout, await this.scan(IMAGE, isImageRecord));
  }
  /** The records as stored, for the snapshot (which must not bake in usage times from elsewhere). */
  storedImages(): Promise<ImageRecord[]> {
    return this.scan(IMAGE, isImageRecord);
  }
  putImage(r: ImageRecord): void {
    this.snapshotChanged = true;
    this.ops.push({ type: 'put', key: IMAGE + r.id, value: JSON.stringify(r) });
  }
  delImage(id: string): void {
    this.snapshotChanged = true;
    this.ops.push({ type: 'del', key: IMAGE + id });
  }

  async tree(id: string): Promise<TreeRecord | undefined> {
    const v = await this.getJson(TREE + id);
    return isTreeRecord(v) ? v : undefined;
  }
  trees(): Promise<TreeRecord[]> {
    return this.scan(TREE, isTreeRecord);
  }
  putTree(r: TreeRecord): void {
    this.snapshotChanged = true;
    this.ops.push({ type: 'put', key: TREE + r.id, value: JSON.stringify(r) });
  }
  delTree(id: string): void {
    this.snapshotChanged = true;
    this.ops.push({ type: 'del', key: TREE + id });
  }

  async remote(url: string): Promise<RemoteRecord | undefined> {
    const v = await this.getJson(REMOTE + url);
    return isRemoteRecord(v) ? v : undefined;
  }
  remotes(): Promise<RemoteRecord[]> {
    return this.scan(REMOTE, isRemoteRecord);
  }
  putRemote(r: RemoteRecord): void {
    this.ops.push({ type: 'put', key: REMOTE + r.url, value: JSON.stringify(r) });
  }
  delRemote(url: string): void {
    this.ops.push({ type: 'del', key: REMOTE + url });
  }

  /** Writes the queued changes in one synced batch: all of them survive a crash, or none. */
  async commit(): Promise<void> {
    if (this.snapshotChanged) await dropSnapshot(this.layout);
    if (this.ops.length > 0) await this.db.batch(this.ops.splice(0), { sync: true });
    for (const fn of this.after.splice(0)) await fn();
    if (this.snapshotChanged) await this.writeSnapshot();
  }

  async writeSnapshot(): Promise<void> {
    await writeSnapshot(this.layout, await this.storedImages(), await this.trees());
  }
}

export interface IndexOptions {
  /** How long to keep retrying while other processes hold the index, in ms. */
  readonly lockTimeoutMs: number;
}

// Transactions of one process queue here: LevelDB refuses a second open even from the same process.
let queue: Promise<unknown> = Promise.resolve();

/**
 * classic-level's own message ("Database failed to open") says nothing; LevelDB's, in the cause, names the
 * file and what is wrong with it.
 */
function levelReason(err: unknown): string {
  let reason = err instanceof Error ? err.message : String(err);
  for (let e = (err as { cause?: unknown }).cause; e instanceof Error; e = (e as { cause?: unknown }).cause) reason = e.message;
  return reason.split('\n')[0] ?? reason;
}

function levelCodes(err: unknown): string[] {
  const codes: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

/**
 * Damage, as opposed to the index being out of reach (permissions, a full or read-only disk): LevelDB's
 * corruption, or one of its own files missing or unreadable as a table (`CURRENT` naming a manifest that
 * is not there, a table file of the wrong size), which only rebuilding the index mends.
 */
function isDamage(err: unknown): boolean {
  const codes = levelCodes(err);
  return codes.includes('LEVEL_CORRUPTION') ||
    (codes.includes('LEVEL_IO_ERROR') && /No such file or directory|Invalid argument/.test(levelReason(err)));
}

/** The store's error for a LevelDB failure; a damaged index's says how to rebuild it (rebuild-index.ts). */
export function indexError(l: Layout, err: unknown): StoreError {
  const reason = levelReason(err);
  if (isDamage(err)) {
    return new StoreError('STORE_INDEX_DAMAGED',
      `the image index ${l.index} is damaged (${reason}); "rkt --dir=${l.dataDir} image rebuild-index" rebuilds it from the images on disk`,
      { subject: l.index, cause: err });
  }
  return new StoreError('STORE_IO', `cannot use the image index ${l.index}: ${reason}`, { subject: l.index, cause: err });
}

const isLevelError = (err: unknown): boolean => !(err instanceof StoreError) && levelCodes(err).some((c) => c.startsWith('LEVEL_'));

function isLocked(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  return e?.code === 'LEVEL_LOCKED' || e?.cause?.code === 'LEVEL_LOCKED';
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function openDb(l: Layout, opts: IndexOptions): Promise<Db> {
  // Loaded on first use: readers served by the snapshot never pay for the native module.
  const { ClassicLevel } = await import('classic-level');
  const deadline = Date.now() + opts.lockTimeoutMs;
  let delay = 2;
  for (;;) {
    const db: Db = new ClassicLevel<string, string>(l.index, { createIfMissing: true });
    try {
      await db.open();
      return db;
    } catch (err) {
      if (!isLocked(err)) throw indexError(l, err);
      if (Date.now() >= deadline) {
        throw new StoreError('STORE_BUSY',
          `the image index ${l.index} stayed locked by other rkt processes for ${opts.lockTimeoutMs} ms`, { subject: l.index, cause: err });
      }
      // Jitter spreads a crowd of waiters so they do not collide again in lockstep.
      await sleep(delay / 2 + Math.random() * delay);
      delay = Math.min(delay * 2, 100);
    }
  }
}

async function checkSchema(db: Db, l: Layout): Promise<void> {
  const raw = await db.get(SCHEMA_KEY);
  let version = raw === undefined ? undefined : Number(raw);
  if (version === undefined) {
    const adopted = await recordsFromDisk(l);
    if (adopted.length > 0) await dropSnapshot(l);
    await db.batch([
      ...adopted.map((r) => ({ type: 'put' as const, key: IMAGE + r.id, value: JSON.stringify(r) })),
      { type: 'put' as const, key: SCHEMA_KEY, value: String(INDEX_VERSION) },
    ], { sync: true });
    return;
  }
  if (!Number.isInteger(version) || version < 1) {
    throw new StoreError('STORE_LAYOUT', `${l.index}: invalid index schema version ${JSON.stringify(raw)}`, { subject: l.index });
  }
  if (version > INDEX_VERSION) {
    throw new StoreError('STORE_VERSION',
      `${l.index}: index schema version ${version} is newer than this rkt-ts supports (${INDEX_VERSION}); use a newer rkt-ts`,
      { subject: l.index });
  }
  // A snapshot of records in the old format must not outlive the upgrade.
  if (version < INDEX_VERSION) await dropSnapshot(l);
  while (version < INDEX_VERSION) {
    const step = indexUpgrades[version];
    if (step === undefined) throw new StoreError('STORE_VERSION', `${l.index}: no upgrade from index schema version ${version}`, { subject: l.index });
    await step(db);
    version += 1;
    await db.put(SCHEMA_KEY, String(version), { sync: true });
  }
}

/** Runs `fn` with the index open and exclusively held; its queued writes are committed if it returns. */
export function withIndex<T>(l: Layout, opts: IndexOptions, fn: (tx: IndexTx) => Promise<T>): Promise<T> {
  const run = async (): Promise<T> => {
    const db = await openDb(l, opts);
    // Announced from before `fn` reads anything until after its commit and its after-commit work:
    // `rkt run`'s lock-free lookup (pod-trees.ts) sees it and takes this path instead.
    let withdraw: (() => Promise<void>) | undefined;
    try {
      withdraw = await announceIndexHeld(l);
      await checkSchema(db, l);
      const tx = new IndexTx(db, l);
      const result = await fn(tx);
      await tx.commit();
      return result;
    } catch (err) {
      // A damaged table is found when it is read, after the open succeeded.
      if (isLevelError(err)) throw indexError(l, err);
      throw err;
    } finally {
      await withdraw?.();
      await db.close();
    }
  };
  const next = queue.then(run, run);
  queue = next.catch(() => undefined);
  return next;
}

/** Every image record: from the snapshot when there is one, else from the index (rebuilding the snapshot). */
export async function readImages(l: Layout, opts: IndexOptions): Promise<ImageRecord[]> {
  const snap = await readSnapshot(l);
  if (snap !== undefined) return snap;
  return withIndex(l, opts, async (tx) => {
    await tx.writeSnapshot();
    return tx.storedImages();
  });
}
