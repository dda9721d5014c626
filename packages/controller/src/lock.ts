import { closeSync, constants, openSync, readFileSync, statSync } from 'node:fs';
import { flock } from '@rkt/rootfs-overlay/sys';
import { PodError } from './errors.js';

/**
 * Pod locks are flock(2) locks on the pod directory, as rkt's were: the kernel drops them when the
 * last process holding the directory handle dies, so a pod whose processes died shows as exited
 * without anyone cleaning up. A flock belongs to the open file description, so it follows the handle
 * into any child given it (the stage1, as its fd 3). Returns the locked handle, or undefined when the
 * directory is gone or another process holds the lock.
 */
export function tryLockDir(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PodError('POD_IO', `cannot open ${path}: ${(err as Error).message}`, { subject: path, cause: err });
  }
  let taken: boolean;
  try {
    taken = flock(fd, { exclusive: true, nonblocking: true });
  } catch (err) {
    closeSync(fd);
    throw new PodError('POD_IO', `cannot lock ${path}: ${(err as Error).message}`, { subject: path, cause: err });
  }
  if (taken) return fd;
  closeSync(fd);
  return undefined;
}

export function unlock(fd: number): void {
  closeSync(fd);
}

/** The `major:minor:inode` keys of every flock lock held on this machine (waiters excluded), from /proc/locks. */
export function heldFlockKeys(): Set<string> {
  const keys = new Set<string>();
  for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 1234 fd:00:5678 0 EOF"; a blocked waiter reads "1: -> FLOCK ...".
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'FLOCK' || f[5] === undefined) continue;
    const [maj, min, ino] = f[5].split(':');
    if (maj === undefined || min === undefined || ino === undefined) continue;
    keys.add(`${parseInt(maj, 16)}:${parseInt(min, 16)}:${ino}`);
  }
  return keys;
}

/**
 * Whether some process holds a flock on `path`, checked without taking it. Undefined when `path` is gone. The
 * locks (`held`, else read now) must be read after the path's stat: a pod is locked before it is moved into
 * its state directory, so locks read before could miss the lock of the directory found there.
 */
export function isLocked(path: string, held?: Set<string>): boolean | undefined {
  const key = lockKey(path);
  return key === undefined ? undefined : (held ?? heldFlockKeys()).has(key);
}

/** The `major:minor:inode` key under which /proc/locks lists a lock on `path`; undefined when it is gone. */
export function lockKey(path: string): string | undefined {
  let st;
  try {
    st = statSync(path, { bigint: true });
  } catch {
    return undefined;
  }
  const dev = st.dev;
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}:${st.ino}`;
}
