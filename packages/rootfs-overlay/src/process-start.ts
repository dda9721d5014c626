import { readFileSync } from 'node:fs';

/**
 * A process's start time (clock ticks after boot, field 22 of /proc/<pid>/stat), or undefined when no
 * process has that pid. With the pid it names one process for good: a pid is reused, the pair is not.
 * The overlay probes here and the CLI's code-cache temp files are named after their writer with it, the
 * latter through `@rkt/rootfs-overlay/process-start`: this package depends on nothing, so any other can
 * import it, and the entry loads nothing else. The store names its temp entries the same way
 * (@rkt/image-store's owner.ts).
 * `pidRuns` beside it: whether any process has a pid, for names older writers gave without a start time.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: count the fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * Whether a process of that pid runs (any process: a reused pid counts, so a caller keeps what may be a live
 * process's work rather than remove it). EPERM: it runs, as another user.
 */
export function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
