/**
 * What a pod's isolators need of the host and of its systemd-nspawn: the app units' directives
 * (isolators.ts), capabilities nspawn would otherwise drop, and cgroup controllers the pod's systemd can
 * write to.
 *
 * Why the cgroup layout changes for resource isolators: on a hybrid host (cgroup v1 controllers, a v2
 * hierarchy beside them) the memory and cpu controllers are bound to v1 and cannot be enabled in v2, so a
 * pod booted with nspawn's unified layout has no controllers at all. A pod with resource isolators is
 * booted with the host's hybrid layout instead (the legacy one where the host has no v2 hierarchy: there
 * the pod's systemd does not learn that a cgroup emptied, see units.ts's needsReaper), and its own cgroup
 * of each needed v1 controller (rkt-UUID below the run entrypoint's) is bound writable where nspawn would
 * mount that hierarchy read-only: nspawn leaves an existing mount point alone, and inside the pod's cgroup
 * namespace that cgroup is the root.
 * The pod's systemd then puts each app in its own cgroup there and writes its limits, as rkt's stage1
 * did with its writable pod cgroups.
 */
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeCgroupTree } from './cgroups.js';
import { appDirectives, appIsolation, CAPABILITIES, IsolatorError, neededControllers, NSPAWN_CAPABILITIES, type AppIsolation, type InsecureIsolation, type IsolationHost, type Isolator } from './isolators.js';

type Controller = 'memory' | 'cpu';

/** The v1 hierarchies of this process: controller name -> mount point and this process's path in it. */
function v1Hierarchies(): Map<string, { root: string; path: string }> {
  const out = new Map<string, { root: string; path: string }>();
  let text: string;
  try {
    text = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.trim().split('\n')) {
    const [, field, path] = line.split(':') as [string, string, string];
    if (field === '' || field.startsWith('name=')) continue;
    const root = join('/sys/fs/cgroup', field);
    if (!existsSync(join(root, 'cgroup.procs'))) continue;
    for (const c of field.split(',')) out.set(c, { root, path });
  }
  return out;
}

/** The capabilities in this process's bounding set (/proc/self/status CapBnd). */
function boundingSet(): Set<string> {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const mask = BigInt(`0x${m?.[1] ?? '0'}`);
  return new Set(CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n));
}

/** The v1 hierarchies a pod may have cgroups in for its resource isolators: gc looks there for a killed run's leftovers. */
export function isolationHierarchyRoots(): string[] {
  const v1 = v1Hierarchies();
  return [...new Set(['memory', 'cpu', 'cpuacct'].flatMap((c) => v1.get(c)?.root ?? []))];
}

export function isolationHost(): IsolationHost {
  const v1 = v1Hierarchies();
  const controllers = new Set<Controller>((['memory', 'cpu'] as const).filter((c) => v1.has(c)));
  const missing = (['memory', 'cpu'] as const).filter((c) => !v1.has(c));
  return {
    controllers,
    hybrid: existsSync('/sys/fs/cgroup/unified/cgroup.controllers'),
    boundingSet: boundingSet(),
    ...(missing.length > 0 ? { controllersWhy: `no cgroup v1 ${missing.join(' or ')} hierarchy on this host; cgroup v2-only hosts are not supported yet` } : {}),
  };
}

/** The run entrypoint's options that turn rkt's defaults off (stage0's `--insecure-options`). */
export function insecureIsolation(options: ReadonlyMap<string, string>): InsecureIsolation {
  return {
    capabilities: options.get('disable-capabilities-restriction') === 'true',
    paths: options.get('disable-paths') === 'true',
    seccomp: options.get('disable-seccomp') === 'true',
  };
}

/**
 * The isolation of a pod's apps, gathered app by app while their units are written. `forApp` throws
 * IsolatorError (naming the app and the isolator) for an isolator that cannot be enforced here, before
 * anything is started.
 */
export class PodIsolation {
  readonly #caps = new Set<string>();
  readonly #controllers = new Set<Controller>();
  /** How many apps, and whether every one of them runs under a seccomp allow-list of its own. */
  #apps = 0;
  #everyAppAllowListed = true;
  readonly #host: IsolationHost;
  /** The pod's own limits, as the unit directives an app would get (MemoryLimit, CPUQuota, CPUShares). */
  readonly #podLimits = new Map<string, string>();

