import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Node's fs only: stage0 reads a pod's networks with this on `rkt list`'s and `rkt status`'s paths.

/** The file in the pod directory that lists the networks the pod joined (rkt's `net-info.json`). */
export const NET_INFO_FILE = 'net-info.json';
/** The file in the pod directory that holds the path of the pod's network namespace (rkt's `netns`). */
export const NETNS_FILE = 'netns';

/**
 * One network of a pod, as rkt's stage1 saved it (networking/netinfo): its name, the copy of its
 * configuration in the pod directory (`netConf`, removed once the network is torn down), the plugin, the
 * pod's interface, its IPv4 address and mask, and the CNI_ARGS it was given. `cniPath` (rkt-ts's) is the
 * CNI_PATH the plugin ran with, so that a teardown by gc finds the same plugins.
 */
export interface NetInfo {
  netName: string;
  netConf: string;
  pluginPath: string;
  ifName: string;
  ip: string;
  args: string;
  mask: string;
  cniPath?: string;
}

const isString = (v: unknown): v is string => typeof v === 'string';

/**
 * The networks saved in a pod directory, in the order the pod joined them; [] for a pod that has none (on
 * the host's network, a loopback of its own, or not started yet). A file that is not what the stage1 writes
 * counts as none: listing pods must not fail on one pod's file.
 */
export function readNetInfo(podDir: string): NetInfo[] {
  const path = join(podDir, NET_INFO_FILE);
  // Looked for first: most pods have none, and a failed read's error costs `rkt list` ~10 us a pod.
  if (!existsSync(path)) return [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(doc)) return [];
  const nets: NetInfo[] = [];
  for (const n of doc as unknown[]) {
    if (typeof n !== 'object' || n === null) continue;
    const o = n as Record<string, unknown>;
    if (!isString(o.netName)) continue;
    nets.push({
      netName: o.netName,
      netConf: isString(o.netConf) ? o.netConf : '',
      pluginPath: isString(o.pluginPath) ? o.pluginPath : '',
      ifName: isString(o.ifName) ? o.ifName : '',
      ip: isString(o.ip) ? o.ip : '',
      args: isString(o.args) ? o.args : '',
      mask: isString(o.mask) ? o.mask : '',
      ...(isString(o.cniPath) ? { cniPath: o.cniPath } : {}),
    });
  }
  return nets;
}

/** rkt's NETWORKS column and `rkt status` `networks=`: `NAME:ip4=ADDRESS, ...`. */
export function formatNets(nets: readonly Pick<NetInfo, 'netName' | 'ip'>[]): string {
  return nets.map((n) => `${n.netName}:ip4=${n.ip}`).join(', ');
}

/** The networks as rkt's JSON listed them (`rkt list --format=json`, `rkt status --format=json`): its NetInfo fields. */
export function netInfoJson(nets: readonly NetInfo[]): Array<Omit<NetInfo, 'cniPath'>> {
  return nets.map((n) => ({ netName: n.netName, netConf: n.netConf, pluginPath: n.pluginPath, ifName: n.ifName, ip: n.ip, args: n.args, mask: n.mask }));
}
