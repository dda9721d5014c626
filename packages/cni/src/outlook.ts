import type { LoadedNet, NetConf } from './config.js';

// What a network's ADD result can hold, read from its configuration before any plugin runs: what depends on
// the result (a resolv.conf to write, the metadata service's address) can then refuse a pod before its
// plugins run, take leases and make rules, when the configuration alone decides it. Only for the standard
// plugins, whose ways are known; any other plugin may answer anything ('maybe').

/**
 * The standard plugins whose result's `dns` is their configuration's (when it says anything), else their
 * IPAM's: containernetworking's ptp and bridge (`if dnsConfSet(conf.DNS) { result.DNS = conf.DNS }`).
 */
const DNS_FROM_CONF_OR_IPAM = new Set(['ptp', 'bridge']);

/** The standard plugins that give the pod addresses from their IPAM only: none without one. */
const ADDRESSES_FROM_IPAM = new Set(['ptp', 'bridge', 'macvlan', 'ipvlan', 'vlan']);

/** Whether a configuration's `dns` says anything (CNI's dnsConfSet, the result's IsDNSZero negated). */
function dnsSet(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Record<string, unknown>;
  const some = (x: unknown): boolean => Array.isArray(x) && x.some((e) => typeof e === 'string' && e !== '');
  return some(d.nameservers) || some(d.search) || some(d.options) || (typeof d.domain === 'string' && d.domain !== '');
}

/**
 * Whether a network's ADD result will carry DNS: `always` (ptp or bridge with a `dns` that says something),
 * `never` (ptp or bridge without one, whose IPAM is none or host-local without `resolvConf`, the only way
 * host-local gives DNS: rkt's built-in networks), else `maybe` (only the result tells).
 */
export function dnsOutlook(conf: NetConf): 'always' | 'never' | 'maybe' {
  if (!DNS_FROM_CONF_OR_IPAM.has(conf.type)) return 'maybe';
  if (dnsSet(conf.dns)) return 'always';
  const ipam = conf.ipam;
  if (ipam === undefined || ipam.type === undefined) return 'never';
  if (ipam.type === 'host-local' && ipam.resolvConf === undefined) return 'never';
  return 'maybe';
}

/** host-local's subnets: its `subnet`, and each range of its `ranges`. */
function hostLocalSubnets(ipam: Readonly<Record<string, unknown>>): string[] {
  const subnets: string[] = [];
  if (typeof ipam.subnet === 'string') subnets.push(ipam.subnet);
  if (Array.isArray(ipam.ranges)) {
    for (const set of ipam.ranges as unknown[]) {
      if (!Array.isArray(set)) continue;
      for (const r of set as unknown[]) if (typeof r === 'object' && r !== null && typeof (r as { subnet?: unknown }).subnet === 'string') subnets.push((r as { subnet: string }).subnet);
    }
  }
  return subnets;
}

/**
 * Why a network's ADD result can never name an IPv4 gateway, or undefined when it may: a standard plugin
 * that takes addresses from its IPAM only and has none (`bridge` as a plain layer-2 bridge), or host-local
 * on IPv6 subnets only. host-local gives every IPv4 range a gateway (its first address unless one is named).
 */
export function noGatewayReason(conf: NetConf): string | undefined {
  if (!ADDRESSES_FROM_IPAM.has(conf.type)) return undefined;
  const ipam = conf.ipam;
  if (ipam === undefined || ipam.type === undefined) return `plugin ${conf.type} without IPAM gives the pod no address`;
  if (ipam.type === 'host-local') {
    const subnets = hostLocalSubnets(ipam);
    if (subnets.length > 0 && subnets.every((s) => s.includes(':'))) return `its host-local IPAM has IPv6 subnets only (${subnets.join(', ')})`;
  }
  return undefined;
}

/** The network rkt chose for forwarded ports and the metadata service: the first with masquerading, else the last. */
export function forwardableIndex(nets: readonly LoadedNet[]): number {
  const i = nets.findIndex((n) => n.conf.ipMasq === true);
  return i >= 0 ? i : nets.length - 1;
}
