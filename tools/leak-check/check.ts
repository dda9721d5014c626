// The leak check of a test run: what the machine held before any test, compared with what it holds after
// the last one. Only what this run can be shown to own fails the run; anything new that may belong to
// another run on the machine (helpers test concurrently in their own worktrees) is listed as a warning.
//
// Ownership: the run gets its own TMPDIR and /var/tmp directory (every test and every process it starts
// inherits them), its processes carry RKT_TEST_RUN in their environment, and the pod UUIDs it made are
// collected from its data directories while it runs (a pod's netns, cgroups and CNI rules are named by it).
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupPopulated, cniCallCgroups, cniChains, ipamLeases, links, mountPoints, netnsNames, nspawnRunEntries, podCgroups, processes, UUID_RE, walkDirs, type Proc } from './state.js';

/** The environment variable every process of the run inherits; its value is the run's temp dir. */
export const RUN_MARKER = 'RKT_TEST_RUN';
/** The run's directory under /var/tmp, for tests that need a disk filesystem rather than os.tmpdir(). */
export const VAR_TMP_VAR = 'RKT_TEST_VAR_TMP';

/** Names of temp entries tests make (os.tmpdir() and /var/tmp): new ones outside the run's dirs are warned about. */
const TEST_TEMP_NAME = /^(rkt-|stage1-|controller-|fly-run-|etc-files-|appc-|app-flags-|cni-test-|nspawn-volatile-)/;
/**
 * portmap's shared chains, every CNI runtime's on the host, stay once any pod has used a port mapping: the
 * reference plugin never removes them, and neither does rkt-ts (why: @rkt/cni's README, `portMappings`).
 */
const SHARED_CHAIN = /\/CNI-HOSTPORT-/;

export interface Snapshot {
  mounts: Set<string>;
  netns: Set<string>;
  links: Set<string>;
  chains: Set<string>;
  cgroups: Set<string>;
  leases: Set<string>;
  nspawn: Set<string>;
  procs: Set<string>;
  temps: Set<string>;
}

export interface Leaks {
  /** Owned by this run: the run fails. */
  owned: string[];
  /** New, but perhaps another run's: reported only. */
  unattributed: string[];
}

const procKey = (p: Proc): string => `${p.pid}/${p.start}`;

function tempEntries(baseTmp: string): string[] {
  const found: string[] = [];
  for (const dir of [baseTmp, '/var/tmp']) {
    try {
      for (const name of readdirSync(dir)) if (TEST_TEMP_NAME.test(name)) found.push(join(dir, name));
    } catch {
      // Missing.
    }
  }
  return found;
}

export function snapshot(baseTmp: string): Snapshot {
  return {
    mounts: new Set(mountPoints()),
    netns: new Set(netnsNames()),
    links: new Set(links()),
    chains: new Set(cniChains().keys()),
    cgroups: new Set([...podCgroups(), ...cniCallCgroups()]),
    leases: new Set(ipamLeases().keys()),
    nspawn: new Set(nspawnRunEntries()),
    procs: new Set(processes().map(procKey)),
    temps: new Set(tempEntries(baseTmp)),
  };
}

