import { spawn } from 'node:child_process';
import { RootfsError } from './errors.js';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `mount`, `umount` or `cp` and collects its output. Node has no mount(2), so these few-millisecond
 * spawns are the price of mounting at all. LC_ALL=C keeps the messages we match (`target is busy`) stable.
 * Never throws for a non-zero exit: the caller decides what a failure means.
 */
export function runTool(tool: string, args: readonly string[]): Promise<ToolResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(tool, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (cause: NodeJS.ErrnoException) => {
      reject(
        cause.code === 'ENOENT'
          ? new RootfsError('ROOTFS_TOOL_MISSING', `${tool} is not installed (util-linux / coreutils): needed to set up app root filesystems`, { cause })
          : cause,
      );
    });
    child.on('close', (code, signal) => {
      resolvePromise({
        code: code ?? (signal === null ? 1 : 128),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** The first line of a tool's complaint, without the tool's own name in front. */
export function firstLine(stderr: string): string {
  const line = stderr.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.trim();
}
