import { stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type { Store } from '@rkt/image-store';
import { CliError } from '../../errors.js';

/** Whether an image argument names a file: rkt took anything that exists on disk, or looks like a path, as one. */
async function isFile(arg: string, cwd: string): Promise<boolean> {
  if (arg.startsWith('/') || arg.startsWith('./') || arg.startsWith('../') || arg.endsWith('.aci')) return true;
  return (await stat(resolvePath(cwd, arg)).catch(() => undefined))?.isFile() === true;
}

/**
 * Imports an ACI file into the store, or finds it there from an earlier import of the same unchanged
 * file (the file:// URL, size and mtime are the cache key, as a download's URL and ETag are).
 */
export async function importFile(store: Store, path: string): Promise<string> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw new CliError('CLI_BAD_ARGS', `image file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
  const url = `file://${path}`;
  const etag = `${st.size}-${st.mtimeMs}-${st.ino}`;
  const cached = await store.getRemote(url);
  if (cached !== undefined && cached.etag === etag && (await store.get(cached.imageId)) !== undefined) return cached.imageId;
  const { id } = await store.importAci(path, { source: path, remote: { url, etag } });
  return id;
}

/**
 * The image ID an `IMAGE` argument of run/prepare names: an ACI file (imported; its signature is not
 * checked yet, so `--insecure-options=image` is required, as rkt required a signature otherwise),
 * an image ID or unique prefix, or a name[:version] in the store.
 */
export async function resolveImageArg(store: Store, arg: string, o: { cwd: string; skipImageCheck: boolean }): Promise<string> {
  if (await isFile(arg, o.cwd)) {
    const path = resolvePath(o.cwd, arg);
    if (!o.skipImageCheck) {
      throw new CliError(
        'CLI_BAD_ARGS',
        `image ${arg}: signature verification of image files is not implemented yet; pass --insecure-options=image to use it unverified`,
      );
    }
    return importFile(store, path);
  }
  return (await store.resolve(arg)).id;
}
