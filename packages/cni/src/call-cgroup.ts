import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CniError } from './errors.js';

// Each plugin call in a cgroup of its own, so that whatever the plugin started dies with the call: a process
// group is left by any process that calls setsid(2) (a daemon does), a cgroup cannot be left by an
// unprivileged plugin's child. cgroup v2 where a v2 hierarchy is mounted (its cgroup.kill kills everything in
// the cgroup in one write, in the kernel, forks racing with it included), else cgroup v1's freezer (frozen,
// each task killed, thawed), else the process group alone. Node's built-ins only (and errors.ts): this module
// is also the small entry `@rkt/cni/call-cgroups` that stage0's gc loads to sweep what a killed run left.

/** The name of the parent of every plugin call's cgroup, at the root of each hierarchy used (made once, kept: like /run/netns). */
export const CALL_CGROUP_NAME = 'rkt-ts-cni';

/**
 * The variable that chooses the hierarchy of the calls' cgroups: `auto` (or unset: v2, else the v1 freezer,
 * else the process group), `v2` or `v1` (that one only, else the process group), `none` (the process group
 * only). For tests and diagnosis: what a host without cgroups gets, or the v1 path on a host that has both.
 */
export const CALL_CGROUP_ENV = 'RKT_CNI_CALL_CGROUP';

export type CallCgroupChoice = 'auto' | 'v2' | 'v1' | 'none';
const CHOICES: readonly CallCgroupChoice[] = ['auto', 'v2', 'v1', 'none'];

/** The choice of RKT_CNI_CALL_CGROUP (`auto` where unset or empty); another value is one line naming the variable. */
export function callCgroupChoice(env: Readonly<Record<string, string | undefined>> = process.env): CallCgroupChoice {
  const value = env[CALL_CGROUP_ENV];
  if (value === undefined || value === '') return 'auto';
  const choice = CHOICES.find((c) => c === value);
  if (choice === undefined) throw new CniError('CNI_CONFIG', `${CALL_CGROUP_ENV}=${JSON.stringify(value)}: not one of auto, v2, v1, none`);
  return choice;
}

export type CallCgroupHierarchy = 'v2' | 'v1';

/** Decodes mountinfo's octal escapes (`\040` for a space). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Where this process sees the hierarchies the calls can use, from /proc/self/mountinfo (the first mount of
 * each): the cgroup2 one (`/sys/fs/cgroup` on a v2-only host, `/sys/fs/cgroup/unified` on a hybrid one) and
 * cgroup v1's freezer (`/sys/fs/cgroup/freezer`).
 */
export function callCgroupHierarchies(mountinfo?: string): { v2?: string; v1?: string } {
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return {};
    }
  }
  const found: { v2?: string; v1?: string } = {};
  for (const line of text.split('\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 5) continue;
    const mountPoint = unescapeMount(fields[4]!);
    const fsType = fields[dash + 1];
    if (fsType === 'cgroup2') found.v2 ??= mountPoint;
    else if (fsType === 'cgroup' && (fields[dash + 3] ?? '').split(',').includes('freezer')) found.v1 ??= mountPoint;
  }
  return found;
}

/** The parents of the calls' cgroups on this host, v2's first: where the calls' cgroups are made, and swept. */
export function callCgroupParents(): string[] {
  const h = callCgroupHierarchies();
  return [h.v2, h.v1].filter((m): m is string => m !== undefined).map((m) => join(m, CALL_CGROUP_NAME));
}

/**
 * What the plugin's wrapper runs before it becomes timeout(1): it moves itself into the call's cgroup (`$0`,
 * its cgroup.procs), so that timeout, the plugin and all they start are in it from their first instruction.
 * A cgroup it cannot join is exit status 125 with JOIN_FAILED on stderr, the plugin not run.
 */
