import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readAppExit } from './app-exits.js';
import { PodError } from './errors.js';
import { readPodInfoSync, type PodInfo } from './info.js';
import { isLocked } from './lock.js';
import { heldByPod } from './removing-mark.js';
import { POD_FILES, podsDir, STATE_DIRS, type StateDir } from './layout.js';

/** rkt's pod states, spelt as `rkt list` prints them. */
export type PodState =
  | 'embryo'
  | 'preparing'
  | 'aborted prepare'
  | 'prepared'
  | 'running'
  | 'exited'
  | 'exited garbage'
  | 'deleting'
  | 'garbage';

/** A pod as found on disk at one moment. */
export interface PodSnapshot {
  readonly uuid: string;
  readonly state: PodState;
  readonly stateDir: StateDir;
  readonly path: string;
}

/** The state a directory in `stateDir` is in, given whether someone holds its lock. */
export function stateOf(stateDir: StateDir, locked: boolean): PodState {
  switch (stateDir) {
    case 'embryo':
      return 'embryo';
    case 'prepare':
      return locked ? 'preparing' : 'aborted prepare';
    case 'prepared':
      return 'prepared';
    case 'run':
      return locked ? 'running' : 'exited';
    case 'exited-garbage':
      return 'exited garbage';
    case 'garbage':
      return locked ? 'deleting' : 'garbage';
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Every pod (or those whose UUID `wanted` accepts, which are the only ones stat'ed), in no particular order.
 * A pod renamed while listing may be missed or seen twice; the later sighting wins.
 */
export function listPods(dataDir: string, wanted?: (uuid: string) => boolean): PodSnapshot[] {
  const byUuid = new Map<string, PodSnapshot>();
  for (const stateDir of STATE_DIRS) {
    let names: string[];
    try {
      names = readdirSync(join(podsDir(dataDir), stateDir));
    } catch {
      continue;
    }
    for (const uuid of names) {
      if (!UUID.test(uuid) || (wanted !== undefined && !wanted(uuid))) continue;
      const path = join(podsDir(dataDir), stateDir, uuid);
      // The lock is checked after the directory was read: a pod is locked before it is moved into run/ (or
      // prepare/, garbage/), so one found there is still locked then unless its holder has ended. Checked
      // before, it could miss the lock of a pod moved in meanwhile: a starting pod showed as exited. In the
      // other state directories the lock does not change the state: not checked, only seen to be there.
      // A lock held by an rm or gc moving the pod out is not its own (`heldByPod`).
      const locked = lockDecides(stateDir) ? isLocked(path) && heldByPod(stateDir, path) : existsSync(path) ? false : undefined;
      if (locked === undefined) continue; // moved or removed meanwhile
      byUuid.set(uuid, { uuid, state: stateOf(stateDir, locked), stateDir, path });
    }
  }
  return [...byUuid.values()];
}

/** Whether the state of a pod in `stateDir` depends on whether its lock is held. */
function lockDecides(stateDir: StateDir): boolean {
  return stateOf(stateDir, true) !== stateOf(stateDir, false);
}

/**
 * The one pod that `uuidOrPrefix` names: a full UUID or a unique prefix of one, as rkt accepted.
 * Errors: POD_BAD_UUID, POD_NOT_FOUND, POD_AMBIGUOUS.
 */
export function findPod(dataDir: string, uuidOrPrefix: string): PodSnapshot {
  const want = uuidOrPrefix.toLowerCase();
  if (!/^[0-9a-f-]{1,36}$/.test(want)) {
    throw new PodError('POD_BAD_UUID', `${JSON.stringify(uuidOrPrefix)} is not a pod UUID or UUID prefix`, { subject: uuidOrPrefix });
  }
  // Only the pods that match are stat'ed for their state: `rkt stop UUID` on a host with hundreds of pods.
  const matches = listPods(dataDir, (uuid) => uuid.startsWith(want));
  if (matches.length === 0) throw new PodError('POD_NOT_FOUND', `no pod matches ${JSON.stringify(uuidOrPrefix)}`, { subject: uuidOrPrefix });
  if (matches.length > 1) {
    throw new PodError('POD_AMBIGUOUS', `UUID prefix ${JSON.stringify(uuidOrPrefix)} matches ${matches.length} pods: ${matches.map((m) => m.uuid).join(', ')}`, {
      subject: uuidOrPrefix,
    });
  }
  return matches[0]!;
}

/** An app of a pod as the commands name and show it. */
export interface PodApp {
  readonly name: string;
  readonly imageId: string;
  readonly imageName: string;
}

/** What `rkt list` shows about a pod besides its state: `PodDetails` less what only `rkt status` needs. */
export interface PodSummary extends PodSnapshot {
  /** Stage0's record, less its apps: `apps` are the pod's (the record may lag behind the manifest). */
  readonly info: Omit<PodInfo, 'apps'> | undefined;
  /**
   * The pod's apps, in the pod manifest's order: the manifest is the one source of what apps a pod has, as it
   * was rkt's (`rkt app add` and `rm` change it and stage0's record one after the other, and a kill between the
   * two leaves the app in the manifest only). Empty while the pod has no record yet.
   */
  readonly apps: readonly PodApp[];
  readonly createdAt: Date | undefined;
  readonly startedAt: Date | undefined;
}

/** What `rkt status` and the API show about a pod besides its state. */
export interface PodDetails extends PodSummary {
  readonly pid: number | undefined;
  /** Exit status by app name, for apps whose stage1 recorded one. */
  readonly appExitStatuses: ReadonlyMap<string, number>;
}

/**
 * A file of a pod that may not be there (`pid` before the pod runs, `exit` before its app ends). Looked for
 * first: a failed read throws, and an error costs ~10 us to make, 3-4 of them per prepared pod in a listing.
 */
function readOptional(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * rkt's second way for a stage1 to name the pod's pid: `ppid` holds the pid of its parent, which has
 * exactly one child (the stage1 implementors' guide).
 */
function childOf(ppid: string | undefined): string | undefined {
  if (ppid === undefined || !/^[0-9]+$/.test(ppid)) return undefined;
  const children = readOptional(`/proc/${ppid}/task/${ppid}/children`)?.trim().split(/\s+/).filter((c) => c !== '');
  return children?.length === 1 ? children[0] : undefined;
}

/**
 * `read` of a pod. A pod moves between state directories by rename while others read it: when its directory
 * is gone from under the reader, the pod is found again by UUID and read again.
 */
function followingMoves<T>(pod: PodSnapshot, read: (pod: PodSnapshot) => T): T {
  let current = pod;
  for (let attempt = 0; ; attempt++) {
    try {
      const result = read(current);
      if (existsSync(current.path) || attempt >= 5) return result;
    } catch (err) {
      if (existsSync(current.path) || attempt >= 5) throw err;
    }
    // <dataDir>/pods/<state>/<uuid>
    current = findPod(dirname(dirname(dirname(current.path))), current.uuid);
  }
}

/**
 * What `rkt list` shows of a pod, read synchronously: a listing reads hundreds of pods, and neither the pid
 * (with a look into /proc for a stage1 that names its parent's) nor the apps' exit statuses are among its
 * columns, which saves two to three file reads a pod.
 */
export function podSummary(pod: PodSnapshot): PodSummary {
  return followingMoves(pod, readSummary);
}

/** The details of a pod (`rkt status`, the API): its summary, its pid and its apps' exit statuses. */
export async function podDetails(pod: PodSnapshot): Promise<PodDetails> {
  return followingMoves(pod, readDetails);
}

function readSummary(pod: PodSnapshot): PodSummary {
  // An embryo or a pod still being prepared has no record yet: it is shown with what is known.
  let info: PodInfo | undefined;
  try {
    info = readPodInfoSync(pod.path);
  } catch (err) {
    if (!(pod.state === 'embryo' || pod.state === 'preparing' || pod.state === 'aborted prepare' || pod.state === 'garbage' || pod.state === 'deleting')) {
      throw err;
    }
  }
  const started = readOptional(join(pod.path, POD_FILES.started))?.trim();
  const apps = info === undefined ? [] : podApps(pod.path, info);
  let createdAt = info ? new Date(info.createdAt) : undefined;
  if (createdAt === undefined) {
    try {
      createdAt = statSync(pod.path).birthtime;
    } catch {
      createdAt = undefined;
    }
  }
  return { ...pod, info, apps, createdAt, startedAt: started ? new Date(started) : undefined };
}

function readDetails(pod: PodSnapshot): PodDetails {
  const summary = readSummary(pod);
  const pidText = readOptional(join(pod.path, POD_FILES.pid))?.trim() ?? childOf(readOptional(join(pod.path, POD_FILES.ppid))?.trim());
  const exits = new Map<string, number>();
  for (const app of summary.apps) {
    const status = readAppExit(pod.path, app.name);
    if (status !== undefined) exits.set(app.name, status);
  }
  return { ...summary, pid: pidText && /^[0-9]+$/.test(pidText) ? Number(pidText) : undefined, appExitStatuses: exits };
}

/**
 * The apps the pod manifest names, with their images as it names them. The record's apps only when there is no
 * manifest to read (a pod being prepared: prepare writes both with the same apps).
 */
function podApps(podDir: string, info: PodInfo): PodApp[] {
  const fromRecord = (): PodApp[] => info.apps.map((a) => ({ name: a.name, imageId: a.imageId, imageName: a.imageName }));
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(join(podDir, POD_FILES.manifest), 'utf8'));
  } catch {
    return fromRecord();
  }
  const apps = (doc as { apps?: unknown } | null)?.apps;
  if (!Array.isArray(apps)) return fromRecord();
  const recorded = new Map(info.apps.map((a) => [a.name, a]));
  const out: PodApp[] = [];
  for (const a of apps as unknown[]) {
    const o = a as { name?: unknown; image?: { id?: unknown; name?: unknown } } | null;
    if (o === null || typeof o !== 'object' || typeof o.name !== 'string') continue;
    const rec = recorded.get(o.name);
    const imageId = typeof o.image?.id === 'string' ? o.image.id : (rec?.imageId ?? '');
    const imageName = typeof o.image?.name === 'string' ? o.image.name : (rec?.imageName ?? '');
    out.push({ name: o.name, imageId, imageName });
  }
  return out;
}
