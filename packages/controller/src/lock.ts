import { closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import { flock, spawnProcess, sysAvailable } from '@rkt/rootfs-overlay/sys';
import { PodError } from './errors.js';

/**
 * Pod locks are flock(2) locks on the pod directory, as rkt's were: the kernel drops them when the
 * last process holding the directory handle dies, so a pod whose processes died shows as exited
 * without anyone cleaning up. A flock belongs to the open file description, so it follows the handle
 * into any child given it (the stage1, as its fd 3). Returns the locked handle, or undefined when the
 * directory is gone or another process holds the lock.
 *
 * Only holders take the lock, exclusively; `isLocked` checks it by taking it shared for an instant. A
 * check can thus hold it when a holder tries: it is tried again, with growing pauses, for up to
 * `patienceMs` (a check holds it for microseconds, longer only if its process is preempted right then).
 * 0 for a caller to whom a lock that is busy only means "not now" (gc).
 */
export function tryLockDir(path: string, patienceMs = LOCK_PATIENCE_MS): number | undefined {
  const r = lockDirAt(path, patienceMs);
  return typeof r === 'number' ? r : undefined;
}

/**
 * `tryLockDir`, saying why there is no lock: 'busy' (another process holds it), or 'gone' (nothing is at `path`
 * any more). The lock is of the directory opened at `path`: one moved or deleted while this waited for it is
 * let go and 'gone', not returned. A remover that waited out another's deletion of a pod otherwise got the
 * deleted directory's lock, went on "removing" it and said it had (two `rkt rm` both succeeded).
 */
export function lockDirAt(path: string, patienceMs = LOCK_PATIENCE_MS): number | 'busy' | 'gone' {
  const fd = openPodDir(path);
  if (fd === undefined) return 'gone';
  try {
    for (let waited = 0, pause = 0.05; ; waited += pause, pause *= 2) {
      if (flock(fd, { exclusive: true, nonblocking: true })) {
        if (stillAt(fd, path)) return fd;
        closeSync(fd);
        return 'gone';
      }
      if (waited >= patienceMs) break;
      sleepMs(Math.min(pause, patienceMs - waited));
    }
  } catch (err) {
    closeSync(fd);
    throw new PodError('POD_IO', `cannot lock ${path}: ${(err as Error).message}`, { subject: path, cause: err });
  }
  closeSync(fd);
  return 'busy';
}

/** A handle on the pod directory `path` to lock, or undefined when nothing is there. */
function openPodDir(path: string): number | undefined {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PodError('POD_IO', `cannot open ${path}: ${(err as Error).message}`, { subject: path, cause: err });
  }
}

/**
 * Whether the directory open on `fd` is still the one at `path`: asked even of a lock taken at once, since this
 * process may have been preempted between its open and its flock for as long as another took a deletion through.
 */
function stillAt(fd: number, path: string): boolean {
  const held = fstatSync(fd);
  if (held.nlink === 0) return false;
  try {
    const there = statSync(path);
    return there.ino === held.ino && there.dev === held.dev;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw err;
  }
}

/** How long a holder waits out a lock that may be only a check's (`tryLockDir`). */
export const LOCK_PATIENCE_MS = 50;

let sleeper: Int32Array | undefined;
/** Blocks this thread for `ms` (fractions too): the lock attempts above are synchronous. */
function sleepMs(ms: number): void {
  sleeper ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * Whether some process holds the lock on the pod directory `path`; undefined when it is gone. Checked by
 * taking the lock shared, without waiting, and letting it go at once: every holder takes it exclusively,
 * so a shared lock is refused exactly while one holds it. (Reading /proc/locks instead took the kernel's
 * file-lock rwsem for writing, which waits for an RCU grace period: 5-15 ms of every `rkt list`, `status`,
 * `stop` or `rm` here, during which every flock(2) on the machine waited too.)
 *
 * Check after finding the directory where it is: a pod is locked before it is moved into its state
 * directory, so one found there is still locked unless its holder has ended.
 */
export function isLocked(path: string): boolean | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new PodError('POD_IO', `cannot open ${path}: ${(err as Error).message}`, { subject: path, cause: err });
  }
  try {
    return !flock(fd, { exclusive: false, nonblocking: true });
  } catch (err) {
    throw new PodError('POD_IO', `cannot check the lock of ${path}: ${(err as Error).message}`, { subject: path, cause: err });
  } finally {
    // Drops the shared lock, if taken: it belongs to this open file description alone.
    closeSync(fd);
  }
}

