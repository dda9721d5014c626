import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Each plugin call in a cgroup of its own (cgroup v1's freezer), so that whatever the plugin started dies with
// the call: a process group is left by any process that calls setsid(2) (a daemon does), a cgroup cannot be
// left by an unprivileged plugin's child. Node's built-ins only: this module is also the small entry
// `@rkt/cni/call-cgroups` that stage0's gc loads to sweep what a killed run left.

/** The freezer hierarchy's parent of every plugin call's cgroup (made once, kept: like /run/netns). */
export const CALL_CGROUP_PARENT = '/sys/fs/cgroup/freezer/rkt-ts-cni';

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
 * and its start time: a sweep leaves a live caller's cgroups to it), or why it cannot be made (no v1 freezer
 * on this host: a cgroup v2-only machine, or no permission), for the process group fallback.
 */
export function makeCallCgroup(containerId: string): { path: string } | { why: string } {
  const id = /^[A-Za-z0-9_-]{1,64}$/.test(containerId) ? containerId : 'call';
  const path = join(CALL_CGROUP_PARENT, `${id}.${process.pid}.${startTime('self') ?? '0'}.${++made}`);
  try {
    mkdirSync(CALL_CGROUP_PARENT, { recursive: true });
    mkdirSync(path);
    return { path };
  } catch (err) {
    return { why: `cannot make ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
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

/**
 * Kills everything in a call's cgroup and removes it: frozen first, so that nothing in it forks while the
 * others are killed, then SIGKILL to each, thawed (a frozen task dies only once thawed), waited on until empty,
 * removed. Returns the pids that were still in it after about 2 s (the cgroup then stays, for a later sweep).
 */
export function killCallCgroup(cgroup: string): number[] {
  if (procsOf(cgroup).length > 0) {
    const state = join(cgroup, 'freezer.state');
    try {
      writeFileSync(state, 'FROZEN');
      // FREEZING while a task finishes what it cannot be stopped in (an uninterruptible sleep): killed all the
      // same after a while, which a task forking meanwhile could outrun only in that case.
      for (let i = 0; i < 100 && readFileSync(state, 'utf8').trim() !== 'FROZEN'; i++) pause(5);
    } catch {
      // Gone already, or no freezer.state to write: killed unfrozen.
    }
    for (const pid of procsOf(cgroup)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
    try {
      writeFileSync(state, 'THAWED');
    } catch {
      // As above.
    }
  }
  for (let i = 0; i < 400; i++) {
    try {
      rmdirSync(cgroup);
      return [];
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return [];
      if (code !== 'EBUSY') break;
    }
    // A killed task leaves the cgroup when it is reaped: by its parent, or by init once that is gone too.
    if (i % 50 === 49) {
      for (const pid of procsOf(cgroup)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Exited meanwhile.
        }
      }
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
 * The cgroups of plugin calls that have ended and left them: their caller is gone (a run or a gc killed,
 * kill -9) and their plugin has exited (its timeout(1) is gone; a plugin still running is left to finish,
 * with the pod's lock it holds, or to its deadline). Whatever is left in each (a daemon it started, which may
 * hold the pod's lock and keep the pod from gc) is killed, and the cgroup removed. Run before every plugin
 * call and by `rkt gc` before it looks at the pods' locks. Returns the cgroups removed, and those that could
 * not be (`left`).
 */
export function sweepCallCgroups(): { swept: string[]; left: string[] } {
  const swept: string[] = [];
  const left: string[] = [];
  let names: string[];
  try {
    names = readdirSync(CALL_CGROUP_PARENT, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return { swept, left };
  }
  for (const name of names) {
    const m = /\.([0-9]+)\.([0-9]+)\.[0-9]+$/.exec(name);
    // The caller's own call, still running (it removes its cgroup when the call ends).
    if (m !== null && startTime(Number(m[1])) === m[2]) continue;
    const path = join(CALL_CGROUP_PARENT, name);
    if (procsOf(path).some(isCallLeader)) continue;
    if (killCallCgroup(path).length === 0) swept.push(path);
    else left.push(path);
  }
  return { swept, left };
}
