import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError, isErrno } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import type { Layout } from './layout.js';

/**
 * How a pod tells the store what it uses. One file per pod, `cas/refs/<pod-uuid>.json`, lists the trees and
 * images the pod needs. The reference is valid while the pod's directory (`podDir`) exists: the pod
 * lifecycle keeps that directory through prepared, running and exited, and deletes it when it collects the
 * pod, so a crashed `rkt gc` can never leave an image pinned forever. Adding a reference happens under the
 * index lock, like gc's decision, so gc never removes a tree between a pod's check and its reference.
 */
export interface PodUse {
  readonly podUuid: string;
  /** The pod's directory; the reference dies with it. It must exist when the reference is added. */
  readonly podDir: string;
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
  return typeof v === 'object' && v !== null && typeof r.podUuid === 'string' && typeof r.podDir === 'string' &&
    Array.isArray(r.images) && Array.isArray(r.trees) && typeof r.createdAt === 'number';
}

async function readRef(path: string): Promise<PodRef | undefined> {
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

export async function podAlive(ref: PodRef): Promise<boolean> {
  try {
    return (await stat(ref.podDir)).isDirectory();
  } catch {
    return false;
  }
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
  try {
    if (!(await stat(use.podDir)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new StoreError('STORE_BAD_REFERENCE', `pod directory ${use.podDir} does not exist (${(err as Error).message})`, { subject: use.podDir });
  }
  const old = await readRef(path);
  const ref: PodRef = {
    podUuid: use.podUuid,
    podDir: use.podDir,
    images: [...new Set([...(old?.images ?? []), ...images])],
    trees: [...new Set([...(old?.trees ?? []), ...trees])],
    createdAt: old?.createdAt ?? Date.now(),
  };
  await writeFileAtomic(path, `${JSON.stringify(ref)}\n`, l.tmp);
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
