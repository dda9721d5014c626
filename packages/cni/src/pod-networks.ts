import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { fsyncDir, writeFileAtomic } from '@rkt/image-store/fsutil';
import { basename, dirname, join } from 'node:path';
import { loadNets, type LoadedNet, type NetConf } from './config.js';
import { callCgroupChoice } from './call-cgroup.js';
import { CniError } from './errors.js';
import { parseNetList } from './net-list.js';
import { holdOldPlaceLeases } from './old-leases.js';
import { NET_INFO_FILE, NETNS_FILE, readNetInfo, type NetInfo } from './netinfo.js';
import { createNetns, netnsPath, removeNetns, type Umount } from './netns.js';
import { execPlugin, findPlugin, pluginDirs, DEBIAN_PLUGIN_DIR, DEFAULT_PLUGIN_TIMEOUTS, RKT_PLUGIN_DIR, type PluginTimeouts } from './plugin.js';
import { dnsOutlook, forwardableIndex, noGatewayReason } from './outlook.js';
import { parseAddResult, type Dns } from './result.js';

/**
 * Where host-local keeps the leases of rkt's built-in networks (`default`, `default-restricted`): one
 * directory for the machine, as their subnets are the machine's, so that pods of different data directories
 * (`--dir`) running at once never draw the same address (host-local locks its network's directory for each
 * allocation). In /run: a lease means something only while the pod's namespace exists, which no reboot
 * keeps. A user's networks keep theirs in the data directory's `networks/` (`ipamDataDir`).
 */
export const BUILTIN_IPAM_DATA_DIR = '/run/rkt/networks';

export interface PlanOptions {
  /** rkt's `--net` list (`default,mynet:IP=10.1.0.9`). */
  readonly netList: string;
  /** rkt's local configuration directory: networks in its `net.d`. */
  readonly localConfig: string;
  /** The stage1's rootfs, whose `usr/lib/rkt/plugins/net` holds plugins it brings (rkt's built-in ones). */
  readonly stage1Rootfs?: string;
  /** rkt's notes (`overriding "default" network with FILE`), and each plugin run under --debug. */
  readonly note?: (line: string) => void;
}

/**
 * The pod's networks as their configurations give them, before anything is set up: what setupPodNetworks
 * will join, with which plugins, and what their results can hold, so that a caller can refuse the pod for
 * what the configurations alone decide before any plugin runs.
 */
export interface NetworksPlan {
  readonly nets: readonly LoadedNet[];
  /** Each network's plugin, in the order of `nets`. */
  readonly plugins: readonly string[];
  /** Where plugins are looked for, also their CNI_PATH. */
  readonly dirs: readonly string[];
  /** The network of forwarded ports and of the metadata service's address (`hostIP`), by its index in `nets`. */
  readonly forwardable: number;
  /** Why that network's result can never name an IPv4 gateway (no `hostIP`), when its configuration says so. */
  readonly noGateway?: string;
  /**
   * Whether the pod will get DNS from its networks: `always` when a network's configuration makes its result
   * carry DNS, `never` when none can, else `maybe` (only the results tell). The first network whose result
   * has DNS names it (`dnsNetwork`, when `always`).
   */
  readonly dns: 'always' | 'never' | 'maybe';
  readonly dnsNetwork?: string;
}

/**
 * Loads the pod's networks (loadNets) and finds their plugins, with nothing made or run: a configuration
 * that does not parse, a network nothing defines, a plugin that is not there is thrown here.
 */
export function planPodNetworks(o: PlanOptions): NetworksPlan {
  const list = parseNetList(o.netList);
  // A bad RKT_CNI_CALL_CGROUP refuses the pod here, before any plugin runs.
  callCgroupChoice();
  const nets = loadNets(o.localConfig, list, o.note);
  const dirs = pluginDirs(o.localConfig, o.stage1Rootfs);
  const plugins = nets.map((n) => findPlugin(n.conf.type, dirs, n.conf.name));
  const forwardable = forwardableIndex(nets);
  const noGateway = noGatewayReason(nets[forwardable]!.conf);
  const outlooks = nets.map((n) => dnsOutlook(n.conf));
  const always = outlooks.indexOf('always');
  const dns = always >= 0 ? 'always' : outlooks.includes('maybe') ? 'maybe' : 'never';
  return { nets, plugins, dirs, forwardable, ...(noGateway !== undefined ? { noGateway } : {}), dns, ...(always >= 0 ? { dnsNetwork: nets[always]!.conf.name } : {}) };
}