export class LeakCheck {
  readonly tmpDir: string;
  readonly varTmpDir: string;
  private readonly before: Snapshot;
  private readonly uuids = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly baseTmp: string,
    /** The repository: mounts below it are the run's too (nothing else mounts in a worktree). */
    private readonly repoRoot: string,
  ) {
    this.before = snapshot(baseTmp);
    // Short names: unix sockets under the temp dir must stay within 108 bytes.
    this.tmpDir = mkdtempSync(join(baseTmp, 'rkt-run-'));
    this.varTmpDir = mkdtempSync('/var/tmp/rkt-run-');
    // As /tmp and /var/tmp are: a pod's user namespace (shifted uids) must reach its rootfs below them.
    for (const d of this.ownDirs()) chmodSync(d, 0o1777);
    // Pods live from `prepare` to `gc`; polling the run's data dirs sees every pod a test waits on.
    this.timer = setInterval(() => this.collectUuids(), 200);
    this.timer.unref();
  }

  private ownDirs(): string[] {
    return [this.tmpDir, this.varTmpDir];
  }

  /** UUIDs of pods under the run's dirs: `<data dir>/pods/<state>/<uuid>`, data dirs a few levels down. */
  collectUuids(): void {
    for (const d of this.ownDirs()) {
      walkDirs(d, 4, (path, name) => {
        if (name !== 'pods') return name !== 'cas' && name !== 'node_modules' && name !== 'rootfs';
        for (const state of readdirSafe(path)) {
          for (const pod of readdirSafe(join(path, state))) if (/^[0-9a-f-]{36}$/.test(pod)) this.uuids.add(pod);
        }
        return false;
      });
    }
  }

  private ownsUuidIn(text: string): boolean {
    return [...text.matchAll(UUID_RE)].some((m) => this.uuids.has(m[0]));
  }

  private under(path: string): boolean {
    return [...this.ownDirs(), this.repoRoot].some((d) => path === d || path.startsWith(`${d}/`));
  }

  /** Whether a process is this run's: in its tree, started with its environment, working in its temp dirs, or in its pods' cgroups. */
  private ownsProcess(p: Proc, descendants: Set<number>): boolean {
    return (
      descendants.has(p.pid) ||
      p.environ.split('\0').includes(`${RUN_MARKER}=${this.tmpDir}`) ||
      this.ownDirs().some((d) => p.cmdline.includes(d)) ||
      // Not the worktree: a shell or a typecheck started there beside the run is not the run's.
      this.ownDirs().some((d) => p.cwd === d || p.cwd.startsWith(`${d}/`)) ||
      this.ownsUuidIn(p.cgroup)
    );
  }

  /**
   * Whether a CNI plugin call of the run's (a process with CNI_COMMAND in its environment) still runs: a killed
   * `rkt run` leaves its plugin to finish on its own (under timeout(1), up to its deadline), and an ADD makes
   * its masquerading chain and lease when it finishes, after a look that came earlier would have missed them.
   */
  cniPluginsRunning(): boolean {
    const procs = processes();
    const descendants = descendantsOf(procs);
    return procs.some((p) => p.environ.split('\0').some((e) => e.startsWith('CNI_COMMAND=')) && this.ownsProcess(p, descendants));
  }

  /** What the run left, compared with the snapshot taken before it. */
  leaks(): Leaks {
    this.collectUuids();
    const owned: string[] = [];
    const unattributed: string[] = [];
    const sort = (owns: boolean, line: string): void => {
      (owns ? owned : unattributed).push(line);
    };

    for (const m of mountPoints()) {
      if (this.before.mounts.has(m)) continue;
      sort(this.under(m) || this.ownsUuidIn(m), `mount: ${m}`);
    }
    for (const n of netnsNames()) {
      if (!this.before.netns.has(n)) sort(this.ownsUuidIn(n), `network namespace: /run/netns/${n}`);
    }
    for (const c of [...podCgroups(), ...cniCallCgroups()]) {
      if (!this.before.cgroups.has(c)) sort(this.ownsUuidIn(c), `cgroup: ${c}${cgroupPopulated(c) ? ' (with processes)' : ''}`);
    }
    for (const [chain, rules] of cniChains()) {
      if (this.before.chains.has(chain) || SHARED_CHAIN.test(chain)) continue;
      sort(rules.some((r) => this.ownsUuidIn(r)), `iptables chain: ${chain}${rules[0] !== undefined ? ` (${rules[0]})` : ''}`);
    }
    for (const [lease, holder] of ipamLeases()) {
      if (!this.before.leases.has(lease)) sort(this.ownsUuidIn(holder), `IPAM lease: ${lease} (${holder.replace(/\s+/g, ' ')})`);
    }
    for (const e of nspawnRunEntries()) {
      if (!this.before.nspawn.has(e)) sort(this.ownsUuidIn(e), `systemd-nspawn's: ${e}`);
    }
    for (const l of links()) {
      // A link names no pod: a veth goes with its netns, a bridge is made by a test's network configuration.
      if (!this.before.links.has(l)) unattributed.push(`link: ${l}`);
    }

    const procs = processes();
    const descendants = descendantsOf(procs);
    const toolchain = join(this.repoRoot, 'node_modules') + '/';
    for (const p of procs) {
      // vitest's own workers (and vite's esbuild) are still up while global teardowns run: children of
      // this process started from node_modules.
      if (p.pid === process.pid || this.before.procs.has(procKey(p)) || (p.ppid === process.pid && p.cmdline.includes(toolchain)) || p.cmdline === '') continue;
      if (this.ownsProcess(p, descendants)) owned.push(`process ${p.pid}: ${p.cmdline} (cwd ${p.cwd})`);
    }

    for (const dir of this.ownDirs()) {
      for (const name of readdirSafe(dir)) {
        // The pod tests' per-run stage1 links, removed by the integration project's own teardown.
        if (/^rkt-stage1s-[0-9]+$/.test(name)) continue;
        owned.push(`temp: ${join(dir, name)}`);
      }
    }
    for (const t of tempEntries(this.baseTmp)) {
      if (!this.before.temps.has(t) && !this.ownDirs().includes(t)) unattributed.push(`temp: ${t}`);
    }
    return { owned, unattributed };
  }

  /**
   * Stops watching and removes the run's dirs, unless something is still mounted below them (then
   * removing would reach through the mount into whatever it shows). Returns the dirs it had to keep.
   */
  close(): string[] {
    clearInterval(this.timer);
    this.timer = undefined;
    const mounts = mountPoints();
    const kept: string[] = [];
    for (const dir of this.ownDirs()) {
      if (mounts.some((m) => m === dir || m.startsWith(`${dir}/`))) kept.push(dir);
      else if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    }
    return kept;
  }
}

/** The pids below this process in the process tree. */
function descendantsOf(procs: readonly Proc[]): Set<number> {
  const children = new Map<number, number[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const descendants = new Set<number>();
  const queue = [process.pid];
  while (queue.length > 0) for (const c of children.get(queue.pop()!) ?? []) if (!descendants.has(c)) descendants.add(c), queue.push(c);
  return descendants;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
