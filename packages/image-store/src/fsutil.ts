import { spawn } from 'node:child_process';
import { closeSync, constants, fsync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StoreError } from './errors.js';
import { uniqueName } from './owner.js';

export async function fsyncPath(path: string, flags = constants.O_RDONLY): Promise<void> {
  const fd = openSync(path, flags);
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/** Makes a rename or a new entry in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  await fsyncPath(dir, constants.O_RDONLY | constants.O_DIRECTORY);
}

/** How `writeFileAtomic` names and places its temp file, and whether it syncs the directory after. */
export interface AtomicWriteOptions {
  /** Where the temp file is made, on the target's filesystem: the target's directory unless given (the store's `tmp/`). */
  readonly tmpDir?: string;
  /** The temp file's name: the store's `write-<pid>.<start time>.<random>` unless given (a pod's files: a dotfile). */
  readonly tmpName?: string;
  /**
   * Whether the target's directory is synced after the rename (the default). A caller that writes several files
   * into one directory syncs it once after all of them instead (a pod's: one fsync, not seven, on `rkt run`).
   */
  readonly syncDir?: boolean;
  /**
   * Whether anything is synced at all (the default). false: the write is only atomic against readers, for a
   * file that means nothing after a reboot (a hold: its process is gone), so that it costs no fsync.
   */
  readonly durable?: boolean;
  /** The file's mode (0644 unless given), set as the temp file is created: a secret is never readable by others, not even briefly. */
  readonly mode?: number;
}

/**
 * temp + fsync + rename: readers see the old content or the new one, never a torn file. The one such write of
 * the store and the pods (@rkt/controller's pod files go through it). `options` as a string is `tmpDir`.
 *
 * Only the fsyncs wait on the thread pool; the temp file (a record, a reference: small) is created, written,
 * closed and renamed synchronously. With Node's own fs/promises each of those was a trip through the pool and
 * back, which in a cold process costs more than the call (seven per file before, two now); the CLI's bundles
 * made them synchronous already (their fs/promises stand-in).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: string | AtomicWriteOptions = {}): Promise<void> {
  const o: AtomicWriteOptions = typeof options === 'string' ? { tmpDir: options } : options;
  const tmp = join(o.tmpDir ?? dirname(path), o.tmpName ?? uniqueName('write'));
  const fd = openSync(tmp, 'wx', o.mode ?? 0o644);
  try {
    writeFileSync(fd, data);
    if (o.durable !== false) await fsyncFd(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (o.durable !== false && o.syncDir !== false) await fsyncDir(dirname(path));
}

/** fsync on the thread pool: the one wait of the writes above. */
function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** rm -rf that a concurrent remover cannot make fail. */
export async function removeTree(path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rm(path, { recursive: true, force: true, maxRetries: 3 });
      return;
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}

/** Flushes the whole filesystem holding `path` (syncfs): one call instead of an fsync per extracted file. */
export async function syncFilesystem(path: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('sync', ['-f', path], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new StoreError('STORE_IO', `sync -f ${path} failed (exit ${code})`, { subject: path }))));
  });
}
