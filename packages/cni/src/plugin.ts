import { spawnSync, type SpawnSyncOptionsWithStringEncoding } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
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
 * What runs each plugin: coreutils' timeout(1), in a process group of its own with the plugin, which it kills
 * (SIGKILL) as a whole at the deadline. Not this process's timer only: a run killed (kill -9) while a plugin
 * hangs leaves timeout to end it all the same, and with it the pod's lock the plugin holds (fd 3).
 */
export const TIMEOUT_COMMAND = 'timeout';

/**
 * Runs a plugin as the CNI specification says (the CNI_* variables, the configuration on stdin) and returns
 * its stdout; a failure is one line with the plugin's own error message, a call past its deadline `timed out
 * after 60s`.
 *
 * The plugin runs under TIMEOUT_COMMAND in a session, and so a process group, of its own, which is killed
 * (SIGKILL) whenever the call ends: at its deadline, by timeout, the plugin and whatever it started; after it
 * exited, here, whatever it left running. What it left would otherwise keep what it inherited open, the pod's
 * lock (fd 3) included, and so keep the pod locked, and shown running, until it exited; a plugin's work ends
 * with its call (the CNI specification has no daemon of a plugin's). Out of reach: a process that left the
 * group itself (setsid, as a daemon does), and what a plugin left behind when this process was killed before
 * the plugin exited. spawnSync waits for the end of the plugin's stdout and stderr too: a process left with
 * them open keeps the call until its deadline.
 */
export function execPlugin(c: PluginCall): string {
  const timeoutMs = c.timeoutMs ?? DEFAULT_PLUGIN_TIMEOUTS[c.command === 'ADD' ? 'add' : 'del'];
  // `detached` (setsid(2) in the child) is honoured by spawnSync, though its types omit it.
  const options: SpawnSyncOptionsWithStringEncoding & { detached: boolean } = {
    input: JSON.stringify(c.conf),
    encoding: 'utf8',
    // Only should timeout(1) itself fail to end it.
    timeout: timeoutMs + 10_000,
    killSignal: 'SIGKILL',
    detached: true,
    // Node opens its files close-on-exec: only what stdio names reaches the plugin.
    stdio: c.holdFd !== undefined ? ['pipe', 'pipe', 'pipe', c.holdFd] : 'pipe',
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
  const r = spawnSync(TIMEOUT_COMMAND, ['--signal=KILL', `${timeoutMs / 1000}s`, c.pluginPath], options);
  // The group's id is timeout's pid, which stays taken while any process of the group is left.
  if (r.pid > 0) killGroup(r.pid);
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ETIMEDOUT') throw new CniError('CNI_PLUGIN', `timed out after ${formatTimeout(timeoutMs)}`, { cause: r.error });
    throw new CniError('CNI_PLUGIN', `plugin ${c.pluginPath}: ${r.error.message}`, { cause: r.error });
  }
  // timeout's kill of its group ends timeout too; it also dies of the signal that killed the plugin, so a
  // SIGKILL before the deadline is the plugin's own.
  if (r.signal === 'SIGKILL' && performance.now() - started >= timeoutMs) throw new CniError('CNI_PLUGIN', `timed out after ${formatTimeout(timeoutMs)}`);
  // The plugin could not be run: timeout's 126 and 127, with its `timeout: failed to run command 'PATH': WHY`.
  const notRun = r.status === 126 || r.status === 127 ? /^timeout: failed to run command .*: ([^:\n]+)\n?$/.exec(r.stderr) : null;
  if (notRun !== null) throw new CniError('CNI_PLUGIN', `plugin ${c.pluginPath}: ${notRun[1]}`);
  if (r.status !== 0) {
    const status = r.signal !== null ? `killed by ${r.signal}` : `exit status ${r.status}`;
    throw new CniError('CNI_PLUGIN', pluginFailure(r.stdout, r.stderr, status));
  }
  return r.stdout;
}

/** SIGKILL to a process group: none left (ESRCH) is the usual case, and nothing else can fail for root. */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}
