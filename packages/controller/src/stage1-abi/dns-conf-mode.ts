/**
 * The run entrypoint's `--dns-conf-mode=resolv=MODE,hosts=MODE` (stage1 interface version 4, as rkt's): how
 * the stage1 sets up each app's /etc/resolv.conf and /etc/hosts. `host`: the host's file; `stage0`: the file
 * stage0 generated in the pod directory (DNS_CONF_FILES); `none` (resolv.conf only): none from rkt, the
 * image's own; `default`: what the stage1 does without the argument. Stage0 passes it only when one of
 * `rkt run`'s DNS flags was given, so a stage1 of an older interface never sees it.
 */

export const RESOLV_CONF_MODES = ['host', 'stage0', 'none', 'default'] as const;
export const HOSTS_MODES = ['host', 'stage0', 'default'] as const;
export type ResolvConfMode = (typeof RESOLV_CONF_MODES)[number];
export type HostsMode = (typeof HOSTS_MODES)[number];

export interface DnsConfMode {
  readonly resolv: ResolvConfMode;
  readonly hosts: HostsMode;
}

/** The files stage0 writes in the pod directory for the `stage0` modes (rkt wrote them into the stage1's rootfs). */
export const DNS_CONF_FILES = { resolv: 'rkt-resolv.conf', hosts: 'rkt-hosts' } as const;

/** The argument's value: `resolv=stage0,hosts=default`. */
export function formatDnsConfMode(m: DnsConfMode): string {
  return `resolv=${m.resolv},hosts=${m.hosts}`;
}

/** Reads the argument's value, a key left out being `default`; throws one line naming what is wrong. */
export function parseDnsConfMode(value: string): DnsConfMode {
  let resolv: ResolvConfMode = 'default';
  let hosts: HostsMode = 'default';
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const mode = eq < 0 ? '' : pair.slice(eq + 1);
    if (key === 'resolv' && (RESOLV_CONF_MODES as readonly string[]).includes(mode)) resolv = mode as ResolvConfMode;
    else if (key === 'hosts' && (HOSTS_MODES as readonly string[]).includes(mode)) hosts = mode as HostsMode;
    else {
      const known = `resolv=(${RESOLV_CONF_MODES.join('|')}) or hosts=(${HOSTS_MODES.join('|')})`;
      throw new Error(`--dns-conf-mode=${JSON.stringify(value)}: ${JSON.stringify(pair)} is not ${known}`);
    }
  }
  return { resolv, hosts };
}
