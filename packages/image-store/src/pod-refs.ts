import { existsSync } from 'node:fs';
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { StoreError, isErrno } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import type { Layout } from './layout.js';

/**
 * How a pod tells the store what it uses. One file per pod, `cas/refs/<pod-uuid>.json`, lists the trees and
 * images the pod needs. The reference is valid while the pod's directory exists at one of `podDirs`: rkt
 * moves a pod's directory between state directories by rename (prepare, prepared, run, exited-garbage) and
 * finally to garbage or away, so the lifecycle lists every place the pod lives while it needs its images,
 * and a rename between two of them never leaves the reference invalid. A crashed `rkt gc` can never leave
 * an image pinned forever. Adding a reference happens under the index lock, like gc's decision, so gc never
 * removes a tree between a pod's check and its reference.
 */
export interface PodUse {
  readonly podUuid: string;
  /** Where the pod's directory may be while it uses its images; at least one must exist when referencing. */
  readonly podDirs: readonly string[];
}

export interface PodRef extends PodUse {
  /**
   * `podDirs` under the data directory, relative to it (`pods/run/<uuid>`), which stay right when the data
   * directory moves; `podDirs` stays absolute for the rkt-ts before this field, which ignores it. Absent in
   * references those wrote.
   */
  readonly podPaths?: readonly string[];
  readonly images: readonly string[];
  readonly trees: readonly string[];
  readonly createdAt: number;
}

const UUID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function refPath(l: Layout, podUuid: string): string {
  if (!UUID_RE.test(podUuid)) {
    throw new StoreError('STORE_BAD_REFERENCE', `invalid pod UUID ${JSON.stringify(podUuid)}`, { subject: podUuid });
  }
  return join(l.refs, `${podUuid}.json`);
}

function isPodRef(v: unknown): v is PodRef {
  const r = v as PodRef;
  return typeof v === 'object' && v !== null && typeof r.podUuid === 'string' && Array.isArray(r.podDirs) &&
    (r.podPaths === undefined || Array.isArray(r.podPaths)) && Array.isArray(r.images) && Array.isArray(r.trees) &&
    typeof r.createdAt === 'number';
}

/** `dir` relative to the data directory when it lies under it (what `podPaths` holds), else undefined. */
function podPathOf(l: Layout, dir: string): string | undefined {
  const rel = relative(l.dataDir, dir);
  return rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? undefined : rel;
}

/**
 * Where a pod directory an absolute `podDirs` entry names would be in this data directory: the entry's
 * `pods/<state>/<uuid>` joined to it. A reference written before `podPaths` names the pod where its data
 * directory was then; moved since (rsync and a bind mount, or another --dir), that path is gone or another
 * store's, and the pod is here.
 */
function movedPodPath(dir: string, podUuid: string): string | undefined {
  const parts = dir.split('/');
  const n = parts.length;
  return n >= 4 && parts[n - 3] === 'pods' && parts[n - 1] === podUuid && parts[n - 2] !== '' ? join('pods', parts[n - 2]!, podUuid) : undefined;
}

/**
 * The places a reference's pod may be, in the order they are looked at: its relative `podPaths` in this data
 * directory, then each absolute `podDirs` entry as written and, where it is a pod directory, the same place
 * in this data directory (a reference an older rkt-ts wrote in a data directory since moved).
 */
function podPlaces(l: Layout, ref: PodUse & { readonly podPaths?: readonly unknown[] }): string[] {
  const places = new Set<string>();
  for (const p of ref.podPaths ?? []) if (typeof p === 'string' && !isAbsolute(p)) places.add(join(l.dataDir, p));
  for (const d of ref.podDirs) {
    if (typeof d !== 'string') continue;
    places.add(d);
    const moved = movedPodPath(d, ref.podUuid);
    if (moved !== undefined) places.add(join(l.dataDir, moved));
  }
  return [...places];
}

/** What a reference lists, each directory as the data-directory-relative path it names where it can. */
function listedPaths(l: Layout, ref: PodRef): Set<string> {
  const listed = new Set<string>(ref.podPaths?.filter((p) => typeof p === 'string') ?? []);
  for (const d of ref.podDirs) {
    if (typeof d !== 'string') continue;
    listed.add(d);
    const moved = movedPodPath(d, ref.podUuid);
    if (moved !== undefined) listed.add(moved);
  }
  return listed;
}

