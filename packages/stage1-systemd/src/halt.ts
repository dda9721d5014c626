import { readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { childrenOf } from '@rkt/controller/stage1-abi';

/** systemd's halt request (nspawn's kill signal for a booted init): SIGRTMIN+3, 37 on Linux with glibc. */
const HALT_SIGNAL = 37;

/**
 * Whether a process is the init of a pid namespace below this process's: its `NSpid` (its pid in each pid
 * namespace it is in, this one's first) has more than one and ends with 1.
 */
export function isPidNamespaceInit(pid: number): boolean {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return false;
  }
  const nspid = /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
  return nspid !== undefined && nspid.length > 1 && nspid[nspid.length - 1] === '1';
}

/**
 * The pid of the pod's PID 1, nspawn's child, or undefined while there is none (or nspawn is gone). Not
 * simply nspawn's child: for the first milliseconds of a pod (longer on a loaded machine) that is nspawn's
 * outer child, in the host's pid namespace, which sets up the pod's mounts, clones PID 1 and exits (PID 1 is
 * then re-parented to nspawn, a subreaper). A halt or a kill aimed at it missed the pod.
 */
export function podInitPid(nspawnPid: number): number | undefined {
  return childrenOf(nspawnPid).find(isPidNamespaceInit);
}

/**
 * systemd's halt request straight to the pod's PID 1, as nspawn passes on its first SIGTERM: a second
 * halt is harmless, where a second SIGTERM would make nspawn kill the pod outright. Lost while PID 1 does
 * not take it yet (podTakesHalt).
 */
export function haltPod(nspawnPid: number): void {
  const init = podInitPid(nspawnPid);
  if (init === undefined) return;
  try {
    process.kill(init, HALT_SIGNAL);
  } catch {
    // ESRCH: the pod is gone already, which is what is wanted.
  }
}

/**
 * SIGKILL to the pod's PID 1 (nspawn's child): the kernel then kills every process of its pid namespace.
 * Before there is one, to nspawn itself: its outer child dies with it (its parent-death signal), and a PID 1
 * cloned meanwhile is left in the pod's cgroups, which run kills once nspawn has exited.
 */
export function killPod(nspawnPid: number): void {
  try {
    process.kill(podInitPid(nspawnPid) ?? nspawnPid, 'SIGKILL');
  } catch {
    // ESRCH: nspawn or the pod is gone already, which is what is wanted.
  }
}

/**
 * Whether the pod's init takes the halt signal yet. A pid namespace's init ignores every signal it has no
 * handler for, so a halt nspawn passes on before systemd has set up its handlers is lost and the pod runs
 * on; stop requests wait for this.
 */
export function podTakesHalt(nspawnPid: number): boolean {
  const init = podInitPid(nspawnPid);
  if (init === undefined) return false;
  try {
    const status = readFileSync(`/proc/${init}/status`, 'utf8');
    // systemd blocks its signals and reads them from a signalfd: a blocked signal waits for it, a caught one
    // runs a handler; a signal neither blocked nor caught is dropped.
    const bit = 1n << BigInt(HALT_SIGNAL - 1);
    return ['SigBlk', 'SigCgt'].some((field) => {
      const mask = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
      return mask !== undefined && (BigInt(`0x${mask}`) & bit) !== 0n;
    });
  } catch {
    return false;
  }
}

const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * Turns stop signals to this process (SIGTERM, SIGHUP and a terminal's SIGINT) into one orderly halt of
 * the pod, whenever they come: installed first thing, so that a ^C while the pod is still being set up
 * neither kills this process half-way (no statuses, cgroups left behind) nor is lost.
 */
export class StopRequests {
  private signal: NodeJS.Signals | undefined;
  private halt: (() => void) | undefined;
  private poll: NodeJS.Timeout | undefined;
  private readonly onSignal = (sig: NodeJS.Signals): void => this.request(sig);

  constructor() {
    for (const sig of STOP_SIGNALS) process.on(sig, this.onSignal);
  }

  /** The first stop signal received, if any. */
  get requested(): NodeJS.Signals | undefined {
    return this.signal;
  }

  /**
   * From now on a stop request (one that came before included) sends nspawn SIGTERM (which halts the pod's
   * systemd: each app gets SIGTERM, then its post-stop handler runs, as with `rkt stop`) once systemd
   * takes it. Only once: a second SIGTERM would make nspawn kill the pod outright.
   */
  haltThrough(nspawnPid: number, kill: () => void): void {
    this.halt = () => {
      this.halt = undefined;
      if (podTakesHalt(nspawnPid)) return kill();
      this.poll = setInterval(() => {
        if (!podTakesHalt(nspawnPid)) return;
        clearInterval(this.poll);
        kill();
      }, 10);
    };
    if (this.signal !== undefined) this.halt();
  }

  /** A stop that came another way (`rkt stop`'s note in the pod directory): halts the pod as a stop signal would. */
  requestHalt(): void {
    this.request('SIGTERM');
  }

  /** nspawn has exited: nothing is left to halt. */
  done(): void {
    clearInterval(this.poll);
    this.halt = undefined;
  }

  /**
   * The run is over: the signals go back to whatever the process did with them before (in stage0's
   * process, its own handling; the executable is about to exit).
   */
  dispose(): void {
    this.done();
    for (const sig of STOP_SIGNALS) process.off(sig, this.onSignal);
  }

  private request(sig: NodeJS.Signals): void {
    this.signal ??= sig;
    this.halt?.();
  }
}

/**
 * Calls `settled` once for each app as its status line appears in statusDir (the reapers write one line in
 * one write, the first failure before it), and `done` once, when every app has one: the pod has nothing left
 * to run or to stop then. inotify wakes it at once; a slow poll covers events a watch can miss.
 */
export function whenAllSettled(statusDir: string, apps: readonly string[], done: () => void, settled: (app: string, text: string) => void = () => {}): () => void {
  let finished = false;
  const seen = new Set<string>();
  const check = (): void => {
    if (finished) return;
    let all = true;
    for (const app of apps) {
      if (seen.has(app)) continue;
      let text: string;
      try {
        text = readFileSync(join(statusDir, app), 'utf8');
      } catch {
        all = false;
        continue;
      }
      if (!text.endsWith('\n')) {
        all = false;
        continue;
      }
      seen.add(app);
      settled(app, text);
    }
    if (!all) return;
    stop();
    done();
  };
  const watcher = watch(statusDir, check);
  watcher.on('error', () => {});
  const poll = setInterval(check, 250);
  poll.unref();
  const stop = (): void => {
    finished = true;
    watcher.close();
    clearInterval(poll);
  };
  check();
  return stop;
}
