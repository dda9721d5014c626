import { spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, statSync } from 'node:fs';
import { PodError } from './errors.js';

/**
 * Pod locks are flock(2) locks on the pod directory, as rkt's were: the kernel drops them when the
 * last process holding the directory handle dies, so a pod whose processes died shows as exited
 * without anyone cleaning up. Node has no flock, so util-linux `flock` takes the lock on a handle
 * this process opened and shares with it as fd 3: a flock belongs to the open file description, so
 * it stays held here after `flock` exits, and follows the handle into any child given it (stage1).
 */
export function tryLockDir(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PodError('POD_IO', `cannot open ${path}: ${(err as Error).message}`, { subject: path, cause: err });
  }
  const r = spawnSync('flock', ['--exclusive', '--nonblock', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (r.status === 0) return fd;
  closeSync(fd);
  // flock(1) exits 1 when the lock is held elsewhere.
  if (r.status === 1) return undefined;
  const why = r.error?.message ?? r.stderr.toString().trim();
  throw new PodError('POD_IO', `cannot lock ${path}: flock: ${why} (util-linux flock is required)`, { subject: path });
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

/** Whether some process holds a flock on `path`, checked without taking it. Undefined when `path` is gone. */
export function isLocked(path: string, held: Set<string> = heldFlockKeys()): boolean | undefined {
  let st;
  try {
    st = statSync(path, { bigint: true });
  } catch {
    return undefined;
  }
  const dev = st.dev;
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return held.has(`${major}:${minor}:${st.ino}`);
}
