import { constants } from 'node:fs';
import { access, link, open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AppcError } from '../errors.js';
import { toAppcError } from './io-errors.js';
import { removeDeadWriterTemps, writerTempPath } from './writer-temp.js';

/**
 * Creates `path` all at once: `fill` writes a temporary file beside it (`writerTempPath`), which is fsynced and
 * then renamed over `path` (or hard-linked to it when `overwrite` is false, so an existing file is never
 * replaced even by a racing writer). On any failure the temporary file is removed and `path` is untouched; the
 * temp files that writers killed part way left in the directory are removed once this one's is made.
 */
export async function writeFileAtomically<T>(path: string, overwrite: boolean, fill: (fh: FileHandle) => Promise<T>): Promise<T> {
  if (!overwrite && (await exists(path))) {
    throw new AppcError('APPC_EXISTS', `${path}: already exists (overwrite it with --overwrite)`, { source: path });
  }
  const dir = dirname(path);
  const tmp = writerTempPath(path);
  let fh: FileHandle | undefined;
  let placed = false;
  try {
    try {
      fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    } catch (err) {
      // The temporary name means nothing to the user: the directory it was to go in does.
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? `directory ${dir} does not exist` : code === 'EACCES' ? `cannot create files in ${dir}: permission denied` : undefined;
      if (why !== undefined) throw new AppcError('APPC_IO', `${path}: ${why}`, { source: path, cause: err });
      throw err;
    }
    // Only now: the directory exists and takes files. Before the fill, so a big write has their space.
    await removeDeadWriterTemps(dir);
    const result = await fill(fh);
    await fh.sync();
    await fh.close();
    fh = undefined;
    if (overwrite) {
      await rename(tmp, path);
      placed = true;
    } else {
      try {
        await link(tmp, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new AppcError('APPC_EXISTS', `${path}: already exists (overwrite it with --overwrite)`, { source: path });
        }
        throw err;
      }
    }
    await syncDir(dir);
    return result;
  } catch (err) {
    throw toAppcError(err, path);
  } finally {
    await fh?.close().catch(() => {});
    if (!placed) await unlink(tmp).catch(() => {});
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Makes the new directory entry itself durable. */
async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
