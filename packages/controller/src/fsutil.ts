import { fsyncDir, writeFileAtomic as writeAtomic } from '@rkt/image-store';
import { closeSync, fsync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/** The temp name of a pod's file while it is written: a dotfile beside it, `.<name>.<pid>.<random>.tmp`. */
function tempName(name: string): string {
  return `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
}

/**
 * A pod's file, written as the store writes its own (temp + fsync + rename: a reader sees the old content or
 * the new, never a torn file), with the temp a dotfile beside it. The directory is not synced here: the caller
 * syncs each directory once after all its files (`syncDir`).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  return writeAtomic(path, data, { tmpName: tempName(basename(path)), syncDir: false });
}

/** A pod's file written and being synced under its temp name, to be given its name later or removed. */
export interface StagedFile {
  /** Renames the temp to the file's name once its fsync is done (the directory is the caller's to sync after). */
  place(): Promise<void>;
  /** Removes the temp: the file is not to appear. */
  discard(): void;
}

/**
 * The first half of `writeFileAtomic`, begun before the file may appear: the temp is written now and its fsync
 * goes on meanwhile, so that whoever places the file later waits for the rename alone. `rkt run`'s `started`:
 * synced while the rootfs is mounted, named once it is there.
 */
export function stageFile(dir: string, name: string, data: string): StagedFile {
  const tmp = join(dir, tempName(name));
  const fd = openSync(tmp, 'wx', 0o644);
  let synced: Promise<void>;
  try {
    writeFileSync(fd, data);
    synced = new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve()))).finally(() => closeSync(fd));
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  // Awaited by place; one that fails before it is must not count as unhandled meanwhile.
  synced.catch(() => {});
  return {
    async place() {
      try {
        await synced;
        renameSync(tmp, join(dir, name));
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
    },
    discard() {
      rmSync(tmp, { force: true });
    },
  };
}

/** Makes a rename durable: the directory entry change is on disk once its directory is synced. */
export const syncDir: (path: string) => Promise<void> = fsyncDir;

export function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}
