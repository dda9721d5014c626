import { startProcess, type HostSpawn, type StartedProcess } from './spawn.js';

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
export function watchPodOwner(nspawnPid: number, lockFd: number | undefined, host?: HostSpawn): PodOwnerWatch {
  let child: StartedProcess;
  try {
    child = startProcess(
      {
        command: '/bin/sh',
        args: ['-c', SCRIPT, 'rkt-pod-watch', String(nspawnPid)],
        env: process.env,
        stdio: ['pipe', 'ignore', 'ignore'],
        ...(lockFd !== undefined ? { extraFds: [lockFd] } : {}),
        detached: true,
      },
      host,
    );
  } catch {
    // Could not start: the pod runs unwatched, as it would have without a watcher.
    return { podEnded: () => {}, exited: Promise.resolve() };
  }
  return {
    podEnded: () => child.endStdin('done\n'),
    exited: child.exited.then(
      () => undefined,
      () => undefined,
    ),
  };
}
