import { lstatSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoReason } from '@rkt/image-store';
import { PodError } from './errors.js';
import { isErrno } from './fsutil.js';

interface Stuck {
  readonly path: string;
  readonly err: unknown;
}

/**
 * Removes a pod's directory (unmounted already) and everything in it. Node's `rm`, when it cannot unlink a
 * file (EPERM: a file made immutable with `chattr +i`), takes the file for a directory and reports the
 * ENOTDIR of a scandir of it, which hides the cause: so on any failure what is left is removed entry by entry,
 * which meets the entry that cannot go and says why in its own errno. Whatever can go goes; the directory
 * stays with what could not, for a later gc to try again. Refused in one line naming the entry.
 */
export async function removePodDir(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    return;
  } catch (err) {
    let root: number;
    try {
      root = lstatSync(dir).dev;
    } catch (statErr) {
      if (isErrno(statErr, 'ENOENT')) return;
      throw refusal({ path: dir, err });
    }
    const stuck = removeEach(dir, root);
    // Gone after all (what failed went away meanwhile): nothing to report.
    if (stuck !== undefined) throw refusal(stuck);
  }
}

function refusal({ path, err }: Stuck): PodError {
  // Root gets EPERM on unlink for an immutable or append-only file, and only then: a hint where to look.
  const hint = isErrno(err, 'EPERM') && process.getuid?.() === 0 ? ' (immutable or append-only? see lsattr)' : '';
  return new PodError('POD_IO', `cannot remove ${path}: ${errnoReason(err)}${hint}`, { subject: path, cause: err });
}

/** Removes `path` and what is under it, on this filesystem only; the first entry that stays, with its error. */
function removeEach(path: string, dev: number): Stuck | undefined {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch (err) {
    return isErrno(err, 'ENOENT') ? undefined : { path, err };
  }
  // A mount left under the pod (its unmount failed) is another filesystem: its files are not the pod's to remove.
  if (st.dev !== dev) return { path, err: new Error('is a mount point') };
  if (!st.isDirectory()) {
    try {
      unlinkSync(path);
      return undefined;
    } catch (err) {
      return isErrno(err, 'ENOENT') ? undefined : { path, err };
    }
  }
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (err) {
    return isErrno(err, 'ENOENT') ? undefined : { path, err };
  }
  let first: Stuck | undefined;
  for (const name of names) {
    const stuck = removeEach(join(path, name), dev);
    first ??= stuck;
  }
  if (first !== undefined) return first;
  try {
    rmdirSync(path);
    return undefined;
  } catch (err) {
    return isErrno(err, 'ENOENT') ? undefined : { path, err };
  }
}
