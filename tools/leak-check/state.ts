// Reads the parts of the machine a test run can leave things in: mounts, network namespaces, links,
// iptables chains, pod cgroups and processes. Every reader returns plain strings or records so that a
// snapshot taken before the run can be compared with one taken after it; a reader whose tool is missing
// returns nothing rather than failing the run.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** A pod's UUID, as rkt names its directory, netns (`rkt-UUID`), cgroups and CNI rules. */
export const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Decodes mountinfo's octal escapes (`\040` for a space). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points of the host's mount namespace (the vitest process's own). */
export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => unescapeMount(l.split(' ')[4] ?? ''));
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Named network namespaces (`ip netns` lists /run/netns). */
export function netnsNames(): string[] {
  return list('/run/netns');
}

/** veth and bridge links of the host's network namespace: `name (kind)`. */
export function links(): string[] {
  const r = spawnSync('ip', ['-o', '-d', 'link', 'show'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const found: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const name = /^[0-9]+: ([^:@ ]+)/.exec(line)?.[1];
    const kind = / (veth|bridge) /.exec(line)?.[1];
    if (name !== undefined && kind !== undefined) found.push(`${name} (${kind})`);
  }
  return found;
}

/** CNI's nat and filter chains with the rules that jump to or live in them (their comments name the pod). */
export function cniChains(): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  for (const table of ['nat', 'filter']) {
    const r = spawnSync('iptables-save', ['-t', table], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    for (const line of r.stdout.split('\n')) {
      const declared = /^:(CNI-[^ ]+)/.exec(line)?.[1];
      if (declared !== undefined) chains.set(`${table}/${declared}`, chains.get(`${table}/${declared}`) ?? []);
      for (const m of line.matchAll(/(?:-A|-j|-g) (CNI-[^ ]+)/g)) {
        const key = `${table}/${m[1]}`;
        chains.set(key, [...(chains.get(key) ?? []), line]);
      }
    }
  }
  return chains;
}

/**
 * Walks the directories below `root`, `maxDepth` levels down (the root's entries are at depth 0): `visit` gets
 * each one's path and name and says whether to go into it. A directory that cannot be read is passed over.
 */
export function walkDirs(root: string, maxDepth: number, visit: (path: string, name: string) => boolean): void {
  const walk = (dir: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const path = join(dir, e.name);
      if (visit(path, e.name) && depth < maxDepth) walk(path, depth + 1);
    }
  };
  walk(root, 0);
}

/**
 * Pod cgroups in every hierarchy: `rkt-UUID` (nspawn's and the isolators') and machined's
 * `machine-rkt\x2dUUID.scope`, searched a few levels down (they sit below the cgroup of whoever ran rkt).
 */
export function podCgroups(): string[] {
  const found: string[] = [];
  walkDirs('/sys/fs/cgroup', 5, (path, name) => {
    if (!/^rkt-[0-9a-f-]{36}$/.test(name) && !/^machine-rkt\\x2d.*\.scope$/.test(name)) return true;
    found.push(path);
    return false;
  });
  return found;
}

/**
 * The cgroups of CNI plugin calls (@rkt/cni's `rkt-ts-cni/CONTAINERID.PID.START.N` at the root of a hierarchy:
 * cgroup2's, `/sys/fs/cgroup` on a v2-only host, `/sys/fs/cgroup/unified` on a hybrid one, and the v1
 * freezer's, which an earlier rkt-ts used), looked for at every cgroup mount of /proc/self/mountinfo: each
 * removed when its call ends, or swept once its plugin has exited after its caller was killed; one left names
 * its pod.
 */
export function cniCallCgroups(): string[] {
  const found: string[] = [];
  let mountinfo: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return found;
  }
  const roots = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash >= 5 && (fields[dash + 1] === 'cgroup' || fields[dash + 1] === 'cgroup2')) roots.add(unescapeMount(fields[4]!));
  }
  for (const root of roots) {
    const parent = join(root, 'rkt-ts-cni');
    try {
      for (const e of readdirSync(parent, { withFileTypes: true })) if (e.isDirectory()) found.push(join(parent, e.name));
    } catch {
      // No such parent in this hierarchy.
    }
  }
  return found;
}

/** Whether a cgroup (in any hierarchy) still holds a process. */
export function cgroupPopulated(dir: string): boolean {
  const procs = (d: string): boolean => {
    try {
      if (readFileSync(join(d, 'cgroup.procs'), 'utf8').trim() !== '') return true;
      return readdirSync(d, { withFileTypes: true }).some((e) => e.isDirectory() && procs(join(d, e.name)));
    } catch {
      return false;
    }
  };
  return procs(dir);
}

export interface Proc {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: with the pid, tells a process from a later one that reused its pid. */
  start: string;
  cmdline: string;
  cwd: string;
  environ: string;
  cgroup: string;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Every process on the machine (those that exit while being read are skipped). */
export function processes(): Proc[] {
  const found: Proc[] = [];
  for (const p of list('/proc')) {
    if (!/^[0-9]+$/.test(p)) continue;
    const stat = read(`/proc/${p}/stat`);
    if (stat === '') continue;
    // The command name (field 2) may hold spaces and parentheses: the fields after the last ')' are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let cwd = '';
    try {
      cwd = readlinkSync(`/proc/${p}/cwd`);
    } catch {
      // A kernel thread, or gone.
    }
    found.push({
      pid: Number(p),
      ppid: Number(rest[1]),
      start: rest[19] ?? '',
      cmdline: read(`/proc/${p}/cmdline`).replace(/\0/g, ' ').trim(),
      cwd,
      environ: read(`/proc/${p}/environ`),
      cgroup: read(`/proc/${p}/cgroup`),
    });
  }
  return found;
}

/**
 * host-local IPAM's leases outside the run's data dirs (`/run/rkt/networks/NET/IP`, `/var/lib/rkt/networks`):
 * `path` to the lease's content, which names the pod's UUID.
 */
export function ipamLeases(): Map<string, string> {
  const leases = new Map<string, string>();
  for (const root of ['/run/rkt/networks', '/var/lib/rkt/networks']) {
    for (const net of list(root)) {
      for (const f of list(join(root, net))) {
        if (f === 'lock' || f.startsWith('last_reserved_ip')) continue;
        leases.set(join(root, net, f), read(join(root, net, f)).trim());
      }
    }
  }
  return leases;
}

/** What systemd-nspawn keeps per machine under /run/systemd/nspawn (`propagate/rkt-UUID`, `unix-export/...`). */
export function nspawnRunEntries(): string[] {
  return list('/run/systemd/nspawn').flatMap((d) => list(join('/run/systemd/nspawn', d)).map((e) => join('/run/systemd/nspawn', d, e)));
}
