import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RootfsError } from './errors.js';

/**
 * flock(2) and mount(2), which Node lacks, from this package's Node-API addon (native/sys.c). Each used
 * to be a fork and exec of util-linux's flock or mount: a fork of a Node process copies its page tables
 * (3-9 ms here) and mount(8) loads libmount on top, on the path of every `rkt run`.
 *
 * Failures are Errors with the errno's name as `code` (`EINVAL`, `EBUSY`...), as Node's fs errors.
 */
interface SysAddon {
  flock(fd: number, exclusive: boolean, nonblocking: boolean): boolean;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
}

const ADDON = 'dist/sys.node';
let addon: SysAddon | undefined;

/**
 * Where the addon is, from this code's own file: this package's dist/ (its built files) or src/ (its
 * source, under vitest), or a bundle of it elsewhere (stage0's) that finds the package in a
 * node_modules above. Not through the package's exports: resolving them loads Node's ES module
 * resolver, ~5 ms of every `rkt run`.
 */
function addonPath(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'sys.node'), join(here, '..', ADDON)];
  for (let dir = here; ; dir = dirname(dir)) {
    candidates.push(join(dir, 'node_modules', '@rkt', 'rootfs-overlay', ADDON));
    if (dirname(dir) === dir) break;
  }
  return candidates.find((c) => existsSync(c));
}

function sys(): SysAddon {
  if (addon === undefined) {
    const path = addonPath();
    try {
      if (path === undefined) throw new Error(`no ${ADDON} of @rkt/rootfs-overlay was found from ${fileURLToPath(import.meta.url)}`);
      addon = createRequire(import.meta.url)(path) as SysAddon;
    } catch (cause) {
      throw new RootfsError(
        'ROOTFS_TOOL_MISSING',
        `rkt-ts's native addon cannot be loaded (${(cause as Error).message.split('\n')[0]}); "npm run build" builds it with gcc and Node's headers`,
        { cause },
      );
    }
  }
  return addon;
}

/**
 * Takes a flock(2) lock on an open file or directory: true when taken, false when another open file
 * description holds a conflicting one (with `nonblocking`). The lock belongs to the open file
 * description, so it follows the fd into children given it and is dropped when the last copy closes.
 */
export function flock(fd: number, o: { exclusive: boolean; nonblocking: boolean }): boolean {
  return sys().flock(fd, o.exclusive, o.nonblocking);
}

/** mount(2) as is (flags: MS_* numbers); `null` for what the kind of mount does not use. */
export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
  sys().mount(source, target, fstype, flags, data);
}
