/**
 * rkt's DNS configuration of a pod (`rkt run --dns, --dns-search, --dns-opt, --dns-domain, --hosts-entry`):
 * what stage0 asks of the stage1 for each app's /etc/resolv.conf and /etc/hosts, the files it generates in
 * the pod directory for the stage1 to give the apps, and the checks of what goes into them. The CLI checks
 * its flags with these before anything is prepared, and a library caller's values are checked again by
 * `runPod` (a value with a space or a newline would add lines of its own to the files).
 */
import { DNS_CONF_FILES, type DnsConfMode } from './stage1-abi/dns-conf-mode.js';

/**
 * /etc/resolv.conf: the host's (`--dns=host`), the image's own (`--dns=none`: rkt's CNI results ignored; on
 * the host's network there are none, so the same as no flag), or the file stage0 generates from the flags.
 */
export type ResolvConf =
  | { readonly mode: 'host' }
  | { readonly mode: 'none' }
  | {
      readonly mode: 'stage0';
      readonly nameservers: readonly string[];
      readonly search: readonly string[];
      readonly options: readonly string[];
      readonly domain?: string;
    };

/** /etc/hosts: the host's (`--hosts-entry=host`), or localhost plus the entries given, grouped by address. */
export type HostsConf =
  | { readonly mode: 'host' }
  | { readonly mode: 'stage0'; readonly entries: ReadonlyArray<{ readonly ip: string; readonly names: readonly string[] }> };

/** A pod's DNS configuration; a file left out is the stage1's default (rkt's `default` mode). */
export interface PodDnsConf {
  readonly resolv?: ResolvConf;
  readonly hosts?: HostsConf;
}

function isIPv4(s: string): boolean {
  const parts = s.split('.');
  // No leading zeros: 010 is 8 to some parsers and 10 to others.
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

function isIPv6(s: string): boolean {
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const groups = (half: string): string[] => (half === '' ? [] : half.split(':'));
  const all = [...groups(halves[0]!), ...(halves.length === 2 ? groups(halves[1]!) : [])];
  let count = all.length;
  // A dotted IPv4 address may end it (::ffff:10.0.0.1), and counts as two groups.
  const last = all[all.length - 1];
  if (last !== undefined && last.includes('.')) {
    if (!isIPv4(last)) return false;
    all.pop();
    count++;
  }
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** An IPv4 or IPv6 address as the resolver and /etc/hosts take it (no zone: `fe80::1%eth0` is refused, as by rkt). */
export function isIpAddress(s: string): boolean {
  return s.includes(':') ? isIPv6(s) : isIPv4(s);
}

/** What is wrong with a domain or host name (a search domain, `--dns-domain`, a hosts entry's name), if anything. */
export function dnsNameProblem(name: string): string | undefined {
  // An absolute name may end with its root's dot.
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0 || bare.length > 253) return 'must be 1 to 253 characters long';
  const label = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
  return bare.split('.').every((l) => label.test(l)) ? undefined : 'must be DNS labels (letters, digits, underscores, inner hyphens; 63 at most) joined by dots';
}

/** What is wrong with a resolv.conf option (`ndots:2`, `rotate`), if anything. */
export function resolvOptionProblem(option: string): string | undefined {
  return /^[A-Za-z0-9_.-]+(:[0-9]+)?$/.test(option) ? undefined : 'must be a resolver option, NAME or NAME:NUMBER (ndots:2, rotate)';
}

/** What is wrong with a configuration a library caller gives `runPod` (the CLI's flags are checked already). */
export function podDnsConfProblem(conf: PodDnsConf): string | undefined {
  const r = conf.resolv;
  if (r?.mode === 'stage0') {
    for (const ns of r.nameservers) if (!isIpAddress(ns)) return `nameserver ${JSON.stringify(ns)} is not an IP address`;
    for (const d of [...r.search, ...(r.domain !== undefined ? [r.domain] : [])]) {
      const wrong = dnsNameProblem(d);
      if (wrong !== undefined) return `domain ${JSON.stringify(d)} ${wrong}`;
    }
    for (const o of r.options) {
      const wrong = resolvOptionProblem(o);
      if (wrong !== undefined) return `option ${JSON.stringify(o)} ${wrong}`;
    }
  }
  const h = conf.hosts;
  if (h?.mode === 'stage0') {
    for (const e of h.entries) {
      if (!isIpAddress(e.ip)) return `hosts entry ${JSON.stringify(e.ip)} is not an IP address`;
      if (e.names.length === 0) return `hosts entry ${e.ip} has no name`;
      for (const n of e.names) {
        const wrong = dnsNameProblem(n);
        if (wrong !== undefined) return `hosts entry name ${JSON.stringify(n)} ${wrong}`;
      }
    }
  }
  return undefined;
}

/** The resolv.conf stage0 generates, as rkt's did (`search`, `nameserver`s, `options`, `domain`, in that order). */
export function resolvConfText(r: Extract<ResolvConf, { mode: 'stage0' }>): string {
  return [
    '# Generated by rkt run\n\n',
    r.search.length > 0 ? `search ${r.search.join(' ')}\n` : '',
    ...r.nameservers.map((ns) => `nameserver ${ns}\n`),
    r.options.length > 0 ? `options ${r.options.join(' ')}\n` : '',
    r.domain !== undefined ? `domain ${r.domain}\n` : '',
  ].join('');
}

/**
 * The hosts file stage0 generates: localhost, then the entries, as rkt's did. The systemd stage1 adds the
 * pod's hostname to the loopback lines; fly, whose app keeps the host's hostname, gives it as it is.
 */
export function hostsText(h: Extract<HostsConf, { mode: 'stage0' }>): string {
  return [
    '# Generated by rkt run\n',
    '127.0.0.1\tlocalhost localhost.localdomain\n',
    '::1\tlocalhost ip6-localhost ip6-loopback\n',
    '\n# Added by rkt run --hosts-entry\n',
    ...h.entries.map((e) => `${e.ip}\t${e.names.join(' ')}\n`),
  ].join('');
}

/** What the stage1 is told (`--dns-conf-mode`) and the files stage0 writes into the pod directory for it. */
export function dnsConfForStage1(conf: PodDnsConf): { mode: DnsConfMode; files: Array<{ name: string; text: string }> } {
  const files: Array<{ name: string; text: string }> = [];
  if (conf.resolv?.mode === 'stage0') files.push({ name: DNS_CONF_FILES.resolv, text: resolvConfText(conf.resolv) });
  if (conf.hosts?.mode === 'stage0') files.push({ name: DNS_CONF_FILES.hosts, text: hostsText(conf.hosts) });
  return { mode: { resolv: conf.resolv?.mode ?? 'default', hosts: conf.hosts?.mode ?? 'default' }, files };
}
