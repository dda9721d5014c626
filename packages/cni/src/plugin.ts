import { spawnSync, type SpawnSyncOptions, type SpawnSyncReturns } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { JOIN_FAILED, JOIN_SCRIPT, callCgroupChoice, killCallCgroup, makeCallCgroup, sweepCallCgroups } from './call-cgroup.js';
import { CniError } from './errors.js';
import { pluginFailure } from './result.js';

/** rkt's directory for plugins the user installs (`UserNetPluginsPath`). */
export const RKT_PLUGIN_DIR = '/usr/lib/rkt/plugins/net';
/** Where a stage1 image carries its own plugins, inside its rootfs (rkt's `BuiltinNetPluginsPath`). */
export const STAGE1_PLUGIN_DIR = 'usr/lib/rkt/plugins/net';
/** Debian's `containernetworking-plugins`. */
export const DEBIAN_PLUGIN_DIR = '/usr/lib/cni';

/**
 * Where plugins are looked for, in order (also the plugins' CNI_PATH, where a plugin finds its IPAM plugin):
 * rkt's three, the user's `<local-config>/net.d` first (a third-party plugin beside its configuration),
 * `/usr/lib/rkt/plugins/net`, the stage1's own `usr/lib/rkt/plugins/net`, then Debian's `/usr/lib/cni`, where
 * the standard plugins are on this host. rkt had no setting to change them, nor does rkt-ts.
 */
export function pluginDirs(localConfig: string, stage1Rootfs: string | undefined): string[] {
  return [join(localConfig, 'net.d'), RKT_PLUGIN_DIR, ...(stage1Rootfs !== undefined ? [join(stage1Rootfs, STAGE1_PLUGIN_DIR)] : []), DEBIAN_PLUGIN_DIR];
}

/** The plugin's executable: the first regular file of that name in `dirs`. */
export function findPlugin(type: string, dirs: readonly string[], network: string): string {
  if (type.includes('/')) throw new CniError('CNI_PLUGIN', `network "${network}": plugin type ${JSON.stringify(type)} is not a plugin name`);
  for (const dir of dirs) {
    const path = join(dir, type);
    try {
      if (statSync(path).isFile()) return path;
    } catch {
      // Not there: the next directory.
    }
  }
  throw new CniError('CNI_PLUGIN', `network "${network}": could not find plugin "${type}" in ${dirs.join(':')}`);
}

export interface PluginCall {
  readonly command: 'ADD' | 'DEL';
  readonly pluginPath: string;
  readonly network: string;
  /** The network configuration given on stdin. */
  readonly conf: Record<string, unknown>;
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  readonly args: string;
  readonly cniPath: readonly string[];
  /** An open file description the plugin inherits as its fd 3 (the pod's lock: SetupOptions' `holdFd`). */
  readonly holdFd?: number;
  /** How long the call may take, in ms: DEFAULT_PLUGIN_TIMEOUTS' for its command unless given. */
  readonly timeoutMs?: number;
  /** What the call notes for --debug (a call in its process group only, where no cgroup can be made). */
  readonly note?: (line: string) => void;
}

/** How long a plugin call may take, by command, in ms. */
export interface PluginTimeouts {
  readonly add: number;
  readonly del: number;
}

/**
 * A minute for an ADD (an IPAM that asks a DHCP server, a bridge made for the first pod), less for a DEL, which
 * only removes what is there and runs where the user waits on it (the end of rkt run, every pod of rkt gc).
 * libcni leaves the deadline to its caller's context; containerd's and ECS's are of this order.
 */
export const DEFAULT_PLUGIN_TIMEOUTS: PluginTimeouts = { add: 60_000, del: 10_000 };

/** The variables that set them (rkt-ts's own: rkt had no deadline), read by pluginTimeouts. */
export const PLUGIN_TIMEOUT_ENV = { add: 'RKT_CNI_ADD_TIMEOUT', del: 'RKT_CNI_DEL_TIMEOUT' } as const;

/**
 * The deadlines of plugin calls from the environment (`RKT_CNI_ADD_TIMEOUT=90s`, `RKT_CNI_DEL_TIMEOUT=500ms`;
 * `ms`, `s` or `m`, more than zero), DEFAULT_PLUGIN_TIMEOUTS' where unset or empty; a value that is not such a
 * duration is one line naming the variable.
 */