async function readRef(path: string): Promise<PodRef | undefined> {
  // A new pod has none yet, `rkt run`'s usual case: checked first, as a failed read's error and rejected
  // promise cost a cold start more than the check (Node compiles its rejection tracking on the first one).
  if (!existsSync(path)) return undefined;
  try {
    const v: unknown = JSON.parse(await readFile(path, 'utf8'));
    return isPodRef(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export async function readPodRefs(l: Layout): Promise<{ ref: PodRef | undefined; file: string }[]> {
  const names = (await readdir(l.refs)).filter((n) => n.endsWith('.json'));
  return Promise.all(names.map(async (n) => ({ file: join(l.refs, n), ref: await readRef(join(l.refs, n)) })));
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Whether the pod of a reference (or a use) still has its directory at one of the places it lists. */
export async function podAlive(l: Layout, ref: PodUse & { readonly podPaths?: readonly unknown[] }): Promise<boolean> {
  for (const d of podPlaces(l, ref)) if (await isDir(d)) return true;
  return false;
}

/** Live references only; call under the index lock for a stable answer. */
export async function livePodRefs(l: Layout): Promise<PodRef[]> {
  const all = await readPodRefs(l);
  const out: PodRef[] = [];
  for (const { ref } of all) if (ref !== undefined && (await podAlive(l, ref))) out.push(ref);
  return out;
}

/**
 * Adds trees and images to a pod's reference (a pod with several apps uses several trees). Call under the index
 * lock. With `syncDir: false` the reference's name is not yet durable when this returns: the caller syncs
 * `refs/` itself (`fsyncDir(l.refs)`) before the pod counts as prepared. gc sees the reference once it is renamed
 * in, which is what keeps the trees; the sync is only for a power loss.
 */
export async function addPodRef(l: Layout, use: PodUse, images: readonly string[], trees: readonly string[], options: { readonly syncDir?: boolean } = {}): Promise<void> {
  const path = refPath(l, use.podUuid);
  if (!(await podAlive(l, use))) {
    throw new StoreError('STORE_BAD_REFERENCE',
      `pod ${use.podUuid}: none of its directories exists (${use.podDirs.join(', ') || 'none given'})`, { subject: use.podUuid });
  }
  const old = await readRef(path);
  const ref: PodRef = {
    podUuid: use.podUuid,
    podDirs: [...use.podDirs],
    podPaths: podPathsOf(l, use.podDirs),
    images: [...new Set([...(old?.images ?? []), ...images])],
    trees: [...new Set([...(old?.trees ?? []), ...trees])],
    createdAt: old?.createdAt ?? Date.now(),
  };
  await writeFileAtomic(path, `${JSON.stringify(ref)}\n`, { tmpDir: l.tmp, ...(options.syncDir === false ? { syncDir: false } : {}) });
}

/**
 * The directories of `use.podDirs` that the pod's reference does not list, or none when it has no reference.
 * A pod prepared by an older rkt-ts lists the states its lifecycle had then (before session 14 no `garbage`).
 */
export async function missingPodDirs(l: Layout, use: PodUse): Promise<string[]> {
  const ref = await readRef(refPath(l, use.podUuid));
  return ref === undefined ? [] : unlisted(l, ref, use.podDirs);
}

function podPathsOf(l: Layout, dirs: readonly string[]): string[] {
  return dirs.flatMap((d) => podPathOf(l, d) ?? []);
}

/** The directories of `dirs` that `ref` does not list, absolute or (moved or not) relative to the data directory. */
function unlisted(l: Layout, ref: PodRef, dirs: readonly string[]): string[] {
  const listed = listedPaths(l, ref);
  return dirs.filter((d) => !listed.has(d) && !listed.has(podPathOf(l, d) ?? d));
}

/**
 * Adds `use.podDirs` to the pod's reference, keeping what it had; nothing when it has none. Call under the
 * index lock: a gc that decided before the write saw the pod where its old list finds it.
 */
export async function extendPodRef(l: Layout, use: PodUse): Promise<boolean> {
  const path = refPath(l, use.podUuid);
  const ref = await readRef(path);
  if (ref === undefined) return false;
  const missing = unlisted(l, ref, use.podDirs);
  if (missing.length === 0) return false;
  const podPaths = [...new Set([...(ref.podPaths ?? []), ...podPathsOf(l, use.podDirs)])];
  await writeFileAtomic(path, `${JSON.stringify({ ...ref, podDirs: [...ref.podDirs, ...missing], podPaths })}\n`, l.tmp);
  return true;
}

/** A pod's reference, or undefined when it has none (or one no rkt-ts could read). */
export function readPodRef(l: Layout, podUuid: string): Promise<PodRef | undefined> {
  return readRef(refPath(l, podUuid));
}

/**
 * Drops `images` and `trees` from a pod's reference, keeping the rest (an app add undone: what it alone
 * referenced); nothing when the pod has no reference. Returns whether it changed it. Call under the index lock.
 */
export async function dropFromPodRef(l: Layout, podUuid: string, images: readonly string[], trees: readonly string[]): Promise<boolean> {
  const path = refPath(l, podUuid);
  const ref = await readRef(path);
  if (ref === undefined) return false;
  const kept = { images: ref.images.filter((i) => !images.includes(i)), trees: ref.trees.filter((t) => !trees.includes(t)) };
  if (kept.images.length === ref.images.length && kept.trees.length === ref.trees.length) return false;
  await writeFileAtomic(path, `${JSON.stringify({ ...ref, ...kept })}\n`, l.tmp);
  return true;
}

export async function removePodRef(l: Layout, podUuid: string): Promise<boolean> {
  try {
    await unlink(refPath(l, podUuid));
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}