/**
 * setupPodNetworks' options: the networks either as the caller planned them (`plan`, from planPodNetworks)
 * or as planPodNetworks' options, planned there.
 */
export type SetupOptions = SetupCommon & (PlanOptions | { readonly plan: NetworksPlan });

export interface SetupCommon {
  /** The pod directory: `netns`, `net-info.json` and `net/` (the configurations' copies) go there. */
  readonly podDir: string;
  /** The pod's UUID: every plugin's CNI_CONTAINERID. */
  readonly uuid: string;
  /**
   * Where host-local IPAM keeps the leases of a user's network when its configuration does not say
   * (`ipam.dataDir`): the data directory's `networks`, as rkt first kept them in /var/lib/rkt/networks, so
   * that separate data directories do not share (or leak into each other's) leases.
   */
  readonly ipamDataDir: string;
  /** The same for rkt's built-in networks, whose subnets are the machine's: BUILTIN_IPAM_DATA_DIR unless given. */
  readonly builtinIpamDataDir?: string;
  /**
   * An open file description every plugin inherits (as its fd 3) while it runs: the pod's lock (rkt's
   * RKT_LOCK_FD, a flock on the pod directory). A setup killed while a plugin runs leaves the plugin to
   * finish on its own; holding the lock, it keeps the pod locked, so gc (which collects only unlocked
   * pods) cannot tear the networks down before the plugin's ADD has completed and leak what it then makes.
   */
  readonly holdFd?: number;
  /**
   * How long each plugin call may take (DEFAULT_PLUGIN_TIMEOUTS unless given; pluginTimeouts reads them from
   * the environment): an ADD past its deadline fails the setup (`timed out after 60s`), its plugin's process
   * group killed, a DEL past its deadline is a warning of the teardown that follows.
   */
  readonly timeouts?: PluginTimeouts;
  /**
   * rkt's `--port`s: host ports forwarded to the pod (the CNI `portmap` plugin, chained after the network that
   * carries them: the first with masquerading, else the last, as rkt chose it).
   */
  readonly portMappings?: readonly PortMapping[];
  /** rkt's notes (`overriding "default" network with FILE`), and each plugin run under --debug. */
  readonly note?: (line: string) => void;
  readonly umount?: Umount;
}

/** One forwarded port, as the portmap plugin takes it (`runtimeConfig.portMappings`). */
export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp';
  readonly hostIP?: string;
}

/** The pod directory's record of its port forwarding, for its DEL: `net/portmap.json`. */
const PORTMAP_FILE = 'portmap.json';

interface PortmapRecord {
  conf: Record<string, unknown>;
  pluginPath: string;
  ifName: string;
  cniPath: string;
}

export interface PodNetworks {
  /** The namespace to run the pod in (nspawn's `--network-namespace-path=`). */
  readonly netnsPath: string;
  readonly nets: readonly NetInfo[];
  /**
   * The host's address on the network that carries forwarded ports (the first with masquerading, else the
   * last): its ADD result's gateway, rkt's GetForwardableNetHostIP, where the pod's apps reach the host's
   * metadata service. Absent when that result names no IPv4 gateway.
   */
  readonly hostIP?: string;
  /**
   * The DNS configuration of the first network whose result has one (rkt's rule: the first plugin that gives a
   * non-empty `dns` wins; a later one is a note), for the apps' resolv.conf when rkt run was given no `--dns`.
   */
  readonly dns?: { readonly network: string } & Dns;
}

/**
 * The configuration a plugin gets: the file's, with host-local's data directory filled in when absent (the
 * machine's for a built-in network). Saved in the pod's `net/` as given, so that a DEL finds the lease
 * where its ADD put it, wherever later versions put new ones.
 */
