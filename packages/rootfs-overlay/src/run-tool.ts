import { spawn } from 'node:child_process';
import { RootfsError } from './errors.js';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Killed after `timeoutMs`; `stderr` then says so. */
  timedOut: boolean;
}

/**
 * Runs `mount`, `umount` or `cp` and collects its output. The overlay mount is a system call (sys.ts); bind
 * mounts keep mount(8), which carries the source's nosuid/nodev/noexec over on a read-only remount, and
 * umount(8) can be killed when it hangs. LC_ALL=C keeps the messages we match (`target is busy`) stable.
 * Never throws for a non-zero exit: the caller decides what a failure means.
 */
export function runTool(tool: string, args: readonly string[], o: { timeoutMs?: number } = {}): Promise<ToolResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(tool, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    let timedOut = false;
    // umount of a dead NFS server's mount can block for minutes; gc must get past it.
    const timer =
      o.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, o.timeoutMs);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (cause: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        cause.code === 'ENOENT'
          ? new RootfsError('ROOTFS_TOOL_MISSING', `${tool} is not installed (util-linux / coreutils): needed to set up app root filesystems`, { cause })
          : cause,
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code: code ?? (signal === null ? 1 : 128),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: timedOut ? `${tool}: timed out after ${o.timeoutMs} ms` : Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
  });
}

/** The first line of a tool's complaint, without the tool's own name in front. */
export function firstLine(stderr: string): string {
  const line = stderr.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.trim();
}
