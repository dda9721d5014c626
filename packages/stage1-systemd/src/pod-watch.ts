import { startProcess, type HostSpawn, type StartedProcess } from './spawn.js';

/**
 * The watcher's shell script. Its stdin is a pipe from the process that runs the pod, which writes nspawn's
 * pid as soon as nspawn is started, and `done` once nspawn has exited. End of file before the pid means
 * nspawn never started; after it, without `done`, that the process died (kill -9), and then the pod's PID 1
 * gets SIGKILL, which ends its whole pid namespace; nspawn then exits by itself.
 *
 * The pod's PID 1 is not always nspawn's child yet: nspawn forks an outer child, which clones PID 1 and
 * then exits, and PID 1 is re-parented to nspawn (a subreaper). A single look at nspawn's children could
 * catch only the outer child, kill it after PID 1 was cloned, and leave the pod booting with nobody to
 * end it. So the watcher kills nspawn's children and theirs until nspawn is gone, and kills nspawn itself
 * only after it has had no child for a second (before it forks there is nothing to orphan; killed while
 * forking, its child would be re-parented to init). It holds the pod's lock all along, so the pod shows as
 * exited only once this is done. At most ~10 s.
 */
export const POD_WATCH_SCRIPT = [
  'read -r pid',
  "case $pid in ''|*[!0-9]*) exit 0 ;; esac",
  'read -r said',
  '[ "$said" = done ] && exit 0',
  'n=0',
  'while [ -e "/proc/$pid/task/$pid/children" ] && [ $n -lt 500 ]; do',
  '  kids=',
  '  read -r kids < "/proc/$pid/task/$pid/children"',
  '  for k in $kids; do',
  '    grand=',
  '    read -r grand < "/proc/$k/task/$k/children"',
  '    kill -KILL $grand $k',
  '  done',
  '  [ -n "$kids" ] || [ $n -lt 50 ] || kill -KILL "$pid"',
  '  n=$((n + 1))',
  '  sleep 0.02',
  'done 2>/dev/null',
  'exit 0',
].join('\n');

export interface PodOwnerWatch {
  /** nspawn has started: the watcher ends it, and the pod, if this process dies from now on. */
  watch(nspawnPid: number): void;
  /** nspawn has exited, or never started: the watcher leaves without doing anything. */
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
 *
 * Started before nspawn and told its pid at once (`watch`): started after, it left nspawn unwatched for the
 * few milliseconds its own start and nspawn's stderr stream took (node:net loads then), and a kill -9 of
 * `rkt run` there left a pod running while `rkt list` showed it exited (2 of 30 early kills).
 */
export function watchPodOwner(lockFd: number | undefined, host?: HostSpawn): PodOwnerWatch {
  let child: StartedProcess;
  try {
    child = startProcess(
      {
        command: '/bin/sh',
        args: ['-c', POD_WATCH_SCRIPT, 'rkt-pod-watch'],
        env: process.env,
        stdio: ['pipe', 'ignore', 'ignore'],
        ...(lockFd !== undefined ? { extraFds: [lockFd] } : {}),
        detached: true,
      },
      host,
    );
  } catch {
    // Could not start: the pod runs unwatched, as it would have without a watcher.
    return { watch: () => {}, podEnded: () => {}, exited: Promise.resolve() };
  }
  return {
    watch: (nspawnPid) => child.writeStdin(`${nspawnPid}\n`),
    podEnded: () => child.endStdin('done\n'),
    exited: child.exited.then(
      () => undefined,
      () => undefined,
    ),
  };
}
