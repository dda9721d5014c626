import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Removes an empty cgroup tree, children first; a cgroup with processes left in it stays (rmdir fails). */
export function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // Busy: processes still in it. Left for gc rather than failing the pod's exit status over it.
  }
}

/** The roots of the hierarchies nspawn uses: v2 (unified or hybrid) and v1's name=systemd. */
export function nspawnHierarchyRoots(): string[] {
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
  return [v2, '/sys/fs/cgroup/systemd'].filter((r) => existsSync(join(r, 'cgroup.procs')));
}

/** Every cgroup named `name` in a hierarchy, searched to a bounded depth (pods sit a few levels down). */
export function findCgroups(root: string, name: string, depth = 6): string[] {
  const found: string[] = [];
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    if (e.name === name) found.push(join(root, e.name));
    else if (depth > 0) found.push(...findCgroups(join(root, e.name), name, depth - 1));
  }
  return found;
}

/**
 * The scope machined makes for a registered pod (`machine-rkt\x2dUUID.scope`, systemd's unit-name escape of
 * the machine name `rkt-UUID`), where nspawn --register=yes moves itself and the pod.
 */
export function machineScopeName(uuid: string): string {
  return `machine-${`rkt-${uuid}`.replace(/-/g, '\\x2d')}.scope`;
}

/** The pids of every process in a cgroup tree (each cgroup.procs below `dir`, `dir`'s own included). */
export function cgroupTreePids(dir: string): number[] {
  const pids: number[] = [];
  let procs: string;
  try {
    procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8');
  } catch {
    // Removed meanwhile: nothing in it.
    return pids;
  }
  for (const p of procs.split('\n')) if (/^[0-9]+$/.test(p)) pids.push(Number(p));
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return pids;
  }
  for (const e of entries) if (e.isDirectory()) pids.push(...cgroupTreePids(join(dir, e.name)));
  return pids;
}

/**
 * SIGKILLs every process left in these cgroup trees, again and again until they are empty (a process that
 * forks meanwhile puts its child there too) or `timeoutMs` has passed. Where the kernel has it (5.14), a v2
 * cgroup's `cgroup.kill` kills its whole tree at once, forks included. Resolves with the pids killed and those
 * still there at the end: none, unless something could not be killed.
 */
export async function killCgroupTrees(dirs: readonly string[], timeoutMs = 5_000): Promise<{ killed: number; left: number[] }> {
  const killed = new Set<number>();
  for (const end = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 20))) {
    const pids = [...new Set(dirs.flatMap(cgroupTreePids))];
    if (pids.length === 0 || Date.now() >= end) return { killed: killed.size, left: pids };
    for (const dir of dirs) {
      try {
        if (existsSync(join(dir, 'cgroup.kill'))) writeFileSync(join(dir, 'cgroup.kill'), '1');
      } catch {
        // Removed meanwhile, or an older kernel's: the processes get their signal one by one below.
      }
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        // ESRCH: it died meanwhile, which is what is wanted.
      }
    }
  }
}
