import { realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * The path as the kernel reports it in mountinfo: absolute, with symlinks resolved (`/var/lib/rkt` may be
 * a link to another disk). Parts that do not exist yet (or any more) are kept as given under their nearest
 * existing ancestor, so a half-deleted pod directory still matches its mounts.
 */
export async function canonicalPath(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if ((code !== 'ENOENT' && code !== 'ENOTDIR') || abs === '/') throw cause;
    return join(await canonicalPath(dirname(abs)), basename(abs));
  }
}

/** True when `p` is `root` or lies below it, comparing whole components (`/a/b` is not under `/a/bc`). */
export function isAtOrUnder(p: string, root: string): boolean {
  if (root === '/') return p.startsWith('/');
  return p === root || p.startsWith(`${root}/`);
}
