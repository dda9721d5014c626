import { closeSync, openSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Stage1RunContext } from '@rkt/controller';

/**
 * The processes the run entrypoint starts (nspawn and the pod's watcher), two ways. In stage0's process (the
 * run module), with stage0's posix_spawn when it offers one (the run-module context): node:child_process
 * forks stage0's whole process for each, and its first spawn costs ~3 ms more than that, on the path of
 * every pod's start. As its own process (the executable), or under a stage0 without it, with
 * node:child_process, loaded only then. (`listenUnix` rides along for the apps' stream sockets: io-relay.ts.)
 */
export type HostSpawn = Pick<Stage1RunContext, 'spawn' | 'pipe' | 'listenUnix'>;

export interface StartOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** stdin, stdout, stderr: this process's own, /dev/null, or a pipe to this process. */
  readonly stdio: readonly ['inherit' | 'ignore' | 'pipe', 'inherit' | 'ignore', 'inherit' | 'ignore' | 'pipe'];
  /** Descriptors of this process that the child gets as its fds 3, 4... (the pod's lock). */
  readonly extraFds?: readonly number[];
  /** A session of its own (child_process's `detached`). */
  readonly detached: boolean;
}

export interface StartedProcess {
  readonly pid: number;
  /** Its exit status: the code, or 128 + the number of the signal that killed it. */
  readonly exited: Promise<number>;
  /** With a piped stderr: the stream, which ends once the child and everything that inherited it closed it. */
  readonly stderr: Readable | undefined;
  /** With a piped stdin: writes `text` (a line or so: a pipe takes it at once). A reader that is gone is no error. */
  writeStdin(text: string): void;
  /** With a piped stdin: writes `text` and closes it. A reader that is gone is no error. */
  endStdin(text: string): void;
}

/** Starts a process; throws when it cannot be started (a missing or unexecutable command). */
export function startProcess(o: StartOptions, host: HostSpawn = {}): StartedProcess {
  return host.spawn !== undefined && host.pipe !== undefined ? viaHost(o, host.spawn, host.pipe) : viaChildProcess(o);
}

function viaHost(o: StartOptions, spawn: NonNullable<HostSpawn['spawn']>, pipe: NonNullable<HostSpawn['pipe']>): StartedProcess {
  const opened: number[] = [];
  const track = <T extends number | [number, number]>(fds: T): T => {
    if (typeof fds === 'number') opened.push(fds);
    else opened.push(...(fds as [number, number]));
    return fds;
  };
  let stdin: [number, number] | undefined;
  let stderr: [number, number] | undefined;
  let child: ReturnType<typeof spawn>;
  try {
    const devNull = o.stdio.includes('ignore') ? track(openSync('/dev/null', 'r+')) : -1;
    stdin = o.stdio[0] === 'pipe' ? track(pipe()) : undefined;
    stderr = o.stdio[2] === 'pipe' ? track(pipe()) : undefined;
    const fd = (how: 'inherit' | 'ignore' | 'pipe', own: number, end: number | undefined): number =>
      how === 'inherit' ? own : how === 'ignore' ? devNull : end!;
    child = spawn({
      file: o.command,
      argv: [o.command, ...o.args],
      env: o.env,
      fds: [fd(o.stdio[0], 0, stdin?.[0]), fd(o.stdio[1], 1, undefined), fd(o.stdio[2], 2, stderr?.[1]), ...(o.extraFds ?? [])],
      newSession: o.detached,
    });
  } catch (err) {
    for (const fd of opened) closeSync(fd);
    throw err;
  }
  // This process keeps only its own ends: the child's are its now.
  for (const fd of opened) if (fd !== stdin?.[1] && fd !== stderr?.[0]) closeSync(fd);
  let stdinFd = stdin?.[1];
  let stderrStream: Readable | undefined;
  return {
    pid: child.pid,
    exited: child.exited.then((r) => r.status),
    // Made on first use: node:net takes milliseconds to load, which the caller may have better use for
    // first (telling the pod's watcher that nspawn runs).
    get stderr() {
      if (stderr !== undefined) stderrStream ??= new (process.getBuiltinModule('node:net').Socket)({ fd: stderr[0], readable: true, writable: false });
      return stderrStream;
    },
    writeStdin: (text) => {
      if (stdinFd === undefined) return;
      try {
        writeSync(stdinFd, text);
      } catch {
        // The reader has exited (EPIPE): it needs nothing more.
      }
    },
    endStdin: (text) => {
      if (stdinFd === undefined) return;
      const fd = stdinFd;
      stdinFd = undefined;
      try {
        writeSync(fd, text);
      } catch {
        // The reader has exited (EPIPE): it needs nothing more.
      } finally {
        closeSync(fd);
      }
    },
  };
}

function viaChildProcess(o: StartOptions): StartedProcess {
  const { spawn } = process.getBuiltinModule('node:child_process');
  const child = spawn(o.command, [...o.args], { stdio: [...o.stdio, ...(o.extraFds ?? [])], env: o.env, detached: o.detached });
  // A failed start is reported as an 'error' event after this returns: without a listener it would be thrown.
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : process.getBuiltinModule('node:os').constants.signals[signal])));
  });
  if (child.pid === undefined) {
    exited.catch(() => {});
    throw new Error(`cannot start ${o.command}`);
  }
  child.stdin?.on('error', () => {});
  return {
    pid: child.pid,
    exited,
    stderr: child.stderr ?? undefined,
    writeStdin: (text) => child.stdin?.write(text),
    endStdin: (text) => child.stdin?.end(text),
  };
}
