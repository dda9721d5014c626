import { existsSync, readdirSync, rmdirSync } from 'node:fs';
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