export function pluginTimeouts(env: Readonly<Record<string, string | undefined>> = process.env): PluginTimeouts {
  const read = (key: 'add' | 'del'): number => {
    const name = PLUGIN_TIMEOUT_ENV[key];
    const value = env[name];
    if (value === undefined || value === '') return DEFAULT_PLUGIN_TIMEOUTS[key];
    const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)$/.exec(value);
    const ms = m !== null ? Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000) : NaN;
    if (!(ms >= 1) || !Number.isSafeInteger(Math.round(ms))) {
      throw new CniError('CNI_CONFIG', `${name}=${JSON.stringify(value)}: not a duration of at least 1ms (like 60s, 500ms or 2m)`);
    }
    return Math.round(ms);
  };
  return { add: read('add'), del: read('del') };
}

/** A deadline as the user wrote it, near enough: `60s`, `1.5s`, `500ms`. */
export function formatTimeout(ms: number): string {
  return ms >= 1000 && ms % 100 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * What runs each plugin: coreutils' timeout(1), which kills the plugin's process group (SIGKILL) at the
 * deadline. Not this process's timer only: a run killed (kill -9) while a plugin hangs leaves timeout to end it
 * all the same, and with it the pod's lock the plugin holds (fd 3).
 */
export const TIMEOUT_COMMAND = 'timeout';

/**
 * Runs a plugin as the CNI specification says (the CNI_* variables, the configuration on stdin) and returns
 * its stdout; a failure is one line with the plugin's own error message, a call past its deadline `timed out
 * after 60s`.
 *
 * The plugin runs under TIMEOUT_COMMAND in a session of its own and in a cgroup of its own (call-cgroup.ts:
 * cgroup v2's, else v1's freezer), and everything in that cgroup is killed when the call ends: at its deadline (timeout
 * kills the group first), or when the plugin exits, whatever it left running, a daemon that called setsid
 * itself included. What it left would otherwise keep what it inherited open, the pod's lock (fd 3) among it,
 * and so keep the pod locked, and shown running; a plugin's work ends with its call (the CNI specification
 * has no daemon of a plugin's). A call whose caller was killed leaves its cgroup, swept (sweepCallCgroups)
 * once its plugin has exited, by the next call and by `rkt gc`. Where no such cgroup can be made (a host
 * without either hierarchy, RKT_CNI_CALL_CGROUP=none), the process group only, killed the same way (a `note`,
 * shown under --debug).
 *
 * The call ends when the plugin exits, not when its output ends: stdout and stderr are unnamed files
 * (O_TMPFILE), read once everything in the call is dead, so a process left holding them keeps nothing waiting.
 * The configuration is given the same way.
 */
export function execPlugin(c: PluginCall): string {
  const timeoutMs = c.timeoutMs ?? DEFAULT_PLUGIN_TIMEOUTS[c.command === 'ADD' ? 'add' : 'del'];
  // Calls of killed runs whose plugins have exited since: what they left dies before this one starts.
  const { left } = sweepCallCgroups();
  for (const l of left) c.note?.(`cannot remove ${l}: processes left in it do not die`);
  const cgroup = makeCallCgroup(c.containerId, callCgroupChoice());
  if ('why' in cgroup) c.note?.(`plugin ${basename(c.pluginPath)} in a process group of its own only: ${cgroup.why}`);
  let r = runPlugin(c, timeoutMs, 'path' in cgroup ? cgroup.path : undefined);
  if ('path' in cgroup && r.run.status === 125 && r.stderr === JOIN_FAILED) {
    // The plugin did not run: it runs again in its process group only.
    c.note?.(`plugin ${basename(c.pluginPath)} in a process group of its own only: cannot join ${cgroup.path}`);
    killCallCgroup(cgroup.path);
    r = runPlugin(c, timeoutMs, undefined);
  }
  const { run, stdout, stderr, elapsed } = r;
  if (run.error !== undefined) {
    const code = (run.error as NodeJS.ErrnoException).code;
    if (code === 'ETIMEDOUT') throw new CniError('CNI_PLUGIN', `timed out after ${formatTimeout(timeoutMs)}`, { cause: run.error });
    throw new CniError('CNI_PLUGIN', `plugin ${c.pluginPath}: ${run.error.message}`, { cause: run.error });
  }
  // timeout's kill of its group ends timeout too; it also dies of the signal that killed the plugin, so a
  // SIGKILL before the deadline is the plugin's own.
  if (run.signal === 'SIGKILL' && elapsed >= timeoutMs) throw new CniError('CNI_PLUGIN', `timed out after ${formatTimeout(timeoutMs)}`);
  // The plugin could not be run: timeout's 126 and 127, with its `timeout: failed to run command 'PATH': WHY`.
  const notRun = run.status === 126 || run.status === 127 ? /^timeout: failed to run command .*: ([^:\n]+)\n?$/.exec(stderr) : null;
  if (notRun !== null) throw new CniError('CNI_PLUGIN', `plugin ${c.pluginPath}: ${notRun[1]}`);
  if (run.status !== 0) {
    const status = run.signal !== null ? `killed by ${run.signal}` : `exit status ${run.status}`;
    throw new CniError('CNI_PLUGIN', pluginFailure(stdout, stderr, status));
  }
  return stdout;
}

interface PluginRun {
  run: SpawnSyncReturns<string | Buffer>;
  stdout: string;
  stderr: string;
  /** ms from the start to the plugin's exit. */
  elapsed: number;
}

/**
 * One run of the plugin under timeout(1), in `cgroup` when given (its wrapper joins it first), then everything
 * left of the call killed (the cgroup's tasks, else the process group) before its output is read.
 */
function runPlugin(c: PluginCall, timeoutMs: number, cgroup: string | undefined): PluginRun {
  const stdin = unnamedFile();
  const out = unnamedFile();
  const err = unnamedFile();
  try {
    // Positioned: the shared offset stays at 0, where the plugin starts reading.
    const input = Buffer.from(JSON.stringify(c.conf));
    writeSync(stdin, input, 0, input.length, 0);
    const timeoutArgs = ['--signal=KILL', `${timeoutMs / 1000}s`, c.pluginPath];
    const [file, args] = cgroup !== undefined ? ['/bin/sh', ['-c', JOIN_SCRIPT, join(cgroup, 'cgroup.procs'), TIMEOUT_COMMAND, ...timeoutArgs]] : [TIMEOUT_COMMAND, timeoutArgs];
    // `detached` (setsid(2) in the child) is honoured by spawnSync, though its types omit it.
    const options: SpawnSyncOptions & { detached: boolean } = {
      // Only should timeout(1) itself fail to end it.
      timeout: timeoutMs + 10_000,
      killSignal: 'SIGKILL',
      detached: true,
      // No pipe: spawnSync returns at the plugin's exit (timeout's), whoever keeps these open. Node opens its
      // own files close-on-exec: only what stdio names reaches the plugin.
      stdio: c.holdFd !== undefined ? [stdin, out, err, c.holdFd] : [stdin, out, err],
      env: {
        ...process.env,
        CNI_COMMAND: c.command,
        CNI_CONTAINERID: c.containerId,
        CNI_NETNS: c.netns,
        CNI_IFNAME: c.ifName,
        CNI_ARGS: c.args,
        CNI_PATH: c.cniPath.join(':'),
      },
    };
    const started = performance.now();
    const run = spawnSync(file, args, options);
    const elapsed = performance.now() - started;
    if (cgroup !== undefined) {
      const left = killCallCgroup(cgroup);
      if (left.length > 0) c.note?.(`cannot remove ${cgroup}: processes left in it do not die (${left.join(', ')})`);
    }
    // The group's id is the wrapper's pid, which stays taken while any process of the group is left. Killed in
    // a cgroup too: the plugin's processes that setsid left it, the others are in it all the same.
    if (run.pid !== undefined && run.pid > 0) killGroup(run.pid);
    return { run, stdout: readWhole(out), stderr: readWhole(err), elapsed };
  } finally {
    closeSync(stdin);
    closeSync(out);
    closeSync(err);
  }
}

/** `__O_TMPFILE` (with O_DIRECTORY, Linux's O_TMPFILE): a file with no name, gone with its last descriptor. */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;

/** A file of the call's own with no name (O_TMPFILE in the temp directory), else one named and unlinked at once. */
function unnamedFile(): number {
  try {
    return openSync(tmpdir(), O_TMPFILE | constants.O_RDWR, 0o600);
  } catch {
    // A filesystem without O_TMPFILE: named for an instant.
    const path = join(tmpdir(), `.rkt-cni-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
    unlinkSync(path);
    return fd;
  }
}

/** What a file holds, read from its start (the plugin's writes moved the shared offset to its end). */
function readWhole(fd: number): string {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got).toString('utf8');
}

/** SIGKILL to a process group: none left (ESRCH) is the usual case, and nothing else can fail for root. */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}
