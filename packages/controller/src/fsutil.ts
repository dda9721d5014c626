import { fsyncDir, writeFileAtomic as writeAtomic } from '@rkt/image-store';
import { basename } from 'node:path';

/**
 * A pod's file, written as the store writes its own (temp + fsync + rename: a reader sees the old content or
 * the new, never a torn file), with the temp a dotfile beside it, `.<name>.<pid>.<random>.tmp`. The directory
 * is not synced here: the caller syncs each directory once after all its files (`syncDir`).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  return writeAtomic(path, data, { tmpName: `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`, syncDir: false });
}

/** Makes a rename durable: the directory entry change is on disk once its directory is synced. */
export const syncDir: (path: string) => Promise<void> = fsyncDir;

export function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}
