import { createRequire } from 'node:module';
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

/** Resolved through the package's exports, so that it is found from this source and from any bundle of it. */
const ADDON = '@rkt/rootfs-overlay/sys.node';
let addon: SysAddon | undefined;

function sys(): SysAddon {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON) as SysAddon;
    } catch (cause) {
      throw new RootfsError(
        'ROOTFS_TOOL_MISSING',
        `rkt-ts's native addon ${ADDON} cannot be loaded (${(cause as Error).message.split('\n')[0]}); "npm run build" builds it with gcc and Node's headers`,
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