export const JOIN_SCRIPT = '{ echo $$ > "$0"; } 2>/dev/null || { echo "rkt-ts-cni: cannot join the cgroup" >&2; exit 125; }; exec "$@"';
export const JOIN_FAILED = 'rkt-ts-cni: cannot join the cgroup\n';

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** A synchronous pause: the plugin calls are synchronous (spawnSync), and so is what cleans up after them. */
function pause(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** A process's start time (clock ticks since boot, /proc/PID/stat's 22nd field): with its pid, tells it from a later one. */
function startTime(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

let made = 0;

/**
 * A new cgroup for one plugin call, named `CONTAINERID.PID.START.N` (the pod's UUID, then the calling process
 * and its start time: a sweep leaves a live caller's cgroups to it), in the hierarchy `choice` allows (`auto`:
 * v2, else the v1 freezer), or why none can be made, for the process group fallback: `RKT_CNI_CALL_CGROUP=none`,
 * no such hierarchy mounted, a v2 kernel without cgroup.kill (before 5.14), no permission (a read-only
 * /sys/fs/cgroup in a container).
 */
export function makeCallCgroup(containerId: string, choice: CallCgroupChoice = 'auto'): { path: string; hierarchy: CallCgroupHierarchy } | { why: string } {
  if (choice === 'none') return { why: `${CALL_CGROUP_ENV}=none` };
  const id = /^[A-Za-z0-9_-]{1,64}$/.test(containerId) ? containerId : 'call';
  const name = `${id}.${process.pid}.${startTime('self') ?? '0'}.${++made}`;
  const mounts = callCgroupHierarchies();
  const why: string[] = [];
  for (const hierarchy of choice === 'auto' ? (['v2', 'v1'] as const) : [choice]) {
    const mount = mounts[hierarchy];
    if (mount === undefined) {
      why.push(hierarchy === 'v2' ? 'no cgroup2 hierarchy mounted' : "no cgroup v1 freezer hierarchy mounted");
      continue;
    }
    const parent = join(mount, CALL_CGROUP_NAME);
    const path = join(parent, name);
    try {
      mkdirSync(parent, { recursive: true });
      if (hierarchy === 'v2' && !existsSync(join(parent, 'cgroup.kill'))) {
        why.push(`no cgroup.kill in ${parent} (a kernel before 5.14)`);
        continue;
      }
      mkdirSync(path);
      return { path, hierarchy };
    } catch (err) {
      why.push(`cannot make ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  return { why: why.join('; ') };
}

function procsOf(cgroup: string): number[] {
  try {
    return readFileSync(join(cgroup, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);
  } catch {
    return [];
  }
}

function killEach(cgroup: string): void {
  for (const pid of procsOf(cgroup)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
  }
}

/** cgroup v2: SIGKILL to every process in the cgroup and below, in one write (the kernel's, forks racing with it included). */
function killV2(cgroup: string): void {
  try {
    writeFileSync(join(cgroup, 'cgroup.kill'), '1');
  } catch {
    // Gone already.
  }
}

/** Whether a v2 cgroup still holds a process (cgroup.events' `populated`, which counts its descendants too). */
function populatedV2(cgroup: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(join(cgroup, 'cgroup.events'), 'utf8'));
  } catch {
    return false;
  }
}

/**
 * cgroup v1's freezer: frozen first, so that nothing in it forks while the others are killed, then SIGKILL to
 * each, thawed (a frozen task dies only once thawed).
 */
function killV1(cgroup: string): void {
  if (procsOf(cgroup).length === 0) return;
  const state = join(cgroup, 'freezer.state');
  try {
    writeFileSync(state, 'FROZEN');
    // FREEZING while a task finishes what it cannot be stopped in (an uninterruptible sleep): killed all the
    // same after a while, which a task forking meanwhile could outrun only in that case.
    for (let i = 0; i < 100 && readFileSync(state, 'utf8').trim() !== 'FROZEN'; i++) pause(5);
  } catch {
    // Gone already, or no freezer.state to write: killed unfrozen.
  }
  killEach(cgroup);
  try {
    writeFileSync(state, 'THAWED');
  } catch {
    // As above.
  }
}

/**
 * Kills everything in a call's cgroup and removes it: on cgroup v2 (a cgroup.kill file) one write of
 * cgroup.kill, then cgroup.events waited on until `populated 0`; on the v1 freezer frozen, each task killed,
 * thawed, waited on until empty; then removed. Returns the pids that were still in it after about 2 s (the
 * cgroup then stays, for a later sweep).
 */
export function killCallCgroup(cgroup: string): number[] {
  const v2 = existsSync(join(cgroup, 'cgroup.kill'));
  if (v2) killV2(cgroup);
  else killV1(cgroup);
  for (let i = 0; i < 400; i++) {
    if (!v2 || !populatedV2(cgroup)) {
      try {
        rmdirSync(cgroup);
        return [];
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return [];
        if (code !== 'EBUSY') break;
      }
    }
    // A killed task leaves a v1 cgroup when it is reaped (by its parent, or by init once that is gone too), a
    // v2 one when it exits. Killed again now and then: what a task in an uninterruptible sleep forked meanwhile.
    if (i % 50 === 49) {
      if (v2) killV2(cgroup);
      else killEach(cgroup);
    }
    pause(5);
  }
  return procsOf(cgroup);
}

/** Whether a process is a plugin call's own: its wrapper (before its exec) or timeout(1) (which runs the plugin). */
function isCallLeader(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return (argv[0] === 'timeout' && argv[1] === '--signal=KILL') || argv[2] === JOIN_SCRIPT;
  } catch {
    return false;
  }
}

/**
 * The cgroups of plugin calls that have ended and left them, in either hierarchy (v2's, and the v1 freezer's,
 * where an earlier rkt-ts made them): their caller is gone (a run or a gc killed, kill -9) and their plugin
 * has exited (its timeout(1) is gone; a plugin still running is left to finish, with the pod's lock it holds,
 * or to its deadline). Whatever is left in each (a daemon it started, which may hold the pod's lock and keep
 * the pod from gc) is killed, and the cgroup removed. Run before every plugin call and by `rkt gc` before it
 * looks at the pods' locks. Returns the cgroups removed, and those that could not be (`left`).
 */
export function sweepCallCgroups(): { swept: string[]; left: string[] } {
  const swept: string[] = [];
  const left: string[] = [];
  for (const parent of callCgroupParents()) {
    let names: string[];
    try {
      names = readdirSync(parent, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = /\.([0-9]+)\.([0-9]+)\.[0-9]+$/.exec(name);
      // The caller's own call, still running (it removes its cgroup when the call ends).
      if (m !== null && startTime(Number(m[1])) === m[2]) continue;
      const path = join(parent, name);
      if (procsOf(path).some(isCallLeader)) continue;
      if (killCallCgroup(path).length === 0) swept.push(path);
      else left.push(path);
    }
  }
  return { swept, left };
}
