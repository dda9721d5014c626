import { CniError } from './errors.js';

/** What the runtime keeps of a plugin's ADD result: the pod's IPv4 address on the network, its mask, the gateway. */
export interface AddResult {
  readonly ip: string;
  readonly mask: string;
  readonly gateway?: string;
  /** The result as the plugin gave it: a DEL of CNI 0.4.0 or later gets it back as `prevResult`. */
  readonly raw: Record<string, unknown>;
}

/** A prefix length as a dotted IPv4 mask (`24` -> `255.255.255.0`), as rkt's JSON showed the mask. */
export function prefixToMask(prefix: number): string {
  const bits = prefix <= 0 ? 0 : (0xffffffff << (32 - Math.min(prefix, 32))) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 255).join('.');
}

function splitCidr(cidr: unknown, network: string): { ip: string; mask: string } | undefined {
  if (typeof cidr !== 'string') return undefined;
  const m = /^([0-9]{1,3}(?:\.[0-9]{1,3}){3})\/([0-9]{1,2})$/.exec(cidr);
  if (m === null) {
    // IPv6 only: rkt's listing shows IPv4 addresses.
    if (cidr.includes(':')) return undefined;
    throw new CniError('CNI_PLUGIN', `network "${network}": the plugin's result has an address that is not CIDR: ${JSON.stringify(cidr)}`);
  }
  return { ip: m[1]!, mask: prefixToMask(Number(m[2])) };
}

/**
 * The pod's address from an ADD result of any CNI version: `ip4.ip` (0.1.0, 0.2.0) or the first IPv4 entry of
 * `ips` (0.3.0 and later). A result without an IPv4 address (an IPv6-only network, a plugin that set none up)
 * has ip '' as rkt kept it.
 */
export function parseAddResult(stdout: string, network: string): AddResult {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new CniError('CNI_PLUGIN', `network "${network}": the plugin's result is not JSON: ${JSON.stringify(stdout.trim().slice(0, 200))}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CniError('CNI_PLUGIN', `network "${network}": the plugin's result is not a JSON object`);
  const raw = doc as Record<string, unknown>;
  const candidates: Array<{ address: unknown; gateway: unknown }> = [];
  const ip4 = raw.ip4 as { ip?: unknown; gateway?: unknown } | undefined;
  if (typeof ip4 === 'object' && ip4 !== null) candidates.push({ address: ip4.ip, gateway: ip4.gateway });
  if (Array.isArray(raw.ips)) for (const e of raw.ips as Array<{ address?: unknown; gateway?: unknown }>) if (typeof e === 'object' && e !== null) candidates.push({ address: e.address, gateway: e.gateway });
  for (const c of candidates) {
    const addr = splitCidr(c.address, network);
    if (addr !== undefined) return { ...addr, ...(typeof c.gateway === 'string' ? { gateway: c.gateway } : {}), raw };
  }
  return { ip: '', mask: '', raw };
}

/**
 * A plugin's failure in one line: its CNI error's `msg` (and `details`, as rkt added them), or what it wrote
 * when that is not a CNI error.
 */
export function pluginFailure(stdout: string, stderr: string, status: string): string {
  try {
    const e = JSON.parse(stdout) as { msg?: unknown; details?: unknown };
    if (typeof e.msg === 'string') return `${e.msg}${typeof e.details === 'string' && e.details !== '' ? `; ${e.details}` : ''}`;
  } catch {
    // Not JSON: said below.
  }
  const said = `${stdout}\n${stderr}`.trim().split('\n').filter((l) => l.trim() !== '').join(' ').slice(0, 300);
  return said !== '' ? `${status}: ${said}` : status;
}