function effectiveConf(conf: NetConf, ipamDataDir: string): Record<string, unknown> {
  if (conf.ipam?.type !== 'host-local' || conf.ipam.dataDir !== undefined) return { ...conf };
  return { ...conf, ipam: { ...conf.ipam, dataDir: ipamDataDir } };
}

/**
 * A pod file replaced whole (temp + fsync + rename): a run killed part way never leaves a torn file, which the
 * teardown could not read and would then skip the network's DEL, leaking its lease and its rules. The temp is a
 * dotfile beside it, never taken for a network's copy. `durable` syncs the directory too: what must outlive a
 * power loss before a plugin allocates (a lease on disk), and otherwise one sync for several files.
 */
async function writeWhole(path: string, text: string, durable: boolean): Promise<void> {
  await writeFileAtomic(path, text, { tmpName: `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`, syncDir: durable });
}

/** What a plugin call takes of the caller's options: the file description it inherits, its deadline. */
function held(o: { readonly holdFd?: number; readonly timeouts?: PluginTimeouts; readonly note?: (line: string) => void }, command: 'ADD' | 'DEL'): { holdFd?: number; timeoutMs: number; note?: (line: string) => void } {
  const timeoutMs = (o.timeouts ?? DEFAULT_PLUGIN_TIMEOUTS)[command === 'ADD' ? 'add' : 'del'];
  return { ...(o.holdFd !== undefined ? { holdFd: o.holdFd } : {}), timeoutMs, ...(o.note !== undefined ? { note: o.note } : {}) };
}

/** CNI versions whose DEL takes the ADD's result as `prevResult`. */
function wantsPrevResult(version: unknown): boolean {
  if (typeof version !== 'string') return false;
  const [major, minor] = version.split('.').map(Number) as [number, number];
  return major >= 1 || (major === 0 && minor >= 4);
}

/**
 * Puts the pod in a network namespace of its own and joins it to each network of the list, as rkt's stage1
 * did (networking.Setup): the namespace bound at /run/netns/rkt-UUID (its path in the pod's `netns`), each
 * network's configuration copied to the pod's `net/`, its plugin's ADD with the pod's UUID as
 * CNI_CONTAINERID, the interfaces eth0, eth1... in order, then `net-info.json` for rkt list and status. A
 * failure tears down what was set up (every network added so far, the namespace) and throws one line naming
 * the network and the plugin's own message.
 */
