import { existsSync } from 'node:fs';
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
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
    Array.isArray(r.images) && Array.isArray(r.trees) && typeof r.createdAt === 'number';
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

export async function podAlive(ref: PodUse): Promise<boolean> {
  for (const d of ref.podDirs) if (typeof d === 'string' && (await isDir(d))) return true;
  return false;
}

/** Live references only; call under the index lock for a stable answer. */
export async function livePodRefs(l: Layout): Promise<PodRef[]> {
  const all = await readPodRefs(l);
  const out: PodRef[] = [];
  for (const { ref } of all) if (ref !== undefined && (await podAlive(ref))) out.push(ref);
  return out;
}

/** Adds trees and images to a pod's reference (a pod with several apps uses several trees). Call under the index lock. */
export async function addPodRef(l: Layout, use: PodUse, images: readonly string[], trees: readonly string[]): Promise<void> {
  const path = refPath(l, use.podUuid);
  if (!(await podAlive(use))) {
    throw new StoreError('STORE_BAD_REFERENCE',
      `pod ${use.podUuid}: none of its directories exists (${use.podDirs.join(', ') || 'none given'})`, { subject: use.podUuid });
  }
  const old = await readRef(path);
  const ref: PodRef = {
    podUuid: use.podUuid,
    podDirs: [...use.podDirs],
    images: [...new Set([...(old?.images ?? []), ...images])],
    trees: [...new Set([...(old?.trees ?? []), ...trees])],
    createdAt: old?.createdAt ?? Date.now(),
  };
  await writeFileAtomic(path, `${JSON.stringify(ref)}\n`, l.tmp);
}

/**
 * The directories of `use.podDirs` that the pod's reference does not list, or none when it has no reference.
 * A pod prepared by an older rkt-ts lists the states its lifecycle had then (before session 14 no `garbage`).
 */
export async function missingPodDirs(l: Layout, use: PodUse): Promise<string[]> {
  const ref = await readRef(refPath(l, use.podUuid));
  return ref === undefined ? [] : use.podDirs.filter((d) => !ref.podDirs.includes(d));
}

/**
 * Adds `use.podDirs` to the pod's reference, keeping what it had; nothing when it has none. Call under the
 * index lock: a gc that decided before the write saw the pod where its old list finds it.
 */
export async function extendPodRef(l: Layout, use: PodUse): Promise<boolean> {
  const path = refPath(l, use.podUuid);
  const ref = await readRef(path);
  if (ref === undefined) return false;
  const missing = use.podDirs.filter((d) => !ref.podDirs.includes(d));
  if (missing.length === 0) return false;
  await writeFileAtomic(path, `${JSON.stringify({ ...ref, podDirs: [...ref.podDirs, ...missing] })}\n`, l.tmp);
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
