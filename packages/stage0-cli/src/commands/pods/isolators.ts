/**
 * rkt's per-app isolator flags (`--memory`, `--cpu`, `--cpu-shares`, `--oom-score-adj`, `--caps-retain`,
 * `--caps-remove`, `--seccomp`) as appc isolators for the runtime app, each value checked here so that a
 * typo fails `rkt run` with one line naming the flag and what is wrong, before anything is prepared.
 * Kept free of zod: this runs on every `rkt run`.
 */
import { CliError } from '../../errors.js';
import { ERRNO_NAMES, NameSet, SYSCALL_NAMES } from '@rkt/controller/lean';

export interface Isolator {
  readonly name: string;
  readonly value: unknown;
}

/** The isolator flags of one app, as given (undefined: not given). */
export interface IsolatorFlagValues {
  memory?: string;
  cpu?: string;
  cpuShares?: string;
  oomScoreAdj?: string;
  capsRetain?: string;
  capsRemove?: string;
  seccomp?: string;
}

/** Flag name -> key, for the per-app flags after `---`. */
export const ISOLATOR_FLAG_KEYS: Readonly<Record<string, keyof IsolatorFlagValues>> = {
  memory: 'memory',
  cpu: 'cpu',
  'cpu-shares': 'cpuShares',
  'oom-score-adj': 'oomScoreAdj',
  'caps-retain': 'capsRetain',
  'caps-remove': 'capsRemove',
  seccomp: 'seccomp',
};

/** Linux capabilities (capability.h), the names appc capability sets use; split on the first --caps-retain or --caps-remove. */
const CAPABILITIES: ReadonlySet<string> = new NameSet(
  `CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP
  CAP_LINUX_IMMUTABLE CAP_NET_BIND_SERVICE CAP_NET_BROADCAST CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_IPC_OWNER
  CAP_SYS_MODULE CAP_SYS_RAWIO CAP_SYS_CHROOT CAP_SYS_PTRACE CAP_SYS_PACCT CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_NICE
  CAP_SYS_RESOURCE CAP_SYS_TIME CAP_SYS_TTY_CONFIG CAP_MKNOD CAP_LEASE CAP_AUDIT_WRITE CAP_AUDIT_CONTROL CAP_SETFCAP
  CAP_MAC_OVERRIDE CAP_MAC_ADMIN CAP_SYSLOG CAP_WAKE_ALARM CAP_BLOCK_SUSPEND CAP_AUDIT_READ CAP_PERFMON CAP_BPF
  CAP_CHECKPOINT_RESTORE`,
);

/** The wildcards rkt's seccomp sets accept besides syscall names. */
const SECCOMP_WILDCARD = /^@(?:appc\.io\/(?:all|empty)|rkt\/default-(?:whitelist|blacklist)|docker\/default-(?:whitelist|blacklist)|systemd\/[a-z-]+)$/;

const QUANTITY = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[numkKMGTPE]|[KMGTPE]i|[eE][+-]?[0-9]+)?$/;

function bad(flag: string, raw: string, why: string): CliError {
  return new CliError('CLI_BAD_FLAG_VALUE', `--${flag}=${raw}: ${why}`);
}

function quantity(flag: string, raw: string, example: string): string {
  if (!QUANTITY.test(raw)) throw bad(flag, raw, `not a quantity with a unit such as ${example} (suffixes m, k, M, G, T, Ki, Mi, Gi, Ti)`);
  if (/^[0.]*(?:[a-zA-Z].*)?$/.test(raw)) throw bad(flag, raw, 'must be more than zero');
  return raw;
}

function integer(flag: string, raw: string, min: number, max: number): number {
  if (!/^[+-]?[0-9]+$/.test(raw)) throw bad(flag, raw, 'not an integer');
  const n = Number(raw);
  if (n < min || n > max) throw bad(flag, raw, `must be from ${min} to ${max}`);
  return n;
}

/** A capability list (`CAP_NET_RAW,CAP_KILL`; the `CAP_` prefix and case are optional) in appc's names. */
export function parseCapabilities(flag: string, raw: string): string[] {
  const names = raw.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) throw bad(flag, raw, 'an empty capability name');
  return [
    ...new Set(
      names.map((n) => {
        const name = n.toUpperCase().startsWith('CAP_') ? n.toUpperCase() : `CAP_${n.toUpperCase()}`;
        if (!CAPABILITIES.has(name)) throw bad(flag, raw, `unknown capability ${JSON.stringify(n)}`);
        return name;
      }),
    ),
  ];
}

/** rkt's `--seccomp mode=retain|remove[,errno=ENAME],SYSCALL...` as its isolator. */
export function parseSeccomp(raw: string): Isolator {
  let mode: string | undefined;
  let errno: string | undefined;
  const set: string[] = [];
  for (const item of raw.split(',').map((s) => s.trim())) {
    if (item.startsWith('mode=')) {
      mode = item.slice('mode='.length);
      if (mode !== 'retain' && mode !== 'remove') throw bad('seccomp', raw, `mode must be retain or remove, not ${JSON.stringify(mode)}`);
    } else if (item.startsWith('errno=')) {
      errno = item.slice('errno='.length);
      if (!/^E[A-Z0-9]+$/.test(errno)) throw bad('seccomp', raw, `errno ${JSON.stringify(errno)} is not an errno name such as ENOTSUP`);
      if (!ERRNO_NAMES.has(errno)) throw bad('seccomp', raw, `unknown errno ${JSON.stringify(errno)}`);
    } else if (item === '') {
      throw bad('seccomp', raw, 'an empty syscall name');
    } else if (SYSCALL_NAMES.has(item) || SECCOMP_WILDCARD.test(item)) {
      set.push(item);
    } else {
      throw bad('seccomp', raw, `unknown syscall ${JSON.stringify(item)}`);
    }
  }
  if (mode === undefined) throw bad('seccomp', raw, 'needs mode=retain or mode=remove');
  if (set.length === 0) throw bad('seccomp', raw, 'names no syscall');
  return { name: `os/linux/seccomp-${mode}-set`, value: { set, ...(errno !== undefined ? { errno } : {}) } };
}

/** The isolators an app's flags ask for, in a fixed order. */
export function isolatorsFromFlags(v: IsolatorFlagValues): Isolator[] {
  const out: Isolator[] = [];
  if (v.memory !== undefined) {
    const q = quantity('memory', v.memory, '512M');
    out.push({ name: 'resource/memory', value: { request: q, limit: q } });
  }
  if (v.cpu !== undefined) {
    const q = quantity('cpu', v.cpu, '500m');
    out.push({ name: 'resource/cpu', value: { request: q, limit: q } });
  }
  if (v.cpuShares !== undefined) out.push({ name: 'os/linux/cpu-shares', value: integer('cpu-shares', v.cpuShares, 2, 262144) });
  if (v.oomScoreAdj !== undefined) out.push({ name: 'os/linux/oom-score-adj', value: integer('oom-score-adj', v.oomScoreAdj, -1000, 1000) });
  if (v.capsRetain !== undefined && v.capsRemove !== undefined) {
    throw new CliError('CLI_BAD_FLAG_VALUE', '--caps-retain and --caps-remove cannot be given together for one app');
  }
  if (v.capsRetain !== undefined) out.push({ name: 'os/linux/capabilities-retain-set', value: { set: parseCapabilities('caps-retain', v.capsRetain) } });
  if (v.capsRemove !== undefined) out.push({ name: 'os/linux/capabilities-remove-set', value: { set: parseCapabilities('caps-remove', v.capsRemove) } });
  if (v.seccomp !== undefined) out.push(parseSeccomp(v.seccomp));
  return out;
}
