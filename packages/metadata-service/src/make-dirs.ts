import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p` of the socket's directory (`--mds-socket` is the user's path). Node's own recursive mkdir never
 * returns where a parent exists yet refuses new entries with ENOENT (`/proc/x`): it retries the child
 * forever. @rkt/image-store has the same guard (`makeDirs`); this package does not depend on it.
 */
export function makeDirsSync(path: string, mode = 0o755): void {
  try {
    mkdirSync(path, { mode });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return existingDir(path, err);
    if (code !== 'ENOENT' || dirname(path) === path) throw err;
  }
  makeDirsSync(dirname(path), mode);
  try {
    mkdirSync(path, { mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return existingDir(path, err);
    if (code === 'ENOENT') throw new Error(`${dirname(path)} accepts no new directories`, { cause: err });
    throw err;
  }
}

function existingDir(path: string, err: unknown): void {
  if (!statSync(path).isDirectory()) throw new Error(`${path} exists and is not a directory`, { cause: err });
}
