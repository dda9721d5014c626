import { RootfsError } from './errors.js';
import { loadSysAddon, type OpenedPty, type SysAddon } from './sys-addon.js';

export type { OpenedPty } from './sys-addon.js';

/**
 * flock(2), mount(2), umount2(2) and posix_spawn(3), which Node lacks, from this package's Node-API addon (native/sys.c). Each used
 * to be a fork and exec of util-linux's flock or mount: a fork of a Node process copies its page tables
 * (3-9 ms here) and mount(8) loads libmount on top, on the path of every `rkt run`.
 *
 * Failures are Errors with the errno's name as `code` (`EINVAL`, `EBUSY`...), as Node's fs errors.
 */
function sys(): SysAddon {
  try {
    return loadSysAddon();
  } catch (cause) {
    throw new RootfsError(
      'ROOTFS_TOOL_MISSING',
      `rkt-ts's native addon cannot be loaded (${(cause as Error).message.split('\n')[0]}); "npm run build" builds it with gcc and Node's headers`,
      { cause },
    );
  }
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

/** umount2(2) flags. */
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;
export const UMOUNT_NOFOLLOW = 8;

/** umount2(2) as is: `MNT_DETACH` for a lazy unmount. */
export function umount(target: string, flags = 0): void {
  sys().umount(target, flags);
}

/**
 * An idmapped bind mount of `source` (that mount only, not its submounts) at `target`: a file owned by k on
 * the file system appears owned by `shift + k` there for k < `count` (others as the overflow ID), and a file
 * made through it by `shift + k` is stored as k. The way a pod in a user namespace mapping its 0 to `shift`
 * sees a tree of the store as the image has it, without a chown of the shared tree. The source's file
 * system must support it (ext4, xfs, btrfs, tmpfs: yes; overlayfs: EINVAL), and a file made through it by
 * an ID outside the shifted range fails (EOVERFLOW): an overlay whose upper is such a mount cannot make its
 * work directory as the host's root, so only an overlay's lower layers are mounted so.
 */
export function idmapBind(source: string, target: string, shift: number, count: number): void {
  sys().idmapBind(source, target, shift, count);
}

/**
 * Whether the addon loads here. Code of this package bundled elsewhere (a stage1 image's entrypoints)
 * finds no addon beside it, and falls back to the util-linux tools.
 */
export function sysAvailable(): boolean {
  try {
    sys();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts libuv's thread pool now, from a thread of the addon's own, and returns at once (native/sys.c says why):
 * for a command about to write and fsync files, whose first fsync would otherwise make the pool's threads while
 * the main thread waits. Once per process; nothing where the addon does not load. The process waits for that
 * thread at its exit, before Node shuts the pool down: a shutdown during the pool's start aborted the process.
 */
export function warmThreadPool(): void {
  let addon: SysAddon;
  try {
    addon = loadSysAddon();
  } catch {
    // No addon: the pool starts at its first use, as Node's always does.
    return;
  }
  if (addon.warmThreadPool()) process.once('exit', () => addon.joinThreadPoolWarmer());
}

export interface SpawnOptions {
  /** The executable: a path, or a name looked up in PATH. */
  readonly file: string;
  /** Its argv, argv[0] included. */
  readonly argv: readonly string[];
  /** Its environment; this process's when absent. */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** The child's fd i is this process's `fds[i]`: `[0, 1, 2]` shares stdio. */
  readonly fds: readonly number[];
  /** setsid(2) in the child. */
  readonly newSession?: boolean;
  /** A process group of its own (as child_process's `detached`, without a new session). */
  readonly newProcessGroup?: boolean;
}

export interface SpawnedProcess {
  readonly pid: number;
  /** Settles once the child has exited and been reaped: its exit code, or 128 + the signal that killed it. */
  readonly exited: Promise<{ readonly status: number; readonly signal?: number }>;
}

/**
 * Starts a process with posix_spawn(3) and reaps it when SIGCHLD comes. On the path of every `rkt run`:
 * posix_spawn shares this process's memory until the exec (CLONE_VFORK) where Node's child_process forks
 * it (3-9 ms), and child_process's module loads net and the streams (~4 ms). The child gets default signal
 * actions and an empty signal mask. An exec failure (ENOENT, EACCES) throws, with the errno's name as `code`.
 */
export function spawnProcess(o: SpawnOptions): SpawnedProcess {
  const env = o.env === undefined ? null : Object.entries(o.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  const addon = sys();
  const pid = addon.spawn(o.file, [...o.argv], env, o.cwd ?? null, [...o.fds], o.newSession ?? false, o.newProcessGroup ?? false);
  const exited = new Promise<{ status: number; signal?: number }>((resolve, reject) => children.set(pid, { resolve, reject }));
  if (keepAlive === undefined) {
    process.on('SIGCHLD', reapChildren);
    // Node's signal listeners do not keep a process alive; a waiting child must. Also a fallback should a
    // SIGCHLD ever go unseen (a child that exited before the listener was there is reaped just below).
    keepAlive = setInterval(reapChildren, 1000);
  }
  reapChildren();
  return { pid, exited };
}

export type ExecOptions = Omit<SpawnOptions, 'newSession' | 'newProcessGroup'>;

/**
 * Replaces this process with another program (execve(2)), as rkt's stage0 replaced itself with the stage1's
 * run entrypoint; Node 20 has no `process.execve` (23.11+). The program gets `fds` as `spawnProcess`'s child
 * does, default signal actions and an empty signal mask. Nothing of this process runs afterwards: no 'exit'
 * listener, no pending write or timer. Returns only by throwing (ENOENT, EACCES... as `code`), with this
 * process as it was.
 */
export function execProcess(o: ExecOptions): never {
  const env = o.env === undefined ? null : Object.entries(o.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  return sys().exec(o.file, [...o.argv], env, o.cwd ?? null, [...o.fds]);
}

/**
 * Children of spawnProcess not yet reaped. They are reaped on SIGCHLD (waitpid with WNOHANG for each),
 * rather than by a thread of Node's pool blocked in waitpid: starting the pool cost a first `rkt run` about
 * a millisecond, and a systemd pod held two of the pool's four threads for its whole life. child_process's
 * children are libuv's, which reaps only its own: the two never take each other's.
 */
const children = new Map<number, { resolve: (r: { status: number; signal?: number }) => void; reject: (err: Error) => void }>();
let keepAlive: NodeJS.Timeout | undefined;

function reapChildren(): void {
  for (const [pid, child] of children) {
    let r: [number | undefined, number | undefined] | undefined;
    try {
      r = sys().reap(pid);
    } catch (err) {
      children.delete(pid);
      child.reject(err as Error);
      continue;
    }
    if (r === undefined) continue;
    children.delete(pid);
    const [code, signal] = r;
    child.resolve(signal !== undefined ? { status: 128 + signal, signal } : { status: code ?? 0 });
  }
  if (children.size === 0 && keepAlive !== undefined) {
    process.removeListener('SIGCHLD', reapChildren);
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

/**
 * pipe2(2) with O_CLOEXEC on both ends: `[readFd, writeFd]`, for a child started by `spawnProcess` (which
 * maps an end to one of its fds) and this process's end (read through `net.Socket({ fd })`, or written
 * with fs.writeSync). The caller closes both.
 */
export function pipe(): [number, number] {
  return sys().pipe();
}

/**
 * A unix stream socket bound at `path` (relative to the working directory) and listening, close-on-exec: its
 * fd, for a `net.Server` to take over later (`listen({ fd })`). Connections queue from this call on, so a
 * client may come before the server's code (and node:net) is loaded. The caller closes it, or the server.
 */
export function listenUnix(path: string, backlog = 511): number {
  return sys().listenUnix(path, backlog);
}

/**
 * A new pseudo-terminal (posix_openpt, grantpt, unlockpt, ptsname), neither end anyone's controlling terminal:
 * Node has none of these, and unlocking the pair takes an ioctl. The caller closes both fds.
 */
export function openPty(): OpenedPty {
  return sys().openPty();
}

/** TIOCSWINSZ: a terminal's size in rows and columns (its foreground process group gets SIGWINCH). */
export function ptyResize(fd: number, rows: number, cols: number): void {
  sys().ptyResize(fd, rows, cols);
}
