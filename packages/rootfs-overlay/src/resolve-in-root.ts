import { lstat, mkdir, readlink, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RootfsError } from './errors.js';

/** Linux's own limit on symlinks followed in one lookup (MAXSYMLINKS); ELOOP beyond it. */
const MAX_SYMLINKS = 40;

export interface ResolveInRootOptions {
  /**
   * Create what is missing: every missing directory on the way, and the last component as a directory
   * (`'dir'`) or an empty file (`'file'`, a bind mount of a file needs a file to land on). Without it a
   * missing component is an error.
   */
  readonly create?: 'dir' | 'file';
  /**
   * Without `create`: a missing component ends the walk without an error, as `kind: 'missing'` with the
   * `hostPath` that `create` would make (the rest of the path below the last object found, `..` applied),
   * so that a caller can check where a file would land (a volume, say) before making anything.
   */
  readonly allowMissing?: boolean;
}

export interface ResolvedInRoot {
  /** The host path of the object, below `root` and free of symlinks. */
  readonly hostPath: string;
  /** The path as seen from inside the root (`/` joined components), for messages. */
  readonly inRoot: string;
  /** `'missing'` only with `allowMissing`: the object does not exist, `hostPath` is where it would be made. */
  readonly kind: 'dir' | 'file' | 'other' | 'missing';
}

/**
 * Resolves `path` as a process chrooted into `root` would see it (openat2's RESOLVE_IN_ROOT): absolute
 * symlinks restart at `root`, relative ones at the directory holding them, and `..` never climbs above
 * `root`. The walk is done component by component with lstat and readlink, never letting the host's
 * kernel follow a link of the image, so a target `/data` that the image makes a link to `/../../etc` ends
 * at `<root>/etc`, not the host's `/etc`.
 *
 * Sound only while nothing else changes the tree under `root` between this walk and the use of its result,
 * which holds for an app's rootfs before its stage1 starts. A final realpath check catches the rest.
 *
 * ```ts
 * const { hostPath } = await resolveInRoot(appRootfs, '/var/data', { create: 'dir' });
 * ```
 */
export async function resolveInRoot(root: string, path: string, o: ResolveInRootOptions = {}): Promise<ResolvedInRoot> {
  const base = await realpath(root);
  const fail = (why: string, at: string): never => {
    throw new RootfsError('ROOTFS_BAD_INPUT', `path ${JSON.stringify(path)} in ${base}: ${why} (at ${JSON.stringify(at)})`, { path: join(base, at), reason: why, inRoot: at });
  };
  const resolved: string[] = [];
  const todo = split(path);
  let links = 0;
  let kind: ResolvedInRoot['kind'] = 'dir';
  // With allowMissing: how many components of `resolved` (from the end) are not there.
  let missing = 0;
  const shown = (): string => `/${resolved.join('/')}`;
  const below = (name: string): string => `/${[...resolved, name].join('/')}`;

  while (todo.length > 0) {
    const name = todo.shift() as string;
    if (kind !== 'dir' && kind !== 'missing') fail('not a directory', shown());
    if (name === '..') {
      resolved.pop();
      if (missing > 0) missing--;
      kind = missing > 0 ? 'missing' : 'dir';
      continue;
    }
    if (kind === 'missing') {
      // Below a missing directory there is nothing to look at: what create would make, lexically.
      resolved.push(name);
      missing++;
      continue;
    }
    const host = join(base, ...resolved, name);
    const st = await lstat(host).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw new RootfsError('ROOTFS_BAD_INPUT', `path ${JSON.stringify(path)} in ${base}: ${err.message}`, { path: host, cause: err });
    });
    if (st === undefined) {
      if (o.create === undefined && o.allowMissing === true) {
        resolved.push(name);
        missing = 1;
        kind = 'missing';
        continue;
      }
      if (o.create === undefined) fail('no such file or directory', below(name));
      const last = todo.length === 0;
      // mkdir and an O_EXCL create never follow a link planted meanwhile: they fail with EEXIST instead.
      if (last && o.create === 'file') await writeFile(host, '', { flag: 'wx', mode: 0o644 });
      else await mkdir(host, { mode: 0o755 });
      resolved.push(name);
      kind = last && o.create === 'file' ? 'file' : 'dir';
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) fail('too many levels of symbolic links', below(name));
      const target = await readlink(host);
      if (target.startsWith('/')) resolved.length = 0;
      todo.unshift(...split(target));
      kind = 'dir';
      continue;
    }
    resolved.push(name);
    kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  }

  const hostPath = join(base, ...resolved);
  if (o.create !== undefined && resolved.length === 0) fail('resolves to the root itself', '/');
  if (o.create !== undefined && kind !== o.create) {
    fail(o.create === 'dir' ? 'exists and is not a directory' : kind === 'dir' ? 'exists and is a directory' : 'exists and is not a regular file', shown());
  }
  // Defence in depth: the kernel's own resolution of the result (of what exists of it) must agree with the walk.
  const found = join(base, ...resolved.slice(0, resolved.length - missing));
  const check = await realpath(found);
  if (check !== found) fail(`resolves on the host to ${check}, not where the walk ended`, shown());
  return { hostPath, inRoot: shown(), kind };
}

function split(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}
