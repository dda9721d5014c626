import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * `mkdir -p`, for paths users give. Node's own `mkdir(path, { recursive: true })` never returns where a
 * parent exists yet refuses new entries with ENOENT (`/proc/out`: mkdir fails with ENOENT, the parent `/proc`
 * exists, so it tries the child again, at 100% CPU). Here a child that fails with ENOENT once its parent
 * exists is an error. Returns the first directory it made, as the recursive mkdir does, or `undefined`.
 */
export async function makeDirs(path: string, mode = 0o755): Promise<string | undefined> {
  try {
    await mkdir(path, { mode });
    return path;
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return existingDir(path, err);
    if (errnoOf(err) !== 'ENOENT' || dirname(path) === path) throw err;
  }
  const first = await makeDirs(dirname(path), mode);
  try {
    await mkdir(path, { mode });
  } catch (err) {
    // A concurrent maker got there first.
    if (errnoOf(err) === 'EEXIST') return existingDir(path, err).then(() => first);
    if (errnoOf(err) === 'ENOENT') {
      throw Object.assign(new Error(`ENOENT: ${dirname(path)} accepts no new directories, mkdir '${path}'`), { code: 'ENOENT', syscall: 'mkdir', path });
    }
    throw err;
  }
  return first ?? path;
}

async function existingDir(path: string, err: unknown): Promise<undefined> {
  if ((await stat(path)).isDirectory()) return undefined;
  // EEXIST, as the recursive mkdir says of a file in the way.
  throw Object.assign(new Error(`EEXIST: exists and is not a directory, mkdir '${path}'`), { code: 'EEXIST', syscall: 'mkdir', path, cause: err });
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * What a system error says without its code and the syscall and path Node appends (`EACCES: permission
 * denied, mkdir '/x'` -> `permission denied`), for messages that name the path themselves.
 */
export function errnoReason(err: unknown): string {
  const message = err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err);
  const code = errnoOf(err);
  if (code === undefined) return message;
  // Node's words for EISDIR ("illegal operation on a directory") leave the user guessing.
  if (code === 'EISDIR') return 'is a directory';
  return message.replace(/^[A-Z][A-Z0-9_]*: /, '').replace(/, [a-z_]+(?: '.*)?$/, '');
}
