import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { openPrivateView, type PrivateViewSource } from '@rkt/rootfs-overlay';
import { chooseApp } from './choose-app.js';
import { PodError } from './errors.js';
import { readPodInfo, type PodAppInfo, type PodInfo } from './info.js';
import { appLower } from './data-dir-paths.js';
import { POD_FILES } from './layout.js';
import { shareLockDir, unlock } from './lock.js';
import { findPod, podDetails, type PodSnapshot } from './pods.js';

export interface ExitedAppRootfsOptions {
  readonly dataDir: string;
  /** A UUID or a unique prefix of one. */
  readonly uuid: string;
  /** Required when the pod has several apps. */
  readonly app?: string;
}

/** An exited pod's app, its root filesystem open for reading. */
export interface ExitedAppRootfs {
  readonly uuid: string;
  readonly app: string;
  /** The pod directory when the view was made (gc may move the pod to exited-garbage/ meanwhile). */
  readonly podDir: string;
  /** The app's image manifest as the pod holds it (`appsinfo/<app>/manifest`). */
  readonly imageManifest: Buffer;
  /** The root filesystem as the app left it, read-only, without the pod's volumes: a directory path. */
  readonly rootfs: string;
  /** Ends the view (its mount lives only in a helper's private mount namespace). */
  close(): Promise<void>;
}

/**
 * Opens the root filesystem of an app of an exited pod (exited, or exited garbage: marked by gc, not yet
 * collected), as rkt's export read it: the image's rendered tree merged with the files the app wrote and
 * without those it deleted. It is mounted afresh, in a private mount namespace (`openPrivateView`), however
 * the pod left it, and the pod is kept where it is meanwhile (its lock held shared):
 * - the app's root still mounted (an exited pod gc has not reached): that mount alone, bound without the
 *   volumes mounted in it;
 * - an overlay root no longer mounted (`rkt gc --mark-only` moved it, or the host rebooted): the pod's upper
 *   dir over the image's tree, merged read-only as two lower layers, so the upper's whiteouts hide what the
 *   app deleted and no whiteout is ever seen;
 * - a copied root (`--no-overlay`): the copy, without the volumes mounted in it.
 * Errors: POD_BAD_UUID, POD_NOT_FOUND, POD_AMBIGUOUS, POD_STATE (not exited), POD_APP, and the view's
 * ROOTFS_MOUNT.
 */
export async function openExitedAppRootfs(o: ExitedAppRootfsOptions): Promise<ExitedAppRootfs> {
  let pod = findPod(o.dataDir, o.uuid);
  for (let attempt = 0; ; attempt++) {
    if (pod.state !== 'exited' && pod.state !== 'exited garbage') {
      throw new PodError('POD_STATE', `pod ${pod.uuid} is not exited (it is ${pod.state}): only an exited pod can be exported`, { subject: pod.uuid });
    }
    // Shared, so that gc can neither move nor delete the pod while it is read, and its state still reads as
    // exited. Not taken, or taken on a directory gc moved meanwhile: found again where it went.
    const lock = shareLockDir(pod.path);
    if (lock === undefined || !existsSync(pod.path)) {
      if (lock !== undefined) unlock(lock);
      if (attempt >= 5) throw new PodError('POD_LOCKED', `pod ${pod.uuid} is locked by another rkt process (gc or rm)`, { subject: pod.uuid });
      pod = findPod(o.dataDir, pod.uuid);
      continue;
    }
    try {
      const opened = await openApp(o.dataDir, pod, o.app);
      return {
        ...opened,
        async close() {
          try {
            await opened.close();
          } finally {
            unlock(lock);
          }
        },
      };
    } catch (err) {
      unlock(lock);
      throw err;
    }
  }
}

async function openApp(dataDir: string, pod: PodSnapshot, asked: string | undefined): Promise<ExitedAppRootfs> {
  const info = await readPodInfo(pod.path);
  // The pod's apps are its manifest's, as every command names them; the record has what the view needs.
  const name = chooseApp(pod.uuid, (await podDetails(pod)).apps.map((a) => a.name), asked, 'export');
  const app = info.apps.find((a) => a.name === name);
  // An app whose `rkt app add` was killed before stage0 recorded it: in the manifest, never set up to run.
  if (app === undefined) throw new PodError('POD_APP', `app ${JSON.stringify(name)} of pod ${pod.uuid} was added but never set up (its rkt app add was cut short): nothing to export`, { subject: name });
  const imageManifest = readFileSync(join(pod.path, POD_FILES.appManifest(name)));
  // Canonical: the helper mounts on it by this path.
  const rootfs = realpathSync.native(join(pod.path, POD_FILES.appRootfs(name)));
  const view = await openPrivateView({ source: viewSource(pod.path, info, app, rootfs, dataDir), at: rootfs });
  return { uuid: pod.uuid, app: name, podDir: pod.path, imageManifest, rootfs: view.root, close: () => view.close() };
}

function viewSource(podDir: string, info: PodInfo, app: PodAppInfo, rootfs: string, dataDir: string): PrivateViewSource {
  // A root still mounted, or a copy (--no-overlay, or the fallback of a data dir without overlay, which
  // removes the upper dir), shows the tree: bound as it is. An overlay root no longer mounted leaves its
  // mount point empty.
  const upper = join(podDir, POD_FILES.appUpper(app.name));
  if (info.rootfsMode === 'auto' && existsSync(upper) && readdirSync(rootfs).length === 0) {
    return { kind: 'layers', layers: [realpathSync.native(upper), appLower(dataDir, info, app)] };
  }
  return { kind: 'dir', dir: rootfs };
}