export async function setupPodNetworks(o: SetupOptions): Promise<PodNetworks> {
  const { nets, plugins, dirs } = 'plan' in o ? o.plan : planPodNetworks(o);
  const path = netnsPath(o.uuid);
  // Recorded before it exists, and durably: gc tears down a pod that has a `netns` (hasPodNetworks), so a
  // namespace is never left without one, after a kill or a power loss.
  await writeWhole(join(o.podDir, NETNS_FILE), path, true);
  const saved: NetInfo[] = [];
  const results: Array<Record<string, unknown>> = [];
  const gateways: Array<string | undefined> = [];
  let dns: ({ network: string } & Dns) | undefined;
  try {
    createNetns(path);
    const netDir = join(o.podDir, 'net');
    mkdirSync(netDir, { recursive: true });
    await fsyncDir(o.podDir);
    for (const [i, n] of nets.entries()) {
      const builtinDir = o.builtinIpamDataDir ?? BUILTIN_IPAM_DATA_DIR;
      const conf = effectiveConf(n.conf, n.builtin ? builtinDir : o.ipamDataDir);
      const confPath = join(netDir, n.fileName);
      const info: NetInfo = { netName: n.conf.name, netConf: confPath, pluginPath: plugins[i]!, ifName: `eth${i}`, ip: '', args: n.args, mask: '', cniPath: dirs.join(':') };
      // Saved before the ADD, on disk: a teardown after a crash (or a power loss) during it still finds the
      // network to DEL, and so frees the lease its IPAM keeps on disk.
      await writeWhole(confPath, `${JSON.stringify(conf, null, '\t')}\n`, true);
      saved.push(info);
      await writeWhole(join(o.podDir, NET_INFO_FILE), `${JSON.stringify(saved)}\n`, true);
      // A pod of an earlier version may still hold an address of a built-in network in the data directory's
      // networks/, where such versions kept their leases: this ADD must not draw it.
      if (n.builtin && n.conf.ipam?.type === 'host-local' && n.conf.ipam.dataDir === undefined) {
        holdOldPlaceLeases(join(o.ipamDataDir, n.conf.name), join(builtinDir, n.conf.name));
      }
      o.note?.(`loading network ${n.conf.name} with type ${n.conf.type}`);
      let stdout: string;
      try {
        stdout = execPlugin({ command: 'ADD', pluginPath: info.pluginPath, network: info.netName, conf, containerId: o.uuid, netns: path, ifName: info.ifName, args: info.args, cniPath: dirs, ...held(o, 'ADD') });
      } catch (err) {
        throw new CniError('CNI_PLUGIN', `error adding network "${n.conf.name}" (plugin ${n.conf.type}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      const result = parseAddResult(stdout, n.conf.name);
      results.push(result.raw);
      gateways.push(result.gateway);
      if (result.dns !== undefined && dns === undefined) dns = { network: n.conf.name, ...result.dns };
      else if (result.dns !== undefined) o.note?.(`network ${n.conf.name} plugin specified DNS configuration, but DNS already supplied`);
      info.ip = result.ip;
      info.mask = result.mask;
      // Whole, but not synced again: the copy saved before the ADD is enough for its DEL after a power loss.
      if (wantsPrevResult(conf.cniVersion)) await writeWhole(confPath, `${JSON.stringify({ ...conf, prevResult: result.raw }, null, '\t')}\n`, false);
      await writeWhole(join(o.podDir, NET_INFO_FILE), `${JSON.stringify(saved)}\n`, false);
    }
    if (o.portMappings !== undefined && o.portMappings.length > 0) await forwardPorts(o, nets, saved, results, dirs, path, netDir);
  } catch (err) {
    teardownPodNetworks({ podDir: o.podDir, uuid: o.uuid, ...(o.umount !== undefined ? { umount: o.umount } : {}), ...(o.holdFd !== undefined ? { holdFd: o.holdFd } : {}), ...(o.timeouts !== undefined ? { timeouts: o.timeouts } : {}), ...(o.note !== undefined ? { note: o.note } : {}), warn: () => {} });
    // Nothing joined: rkt list shows no network for a pod that never had one.
    rmSync(join(o.podDir, NET_INFO_FILE), { force: true });
    throw err;
  }
  const hostIP = gateways[forwardableIndex(nets)];
  return { netnsPath: path, nets: saved, ...(hostIP !== undefined ? { hostIP } : {}), ...(dns !== undefined ? { dns } : {}) };
}

/**
 * rkt's `--port`s, through the CNI `portmap` plugin chained after one network (its ADD result as
 * `prevResult`): the first network with masquerading, else the last, as rkt chose the network for them.
 */
async function forwardPorts(o: SetupCommon, nets: readonly LoadedNet[], saved: readonly NetInfo[], results: ReadonlyArray<Record<string, unknown>>, dirs: readonly string[], netns: string, netDir: string): Promise<void> {
  const i = forwardableIndex(nets);
  const net = nets[i]!;
  const pluginPath = findPlugin('portmap', dirs, net.conf.name);
  const conf = {
    cniVersion: net.conf.cniVersion ?? '0.3.1',
    name: net.conf.name,
    type: 'portmap',
    capabilities: { portMappings: true },
    snat: true,
    runtimeConfig: { portMappings: o.portMappings },
    prevResult: results[i],
  };
  const record: PortmapRecord = { conf, pluginPath, ifName: saved[i]!.ifName, cniPath: dirs.join(':') };
  // Saved before the ADD: a teardown after a failed or interrupted one still removes what it made.
  await writeWhole(join(netDir, PORTMAP_FILE), `${JSON.stringify(record, null, '\t')}\n`, true);
  o.note?.(`forwarding ports on network ${net.conf.name}`);
  try {
    execPlugin({ command: 'ADD', pluginPath, network: net.conf.name, conf, containerId: o.uuid, netns, ifName: record.ifName, args: '', cniPath: dirs, ...held(o, 'ADD') });
  } catch (err) {
    throw new CniError('CNI_PLUGIN', `error forwarding ports on network "${net.conf.name}" (plugin portmap): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

export interface TeardownOptions {
  readonly podDir: string;
  readonly uuid: string;
  readonly umount?: Umount;
  /** As setupPodNetworks' `holdFd`: a teardown killed part way leaves no DEL running unlocked. */
  readonly holdFd?: number;
  /** How long each DEL may take (`del`; DEFAULT_PLUGIN_TIMEOUTS' unless given): one past it is a warning. */
  readonly timeouts?: PluginTimeouts;
  /** A network whose DEL failed: noted, and the others are torn down all the same. */
  readonly warn: (line: string) => void;
  /** What is shown under --debug (a plugin call in its process group only, where no cgroup can be made). */
  readonly note?: (line: string) => void;
}

/** Whether a pod directory has networks (or a namespace) left to tear down. */
export function hasPodNetworks(podDir: string): boolean {
  return existsSync(join(podDir, NETNS_FILE));
}

/**
 * Tears down what setupPodNetworks left, as rkt's stage1 gc did (networking.Teardown), in reverse order:
 * each network whose configuration copy is still in `net/` gets its plugin's DEL (in the namespace, which
 * a plugin needs to remove its masquerading rules), the copy then removed; then the namespace is unmounted
 * and removed, and the pod's `netns` with it. Safe to run again: what is gone is skipped. `net-info.json`
 * stays, for rkt list and status of the exited pod.
 */
export function teardownPodNetworks(o: TeardownOptions): void {
  // A bad RKT_CNI_CALL_CGROUP refuses the teardown before any DEL (each would fail, and the namespace go with
  // its leases and rules still held): the pod keeps its networks for a teardown with a good one.
  callCgroupChoice();
  const nsFile = join(o.podDir, NETNS_FILE);
  let path: string;
  try {
    path = readFileSync(nsFile, 'utf8').trim();
  } catch {
    path = netnsPath(o.uuid);
  }
  // Only ever one of this package's own: a `netns` file naming another path is not followed.
  if (path !== netnsPath(o.uuid)) path = netnsPath(o.uuid);
  const netns = existsSync(path) ? path : '';
  const portmap = join(o.podDir, 'net', PORTMAP_FILE);
  if (existsSync(portmap)) {
    try {
      const r = JSON.parse(readFileSync(portmap, 'utf8')) as PortmapRecord;
      execPlugin({ command: 'DEL', pluginPath: r.pluginPath, network: String(r.conf.name), conf: r.conf, containerId: o.uuid, netns, ifName: r.ifName, args: '', cniPath: r.cniPath.split(':'), ...held(o, 'DEL') });
    } catch (err) {
      o.warn(`error removing the forwarded ports: ${err instanceof Error ? err.message : String(err)}`);
    }
    rmSync(portmap, { force: true });
  }
  const nets = readNetInfo(o.podDir);
  for (const n of [...nets].reverse()) {
    // The copy in this pod's own net/, removed once its DEL ran (rkt's sign that it was torn down). Looked
    // for by its name: the pod directory has moved since it was saved (to garbage/, by gc).
    const confPath = join(o.podDir, 'net', basename(n.netConf));
    if (n.netConf === '' || !existsSync(confPath)) continue;
    try {
      const conf = JSON.parse(readFileSync(confPath, 'utf8')) as Record<string, unknown>;
      const cniPath = n.cniPath !== undefined ? n.cniPath.split(':') : [dirname(n.pluginPath), RKT_PLUGIN_DIR, DEBIAN_PLUGIN_DIR];
      execPlugin({ command: 'DEL', pluginPath: n.pluginPath, network: n.netName, conf, containerId: o.uuid, netns, ifName: n.ifName, args: n.args, cniPath, ...held(o, 'DEL') });
    } catch (err) {
      o.warn(`error deleting network "${n.netName}": ${err instanceof Error ? err.message : String(err)}`);
    }
    rmSync(confPath, { force: true });
  }
  removeNetns(path, o.umount);
  rmSync(nsFile, { force: true });
}
