import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PodError } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import { POD_FILES, POD_FORMAT_VERSION } from './layout.js';
import type { AppMount } from './volumes.js';

// Stage0 writes and reads this file itself, so a few hand-written checks guard it on read (as the image
// store's records are guarded) rather than zod: every `rkt run` reads it, and zod's load time alone is
// most of a Node start.

export interface PodAppInfo {
  readonly name: string;
  readonly imageId: string;
  readonly imageName: string;
  readonly treeId: string;
  /**
   * The rendered tree's rootfs: the read-only lower directory of the app's rootfs. Relative to the data
   * directory since format version 2 (`cas/trees/<treeId>/rootfs`; absolute for a store outside it), absolute
   * before: `appLower` says where it is.
   */
  readonly lower: string;
  /** The app's volume mounts, set up by stage0 before the stage1 starts. */
  readonly mounts?: readonly AppMount[];
}

/** Stage0's record of a pod, written once when it is prepared (`pod-info.json`). */
export interface PodInfo {
  /** 1 (older rkt-ts: absolute paths) or `POD_FORMAT_VERSION`; new pods are written with the latter. */
  readonly formatVersion: 1 | typeof POD_FORMAT_VERSION;
  readonly uuid: string;
  readonly createdAt: string;
  readonly stage1: { readonly imageId: string; readonly imageName: string; readonly treeId: string };
  readonly apps: readonly PodAppInfo[];
  /** 'copy' is `--no-overlay`; 'auto' uses overlayfs where the kernel has it. */
  readonly rootfsMode: 'auto' | 'copy';
  readonly inheritEnv: boolean;
  /**
   * `--private-users`: the pod runs in a user namespace mapping its IDs 0..count-1 to the host's shift..
   * (rkt's UidRange, which it kept in the pod's `userns` file), picked when the pod was prepared.
   */
  readonly privateUsers?: PrivateUsers;
}

/** A pod's user namespace: its IDs 0..count-1 are the host's shift..shift+count-1. */
export interface PrivateUsers {
  readonly shift: number;
  readonly count: number;
}

const IMAGE_ID_RE = /^sha512-[0-9a-f]{128}$/;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first thing wrong with `v` as a PodInfo, as `path: rule`, or undefined when it is one. */
export function podInfoProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'document: must be an object';
  if (v.formatVersion !== 1 && v.formatVersion !== POD_FORMAT_VERSION) return `formatVersion: must be 1 or ${POD_FORMAT_VERSION}`;
  for (const key of ['uuid', 'createdAt'] as const) if (typeof v[key] !== 'string') return `${key}: must be a string`;
  const image = (where: string, o: unknown, keys: readonly string[]): string | undefined => {
    if (!isObject(o)) return `${where}: must be an object`;
    for (const k of keys) if (typeof o[k] !== 'string') return `${where}.${k}: must be a string`;
    if (!IMAGE_ID_RE.test(o.imageId as string)) return `${where}.imageId: must be an image ID`;
    return undefined;
  };
  const stage1 = image('stage1', v.stage1, ['imageId', 'imageName', 'treeId']);
  if (stage1 !== undefined) return stage1;
  if (!Array.isArray(v.apps)) return 'apps: must be an array';
  for (const [i, a] of v.apps.entries()) {
    const app = image(`apps.${i}`, a, ['name', 'imageId', 'imageName', 'treeId', 'lower']);
    if (app !== undefined) return app;
    const mounts = (a as Json).mounts;
    if (mounts === undefined) continue;
    if (!Array.isArray(mounts)) return `apps.${i}.mounts: must be an array`;
    for (const [j, m] of mounts.entries()) {
      const where = `apps.${i}.mounts.${j}`;
      if (!isObject(m) || typeof m.volume !== 'string' || typeof m.target !== 'string') return `${where}: must have a volume and a target`;
      if (m.kind !== 'host' && m.kind !== 'empty') return `${where}.kind: must be "host" or "empty"`;
      if (m.source !== undefined && typeof m.source !== 'string') return `${where}.source: must be a string`;
      if (typeof m.readOnly !== 'boolean' || typeof m.recursive !== 'boolean') return `${where}: readOnly and recursive must be booleans`;
    }
  }
  if (v.rootfsMode !== 'auto' && v.rootfsMode !== 'copy') return 'rootfsMode: must be "auto" or "copy"';
  if (typeof v.inheritEnv !== 'boolean') return 'inheritEnv: must be a boolean';
  if (v.privateUsers !== undefined) {
    const p = v.privateUsers;
    const id = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0 && (n as number) < 2 ** 32;
    if (!isObject(p) || !id(p.shift) || !id(p.count) || p.count === 0 || p.shift + p.count > 2 ** 32 - 1 || p.shift === 0) {
      return 'privateUsers: must be {shift, count}, a range of host IDs above 0';
    }
  }
  return undefined;
}

export async function writePodInfo(podDir: string, info: PodInfo): Promise<void> {
  const problem = podInfoProblem(info);
  if (problem !== undefined) throw new PodError('POD_FORMAT', `pod info of ${info.uuid}: ${problem}`, { subject: podDir });
  await writeFileAtomic(join(podDir, POD_FILES.info), `${JSON.stringify(info, null, 2)}\n`);
}

/**
 * Reads `pod-info.json`, refusing a format newer than this rkt-ts knows. Version 1 is read as it is: it
 * differs from 2 only in where its paths start from, which `appLower` and `relinkMovedStage1` deal with.
 */
export async function readPodInfo(podDir: string): Promise<PodInfo> {
  const path = join(podDir, POD_FILES.info);
  let text: string | Error;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    text = err as Error;
  }
  return parsePodInfo(path, text);
}

/**
 * `readPodInfo` with a synchronous read, for a listing of many pods (`rkt list`): 200 promise reads (open,
 * stat, read and close, each a trip through the thread pool) cost more than the same reads in a loop.
 */
export function readPodInfoSync(podDir: string): PodInfo {
  const path = join(podDir, POD_FILES.info);
  let text: string | Error;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    text = err as Error;
  }
  return parsePodInfo(path, text);
}

/** The record in `text` (or the error its read failed with), checked as both readers check it. */
function parsePodInfo(path: string, text: string | Error): PodInfo {
  let raw: unknown;
  try {
    if (text instanceof Error) throw text;
    raw = JSON.parse(text);
  } catch (err) {
    throw new PodError('POD_FORMAT', `cannot read ${path}: ${(err as Error).message}`, { subject: path, cause: err });
  }
  const version = (raw as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === 'number' && version > POD_FORMAT_VERSION) {
    throw new PodError('POD_VERSION', `${path}: pod format version ${version} is newer than this rkt-ts supports (${POD_FORMAT_VERSION})`, {
      subject: path,
    });
  }
  const problem = podInfoProblem(raw);
  if (problem !== undefined) throw new PodError('POD_FORMAT', `${path}: ${problem}`, { subject: path });
  return raw as PodInfo;
}