  constructor(
    readonly uuid: string,
    readonly insecure: InsecureIsolation,
    host?: IsolationHost,
  ) {
    this.#host = host ?? isolationHost();
  }

  /** The `[Service]` directives of one app of the pod manifest (`app` is its `apps[].app`), run as `uid`. */
  forApp(name: string, app: unknown, uid: number): string[] {
    return appDirectives(this.isolateApp(name, app), uid);
  }

  /**
   * One app of the pod manifest (`app` is its `apps[].app`): its isolators checked, what they need of the pod's
   * nspawn added to the pod's, and its isolation but for its user's part (`appDirectives`). Needs nothing of the
   * app's root, so that app/add's check can ask it before stage0 has rendered and mounted one.
   */
  isolateApp(name: string, app: unknown): AppIsolation {
    const raw = (app as { isolators?: unknown } | undefined)?.isolators ?? [];
    if (!Array.isArray(raw)) throw new IsolatorError(`app ${name}: isolators must be an array`);
    const isolators = raw.map((i: unknown, n) => {
      const iso = i as Partial<Isolator> | null;
      if (typeof iso?.name !== 'string') throw new IsolatorError(`app ${name}: isolator ${n} has no name`);
      return { name: iso.name, value: iso.value };
    });
    const iso = appIsolation(name, isolators, this.insecure, this.#host);
    for (const c of iso.nspawnCapabilities) this.#caps.add(c);
    for (const c of neededControllers(isolators)) this.#controllers.add(c);
    this.#apps += 1;
    this.#everyAppAllowListed &&= iso.allowListed;
    return iso;
  }

  /**
   * What the apps so far need of the pod's systemd-nspawn beyond its defaults: capabilities outside its set, and
   * cgroup controllers. A running pod cannot get either any more: its nspawn's bounding set and cgroup layout are
   * fixed when it starts (app/add refuses an app that needs them).
   */
  beyondNspawnDefaults(): { capabilities: string[]; controllers: string[] } {
    return { capabilities: [...this.#caps].filter((c) => !NSPAWN_CAPABILITIES.has(c)), controllers: [...this.#controllers] };
  }

  /**
   * The pod manifest's own isolators: resource limits of the whole pod, set on its cgroups (which hold
   * every app) before nspawn starts. Any other pod isolator is refused.
   */
  forPod(isolators: unknown): void {
    const list = isolators ?? [];
    if (!Array.isArray(list)) throw new IsolatorError('pod: isolators must be an array');
    for (const i of list as Array<Partial<Isolator> | null>) {
      const name = i?.name;
      if (name === 'resource/memory' || name === 'resource/cpu' || name === 'os/linux/cpu-shares') {
        // The app mapping checks the value and the controller; its directive is what the pod's cgroup gets.
        const [directive] = appIsolation('pod', [{ name, value: i?.value }], { capabilities: true, paths: true, seccomp: true }, this.#host).directives;
        const [key, value] = (directive as string).split('=') as [string, string];
        this.#podLimits.set(key, value);
        for (const c of neededControllers([{ name, value: i?.value }])) this.#controllers.add(c);
      } else {
        throw new IsolatorError(`pod: isolator ${String(name)} is not supported by this stage1 as a pod isolator (it cannot enforce it)`);
      }
    }
  }

  #cgroups(): Array<{ root: string; path: string; dir: string; mountPoint: string }> {
    const v1 = v1Hierarchies();
    const wanted: string[] = [...this.#controllers];
    // systemd takes cpu and cpuacct for one joined controller in v1 (its CGROUP_MASK_EXTEND_JOINED): with a
    // read-only cpuacct beside a writable cpu it makes no cpu cgroup for a unit, and its CPU limits are lost.
    if (this.#controllers.has('cpu') && v1.has('cpuacct')) wanted.push('cpuacct');
    const hierarchies = new Set(wanted.map((c) => v1.get(c) as { root: string; path: string }));
    return [...hierarchies].map((h) => ({ ...h, dir: join(h.root, h.path, `rkt-${this.uuid}`), mountPoint: h.root }));
  }

  /** Extra systemd-nspawn options (before its `--`). */
  nspawnArgs(): string[] {
    const args: string[] = [];
    if (this.#caps.size > 0) args.push(`--capability=${[...this.#caps].join(',')}`);
    const cgroups = this.#cgroups();
    if (cgroups.length > 0) {
      // A tmpfs first, so the mount points can be made (sysfs has no such directories); nspawn mounts the
      // other hierarchies read-only in it and leaves these binds as they are.
      args.push('--tmpfs=/sys/fs/cgroup:mode=0755');
      for (const g of cgroups) {
        args.push(`--bind=${g.dir}:${g.mountPoint}`);
        // Co-mounted controllers (cpu,cpuacct on most hybrid hosts): systemd looks each one up by its own
        // name, where a host has symlinks; a bind of the same cgroup serves as well.
        const names = g.mountPoint.slice('/sys/fs/cgroup/'.length).split(',');
        if (names.length > 1) for (const n of names) args.push(`--bind=${g.dir}:/sys/fs/cgroup/${n}`);
      }
    }
    return args;
  }

  /**
   * Environment for systemd-nspawn: when resources are isolated, the hybrid layout on a hybrid host (an empty
   * variable counts as unset, so nspawn takes the host's layout), else the legacy one; with
   * `--insecure-options=paths`, nspawn's own read-only and hidden files of /proc and /sys are left as they
   * are too (the apps see the pod's /proc: a fresh one cannot be mounted over masked files).
   */
  env(): Record<string, string> {
    return {
      ...(this.#controllers.size > 0 ? { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: this.#host.hybrid === true ? '' : '0', SYSTEMD_NSPAWN_USE_CGNS: '1' } : {}),
      ...(this.insecure.paths ? { SYSTEMD_NSPAWN_API_VFS_WRITABLE: '1' } : {}),
      // nspawn's own seccomp filter, a deny-list for the whole container, costs 45-50 ms of CPU per pod to
      // compile (libseccomp, three architectures). When every app runs under an allow-list of its own (rkt's
      // default filter or a retain-set: systemd applies it to the app and everything it starts), the deny-list
      // adds nothing for the apps, and the pod's remaining processes are stage1's own (systemd as PID 1, the
      // status scripts). nspawn reads this variable itself; it does not reach the pod's systemd, which still
      // filters each app. With --insecure-options=seccomp or a remove-set, nspawn keeps its filter.
      ...(this.#apps > 0 && this.#everyAppAllowListed ? { SYSTEMD_SECCOMP: '0' } : {}),
    };
  }

  #writePodLimits(dir: string, root: string): void {
    const memory = this.#podLimits.get('MemoryLimit');
    const quota = this.#podLimits.get('CPUQuota');
    const shares = this.#podLimits.get('CPUShares');
    const controllers = root.slice(root.lastIndexOf('/') + 1).split(',');
    if (memory !== undefined && controllers.includes('memory')) writeFileSync(join(dir, 'memory.limit_in_bytes'), memory);
    if (controllers.includes('cpu')) {
      if (quota !== undefined) {
        writeFileSync(join(dir, 'cpu.cfs_period_us'), '100000');
        writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(Number(quota.replace('%', '')) * 1000));
      }
      if (shares !== undefined) writeFileSync(join(dir, 'cpu.shares'), shares);
    }
  }

  /**
   * The pod's controller cgroups with their limits, for nspawn to start in; returns their cgroup.procs files and
   * how to remove them. `owner`: the host's ID of the pod's root in a user namespace (`--private-users`), to
   * whom each cgroup is delegated as nspawn delegates the others (the directory, `cgroup.procs` and `tasks`),
   * so that the pod's systemd can make its units' cgroups there; the pod's own limits stay the host root's.
   */
  prepareCgroups(owner = 0): { procs: string[]; remove: () => void } {
    const dirs: string[] = [];
    for (const g of this.#cgroups()) {
      mkdirSync(g.dir, { recursive: true });
      this.#writePodLimits(g.dir, g.root);
      if (owner !== 0) for (const p of [g.dir, join(g.dir, 'cgroup.procs'), join(g.dir, 'tasks')]) chownSync(p, owner, owner);
      dirs.push(g.dir);
    }
    return { procs: dirs.map((d) => join(d, 'cgroup.procs')), remove: () => dirs.forEach(removeCgroupTree) };
  }

}
