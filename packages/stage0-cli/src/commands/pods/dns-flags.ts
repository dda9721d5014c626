import { dnsNameProblem, isIpAddress, resolvOptionProblem, type HostsConf, type PodDnsConf, type ResolvConf } from '@rkt/controller/lean';
import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { DNS_FLAG_NAMES } from './flags.js';

/** rkt run's DNS flags as given: every occurrence of the repeatable ones, `--dns-domain` when given. */
export interface DnsFlagValues {
  readonly dns: readonly string[];
  readonly dnsSearch: readonly string[];
  readonly dnsOpt: readonly string[];
  readonly dnsDomain?: string;
  readonly hostsEntry: readonly string[];
}

/** A value as the user gave it, quoted when it holds what would break the line (nothing, a space, a newline). */
function shown(value: string): string {
  return /^[\x21-\x7e]+$/.test(value) ? value : JSON.stringify(value);
}

function bad(flag: string, value: string, problem: string): CliError {
  return new CliError('CLI_BAD_FLAG_VALUE', `--${flag}=${shown(value)}: ${problem}`);
}

/**
 * rkt's parseDNSFlags, with its checks made before anything is prepared (rkt made them after the pod was):
 * `--dns` takes addresses (repeated, or comma-separated within one value) or one of `host` and `none` alone;
 * `--dns-search`, `--dns-opt` and `--dns-domain` go into the generated file, so not with `host` or `none`;
 * `--hosts-entry` takes `IP=HOSTNAME` entries (likewise) or `host` alone, and a name given for an address
 * already named joins its line. Each value must be what resolv.conf or /etc/hosts can take as one word:
 * one with a space or a newline would add lines of its own. Undefined when no flag is given.
 */
export function parseDnsFlags(v: DnsFlagValues): PodDnsConf | undefined {
  let resolv: ResolvConf | undefined;
  const nameservers: string[] = [];
  for (const given of v.dns) {
    if (given === 'host' || given === 'none') {
      const other = v.dns.find((d) => d !== given) ?? given;
      if (v.dns.length > 1) throw bad('dns', given, `no other --dns may be given with it (--dns=${shown(other)})`);
      resolv = { mode: given };
      continue;
    }
    for (const ns of given.split(',')) {
      if (ns === 'host' || ns === 'none') throw bad('dns', given, `${ns} must be given alone`);
      if (!isIpAddress(ns)) throw bad('dns', given, `${shown(ns)} is not an IP address`);
      nameservers.push(ns);
    }
  }
  const generated: Array<[string, string]> = [
    ...v.dnsSearch.map((s): [string, string] => ['dns-search', s]),
    ...v.dnsOpt.map((o): [string, string] => ['dns-opt', o]),
    ...(v.dnsDomain !== undefined ? [['dns-domain', v.dnsDomain] as [string, string]] : []),
  ];
  for (const [flag, value] of generated) {
    if (resolv !== undefined) {
      const why = resolv.mode === 'host' ? "the host's file is given as it is" : "each image's own file is left as it is";
      throw bad(flag, value, `cannot be given with --dns=${resolv.mode}: ${why}`);
    }
    const wrong = flag === 'dns-opt' ? resolvOptionProblem(value) : dnsNameProblem(value);
    if (wrong !== undefined) throw bad(flag, value, wrong);
  }
  if (nameservers.length > 0 || generated.length > 0) {
    resolv = {
      mode: 'stage0',
      nameservers,
      search: [...v.dnsSearch],
      options: [...v.dnsOpt],
      ...(v.dnsDomain !== undefined ? { domain: v.dnsDomain } : {}),
    };
  }

  let hosts: HostsConf | undefined;
  const byAddress = new Map<string, string[]>();
  for (const given of v.hostsEntry) {
    if (given === 'host') {
      const other = v.hostsEntry.find((e) => e !== given) ?? given;
      if (v.hostsEntry.length > 1) throw bad('hosts-entry', given, `no other --hosts-entry may be given with it (--hosts-entry=${shown(other)})`);
      hosts = { mode: 'host' };
      continue;
    }
    for (const entry of given.split(',')) {
      if (entry === 'host') throw bad('hosts-entry', given, 'host must be given alone');
      const eq = entry.indexOf('=');
      if (eq < 0) throw bad('hosts-entry', given, `${shown(entry)} is not IP=HOSTNAME`);
      const ip = entry.slice(0, eq);
      const name = entry.slice(eq + 1);
      if (!isIpAddress(ip)) throw bad('hosts-entry', given, `${shown(ip)} is not an IP address`);
      const wrong = dnsNameProblem(name);
      if (wrong !== undefined) throw bad('hosts-entry', given, `host name ${shown(name)} ${wrong}`);
      const names = byAddress.get(ip);
      if (names !== undefined) names.push(name);
      else byAddress.set(ip, [name]);
    }
  }
  if (byAddress.size > 0) hosts = { mode: 'stage0', entries: [...byAddress].map(([ip, names]) => ({ ip, names })) };

  if (resolv === undefined && hosts === undefined) return undefined;
  return { ...(resolv !== undefined ? { resolv } : {}), ...(hosts !== undefined ? { hosts } : {}) };
}

/** rkt run's and run-prepared's DNS flags, checked: undefined when none is given (the stage1's default). */
export function dnsFlags(ctx: CommandContext): PodDnsConf | undefined {
  if (!DNS_FLAG_NAMES.some((f) => ctx.flags.changed(f))) return undefined;
  return parseDnsFlags({
    dns: ctx.flags.strings('dns'),
    dnsSearch: ctx.flags.strings('dns-search'),
    dnsOpt: ctx.flags.strings('dns-opt'),
    ...(ctx.flags.changed('dns-domain') ? { dnsDomain: ctx.flags.string('dns-domain') } : {}),
    hostsEntry: ctx.flags.strings('hosts-entry'),
  });
}
