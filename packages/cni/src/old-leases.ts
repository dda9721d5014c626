import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The first line of a lease file this package puts in a built-in network's machine-wide directory for an
 * address that a pod of an earlier version still holds in the old place; its second line is that lease's
 * path. Never a pod's UUID, so host-local (which releases the files whose content is a container's ID and
 * interface) leaves it alone.
 */
export const OLD_PLACE_MARK = 'rkt-ts-old-place';

/** host-local's lease files are named by the address; its `lock` and `last_reserved_ip.N` are not leases. */
const LEASE_NAME = /^[0-9a-fA-F.:]+$/;

/**
 * Keeps host-local from handing out, in a built-in network's directory (`newDir`, under /run/rkt/networks),
 * an address that a pod set up by an earlier version still holds in the data directory's (`oldDir`,
 * `<data>/networks/NAME`, where such versions kept the built-ins' leases): each such lease gets a file of
 * the same name in `newDir` (OLD_PLACE_MARK, its path), which host-local takes for a lease; each such file
 * whose lease in the old place is gone (its pod torn down, by any version) is removed first. Run before each
 * ADD of a built-in network, so that what it frees is free for that ADD.
 *
 * Without host-local's lock (flock(2), which Node lacks): a file is created only where none is (O_EXCL, as
 * host-local creates its own), so a lease host-local makes at the same time stays its own, and only files
 * that begin with OLD_PLACE_MARK are ever removed, which host-local never writes.
 */
export function holdOldPlaceLeases(oldDir: string, newDir: string): void {
  if (oldDir === newDir) return;
  mkdirSync(newDir, { recursive: true, mode: 0o755 });
  for (const name of leaseNames(newDir)) {
    const path = join(newDir, name);
    const lines = readLines(path);
    if (lines[0] === OLD_PLACE_MARK && (lines[1] === undefined || !existsSync(lines[1]))) rmSync(path, { force: true });
  }
  for (const name of leaseNames(oldDir)) {
    const old = join(oldDir, name);
    try {
      writeFileSync(join(newDir, name), `${OLD_PLACE_MARK}\r\n${old}`, { flag: 'wx', mode: 0o644 });
    } catch (err) {
      // Already held: by the same old lease (an earlier setup's file), or by a pod of this version, which
      // an earlier version's pod then shares it with since before this ran.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

function leaseNames(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => LEASE_NAME.test(n));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/);
  } catch {
    // Gone since the listing: nothing to remove.
    return [];
  }
}
