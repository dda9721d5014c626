import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { waitForeground } from './foreground.js';

/**
 * nsenter's flag for each namespace an app may have of its own. The user namespace of a pod run with
 * `--private-users` too: nsenter enters it first and becomes its root (uid and gid 0 there), so the command
 * has the pod's root's rights over the app's files, not the host's.
 */
const NAMESPACES = [
  ['user', '--user'],
  ['mnt', '--mount'],
  ['uts', '--uts'],
  ['ipc', '--ipc'],
  ['net', '--net'],
  ['pid', '--pid'],
  ['cgroup', '--cgroup'],
] as const;

/** The namespaces of `pid` that differ from this process's: joining one's own namespace is pointless, and EINVAL for some. */
function foreignNamespaces(pid: number): string[] {
  const flags: string[] = [];
  for (const [ns, flag] of NAMESPACES) {
    let theirs: string;
    try {
      theirs = readlinkSync(`/proc/${pid}/ns/${ns}`);
    } catch {
      throw new Error(`process ${pid} is gone`);
    }
    if (theirs !== readlinkSync(`/proc/self/ns/${ns}`)) flags.push(flag);
  }
  return flags;
}

/** The environment `pid` was started with, which for an app's main process is the app's environment. */
export function processEnvironment(pid: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    throw new Error(`process ${pid} is gone`);
  }
  for (const entry of raw.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** An executable on the host's PATH (the entrypoint's own), by absolute path. */
function onHostPath(name: string): string {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (dir === '') continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not here.
    }
  }
  throw new Error(`${name} not found in PATH (util-linux)`);
}

/**
 * Runs `cmd` inside the app whose process is `target`: its namespaces, its root and working directory
 * (nsenter's --root and --wd take them from the process), its environment, plus the caller's TERM so
 * that an interactive shell knows the terminal. stdin, stdout and stderr are the caller's. Resolves to
 * the command's exit status (128 + signal when killed), which rkt enter returns as its own.
 */
export async function enterProcess(target: number, cmd: readonly string[]): Promise<number> {
  if (cmd.length === 0) throw new Error('no command to run');
  const env = processEnvironment(target);
  if (env.TERM === undefined && process.env.TERM !== undefined) env.TERM = process.env.TERM;
  const args = [`--target=${target}`, ...foreignNamespaces(target), '--root', '--wd', '--', ...cmd];
  // nsenter is the host's; the command it runs is looked up in the app's PATH, inside the app's root.
  const child = spawn(onHostPath('nsenter'), args, { stdio: 'inherit', env });
  return waitForeground(child, 'nsenter');
}
