import { spawn } from 'node:child_process';

/**
 * The watcher's shell script. Its stdin is a pipe from the process that runs the pod, which writes `done`
 * once nspawn has exited; end of file without it means that process died (kill -9), and then the pod's
 * PID 1 (nspawn's child) gets SIGKILL, which ends its whole pid namespace; nspawn then exits by itself.
 * Before nspawn has a child there is nothing booted to lose: nspawn itself is killed.
 */
const SCRIPT = [
  'read -r said',
  '[ "$said" = done ] && exit 0',
  'read -r kids < "/proc/$1/task/$1/children"',
  'if [ -n "$kids" ]; then kill -KILL $kids; else kill -KILL "$1"; fi',
  'exit 0',
].join('\n');

export interface PodOwnerWatch {
  /** nspawn has exited: the watcher leaves without doing anything. */
  podEnded(): void;
  /** Settles when the watcher has exited (and so let go of the pod's lock). */
  readonly exited: Promise<void>;
}

/**
 * Ends the pod if the process that runs it (stage0 with the run module in it, or the run executable) dies
 * without ending it: nothing of that process is left to do it, and nspawn's death would not (the pod's
 * systemd is re-parented to the host's init and runs on). The watcher is a shell, in a process group of its
 * own so that a terminal's ^C (which stops the pod cleanly) does not end it. It holds the pod's lock too,
 * when given it, so that the pod shows as exited only once the watcher has done its work.
 */
export function watchPodOwner(nspawnPid: number, lockFd: number | undefined): PodOwnerWatch {
  const child = spawn('/bin/sh', ['-c', SCRIPT, 'rkt-pod-watch', String(nspawnPid)], {
    stdio: ['pipe', 'ignore', 'ignore', ...(lockFd !== undefined ? [lockFd] : [])],
    detached: true,
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    // Could not start: the pod runs unwatched, as it would have without a watcher.
    child.once('error', () => resolve());
  });
  child.stdin?.on('error', () => {});
  return {
    podEnded: () => {
      child.stdin?.end('done\n');
    },
    exited,
  };
}