/**
 * Takes the lock on the pod directory `path` shared, without waiting, for a reader that must keep the pod
 * where it is (`rkt export`): while it is held no holder can take the lock (gc's mark, sweep and deletion,
 * `rkt rm`), and yet `isLocked`, a shared lock too, is not refused, so the pod's state reads as before.
 * Returns the handle, or undefined when the directory is gone (moved meanwhile included) or a holder has the lock.
 */
export function shareLockDir(path: string): number | undefined {
  const fd = openPodDir(path);
  if (fd === undefined) return undefined;
  try {
    if (flock(fd, { exclusive: false, nonblocking: true }) && stillAt(fd, path)) return fd;
  } catch (err) {
    closeSync(fd);
    throw new PodError('POD_IO', `cannot lock ${path}: ${(err as Error).message}`, { subject: path, cause: err });
  }
  closeSync(fd);
  return undefined;
}

export function unlock(fd: number): void {
  closeSync(fd);
}

/**
 * Waits, for up to `timeoutMs` (Infinity: for as long as it takes), until no process holds the lock on the pod
 * directory `path`: 'released' once none does (a running pod has exited, or its holder has let it go), 'timeout',
 * 'gone' when nothing is at `path`, or undefined when this machine cannot wait so (no addon, no util-linux), for
 * the caller to poll instead. rkt waited for a running pod's end by taking its lock.
 *
 * flock(2) has no timeout and would block Node's thread (or, on the pool, a thread that Node's exit then
 * joins), so the wait is util-linux's `flock --shared [--wait S] 3` on this process's handle of the directory:
 * a shared lock, as `isLocked`'s, which every holder's exclusive lock refuses and which is let go (this
 * process's handle closed) as soon as it is had. `setpriv --pdeathsig KILL` ends the child with this process,
 * whatever ends it, and its stdio is /dev/null, never a pipe of this process's reader: no process is left
 * behind.
 */
export async function waitUnlocked(path: string, timeoutMs: number): Promise<'released' | 'timeout' | 'gone' | undefined> {
  if (!sysAvailable()) return undefined;
  const fd = openPodDir(path);
  if (fd === undefined) return 'gone';
  let nul: number | undefined;
  try {
    nul = openSync('/dev/null', constants.O_RDWR);
    const wait = Number.isFinite(timeoutMs) ? ['--wait', (Math.max(0, timeoutMs) / 1000).toFixed(3)] : [];
    let child: ReturnType<typeof spawnProcess>;
    try {
      child = spawnProcess({ file: 'setpriv', argv: ['setpriv', '--pdeathsig', 'KILL', 'flock', '--shared', ...wait, '3'], fds: [nul, nul, nul, fd] });
    } catch {
      return undefined;
    }
    closeSync(nul);
    nul = undefined;
    const { status } = await child.exited;
    // flock(1): 0 once it has the lock, 1 when --wait passed (its conflict exit code); anything else (its
    // usage or I/O errors, setpriv's or an exec's failure) says nothing of the lock.
    return status === 0 ? 'released' : status === 1 && wait.length > 0 ? 'timeout' : undefined;
  } finally {
    if (nul !== undefined) closeSync(nul);
    // Lets go of the shared lock flock(1) took on this handle's open file description.
    closeSync(fd);
  }
}
