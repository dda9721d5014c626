import { join } from 'node:path';

/**
 * The pod directory format. `pod-info.json` carries it; a reader refuses a newer version (POD_VERSION).
 * 2: the data directory's paths are relative to it (`apps[].lower`, the `stage1/rootfs` link), so that it can
 * move; 1 held them absolute, and is read as it is (`data-dir-paths.ts` finds its trees after a move).
 */
export const POD_FORMAT_VERSION = 2;

/** rkt's state directories under `<dataDir>/pods`. A pod moves between them by rename only. */
export const STATE_DIRS = ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage'] as const;
export type StateDir = (typeof STATE_DIRS)[number];

/**
 * The states in which a pod still needs its images: the store's pod reference stays valid while the
 * pod directory exists in one of these (a rename between two of them never invalidates it). `garbage`
 * too: a pod there still has its rootfs mounted over its trees and its stage1's gc entrypoint in the
 * stage1's tree until gc deletes it, and an image gc between the two took both (every later gc then failed
 * on the missing entrypoint). Its deletion releases the images.
 */
export const REFERENCING_STATE_DIRS: readonly StateDir[] = ['prepare', 'prepared', 'run', 'exited-garbage', 'garbage'];

export function podsDir(dataDir: string): string {
  return join(dataDir, 'pods');
}

export function podPath(dataDir: string, state: StateDir, uuid: string): string {
  return join(dataDir, 'pods', state, uuid);
}

export function referencingPodDirs(dataDir: string, uuid: string): string[] {
  return REFERENCING_STATE_DIRS.map((s) => podPath(dataDir, s, uuid));
}

/**
 * The files of a pod directory: the stage0/stage1 contract. A stage1 reads `pod` and
 * `appsinfo/<app>/{manifest,rootfs}`, writes `pid` and `appsinfo/<app>/exit`; everything else is
 * stage0's.
 */
export const POD_FILES = {
  /** The reified pod manifest: every app names its image by full ID. */
  manifest: 'pod',
  /** Stage0's record of the pod (format version, times, images and trees): `PodInfo`. */
  info: 'pod-info.json',
  /** When stage0 handed the pod to stage1 (RFC 3339), written before the run entrypoint starts. */
  started: 'started',
  /**
   * Empty; left by an rm or gc in an exited pod (or an aborted prepare) before it takes the pod's lock to move it
   * out of `run/` (`prepare/`): that lock is then theirs, not the pod's (`removing-mark.ts`).
   */
  removing: 'removing',
  /** The pid of the pod's first process, written by stage1 for `enter` and `stop`. */
  pid: 'pid',
  /** Or the pid of its parent (rkt's second way). */
  ppid: 'ppid',
  stage1Manifest: join('stage1', 'manifest'),
  /**
   * A symlink to the stage1 tree's rootfs in the store: entrypoints are paths inside it. Relative since format
   * version 2 (`../../../../cas/trees/<id>/rootfs`), absolute before.
   */
  stage1Rootfs: join('stage1', 'rootfs'),
  appDir: (app: string) => join('appsinfo', app),
  appManifest: (app: string) => join('appsinfo', app, 'manifest'),
  appTreeId: (app: string) => join('appsinfo', app, 'treeStoreID'),
  appRootfs: (app: string) => join('appsinfo', app, 'rootfs'),
  appUpper: (app: string) => join('appsinfo', app, 'overlay', 'upper'),
  appWork: (app: string) => join('appsinfo', app, 'overlay', 'work'),
  /** An empty volume: shared by every app that mounts it, removed with the pod. */
  volume: (name: string) => join('volumes', name),
  /** The app's exit status in decimal (128 + signal for a killed app), written by stage1. */
  appExit: (app: string) => join('appsinfo', app, 'exit'),
  /** stage0's mark of each `rkt app start` of an app of a mutable pod, written before the stage1 starts it: its mtime is the run's. */
  appStarted: (app: string) => join('appsinfo', app, 'started'),
  /** rkt's manifest lock (`pod.lck`), which every `rkt app` command of a mutable pod holds while it works. */
  manifestLock: 'pod.lck',
} as const;
