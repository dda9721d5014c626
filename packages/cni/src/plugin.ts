import { spawnSync } from 'node:child_process';
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
}

/** How long a plugin may take: one that hangs must not hold the pod's start (or gc) for ever. */
const PLUGIN_TIMEOUT_MS = 60_000;

/**
 * Runs a plugin as the CNI specification says (the CNI_* variables, the configuration on stdin) and returns
 * its stdout; a failure is one line with the plugin's own error message.
 */
export function execPlugin(c: PluginCall): string {
  const r = spawnSync(c.pluginPath, [], {
    input: JSON.stringify(c.conf),
    encoding: 'utf8',
    timeout: PLUGIN_TIMEOUT_MS,
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
  });
  if (r.error !== undefined) {
    throw new CniError('CNI_PLUGIN', `plugin ${c.pluginPath}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`, { cause: r.error });
  }
  if (r.status !== 0) {
    const status = r.signal !== null ? `killed by ${r.signal}` : `exit status ${r.status}`;
    throw new CniError('CNI_PLUGIN', pluginFailure(r.stdout, r.stderr, status));
  }
  return r.stdout;
}
