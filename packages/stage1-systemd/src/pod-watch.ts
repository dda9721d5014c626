import { startProcess, type HostSpawn, type StartedProcess } from './spawn.js';

/**
 * The watcher's shell script (`$1`: the pod's machine name, nspawn's `--machine=`). Its stdin is a pipe from
 * the process that runs the pod, which writes nspawn's pid as soon as nspawn is started, and `done` once
 * nspawn has exited (or failed to start). End of file after the pid without `done` means that process died
 * (kill -9), and then the pod's PID 1 gets SIGKILL, which ends its whole pid namespace; nspawn then exits by
 * itself.
 *
 * End of file before any line: the process died before it could tell, possibly while starting nspawn (a
 * posix_spawn waits for its child's exec, milliseconds on a loaded machine, and nspawn runs on if the
 * parent dies meanwhile). The watcher then looks for nspawn by its `--machine=` for a second.
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
  '[ "$pid" = done ] && exit 0',
  'if [ -z "$pid" ]; then',
  '  n=0',
  '  while [ -z "$pid" ] && [ $n -lt 50 ]; do',
  // nspawn's outer child has its command line too (a fork): the lowest pid is nspawn's.
  '    pid=$(grep -lsF -e "--machine=$1" /proc/[0-9]*/cmdline | sed -e "s|^/proc/||" -e "s|/cmdline$||" | sort -n | head -n 1)',
  '    [ -n "$pid" ] || sleep 0.02',
  '    n=$((n + 1))',
  '  done',
  'else',
  '  read -r said',
  '  [ "$said" = done ] && exit 0',
  'fi',
  "case $pid in ''|*[!0-9]*) exit 0 ;; esac",
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
export function watchPodOwner(machine: string, lockFd: number | undefined, host?: HostSpawn): PodOwnerWatch {
  let child: StartedProcess;
  try {
    child = startProcess(
      {
        command: '/bin/sh',
        args: ['-c', POD_WATCH_SCRIPT, 'rkt-pod-watch', machine],
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
