import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { CniError } from './errors.js';

/** Where pods' network namespaces are bound, as `ip netns` keeps its own (`ip netns exec rkt-UUID ...` works). */
export const NETNS_DIR = '/run/netns';

export function netnsPath(uuid: string): string {
  return `${NETNS_DIR}/rkt-${uuid}`;
}

/** umount2(2), `MNT_DETACH` (2) for a lazy unmount; throws with the errno's name as `code`. */
export type Umount = (target: string, flags: number) => void;

/**
 * A new network namespace, kept by a bind mount at `path` (util-linux's `unshare --net=FILE`): it outlives
 * every process in it until removeNetns, so that its networks can be torn down after the pod.
 */
export function createNetns(path: string): void {
  mkdirSync(NETNS_DIR, { recursive: true });
  try {
    closeSync(openSync(path, 'wx', 0o444));
  } catch (err) {
    throw new CniError('CNI_NETNS', `cannot create ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const r = spawnSync('unshare', [`--net=${path}`, 'true'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    rmSync(path, { force: true });
    const why = r.error !== undefined ? ((r.error as NodeJS.ErrnoException).code ?? r.error.message) : r.stderr.trim().split('\n').join(' ') || `exit status ${r.status}`;
    throw new CniError('CNI_NETNS', `cannot create the network namespace ${path} (unshare --net): ${why}`);
  }
}

/**
 * Unmounts (lazily) and removes a namespace's file; one that is gone already is no error. Without `umount`
 * (an addon's umount2), util-linux's `umount --lazy`.
 */
export function removeNetns(path: string, umount?: Umount): void {
  if (umount !== undefined) {
    try {
      umount(path, 2);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'ENOENT') throw new CniError('CNI_NETNS', `cannot unmount ${path}: ${code ?? String(err)}`, { cause: err });
    }
  } else {
    // "not mounted" (32) and a missing file are what is wanted: checked by the removal below.
    spawnSync('umount', ['--lazy', path], { stdio: 'ignore' });
  }
  try {
    rmSync(path, { force: true });
  } catch (err) {
    throw new CniError('CNI_NETNS', `cannot remove ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}
