import { existsSync, readFileSync } from 'node:fs';
import { readPodPids } from '@rkt/controller/stage1-abi';
import { findCgroups, killCgroupTrees, machineScopeName, nspawnHierarchyRoots } from '../cgroups.js';
import { haltPod, killPod, podTakesHalt } from '../halt.js';
import { isolationHierarchyRoots } from '../pod-isolation.js';
import { noteStop } from '../stop-note.js';
import { fail, parseEntrypointArgs } from './args.js';

/** How long a stop waits for a booting pod's systemd to take the halt before passing it on anyway. */
const BOOT_WAIT_MS = 10_000;

/**
 * A pod stopped while its systemd is still starting would lose the halt (see podTakesHalt): wait, briefly,
 * for systemd to catch it, or for the pod to be gone. Asynchronously: as a module, this runs in the caller's
 * process (`rkt stop`, or a service that embeds @rkt/controller), whose event loop must go on.
 */
async function waitForHalt(nspawn: number): Promise<void> {
  for (const end = Date.now() + BOOT_WAIT_MS; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) {
    if (podTakesHalt(nspawn) || !existsSync(`/proc/${nspawn}`)) return;
  }
}

/** Whether `pid` is still the pod's nspawn (or the shell that executes it), not gone nor a reused pid. */
function isPodsNspawn(pid: number, uuid: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(`--machine=rkt-${uuid}`);
  } catch {
    return false;
  }
}

/**
 * A running pod whose nspawn is gone (killed) has no supervisor to halt through and no known PID 1: what is
 * left of it is found by its cgroups and killed, halt or not (the run entrypoint does the same once it sees
 * nspawn exit, so this is usually a race with it, and finds nothing). Processes that cannot be killed are an
 * error: the stop must not claim what it did not do.
 */
async function stopOrphans(uuid: string, nspawn: number): Promise<void> {
  const trees = [...nspawnHierarchyRoots(), ...isolationHierarchyRoots()].flatMap((r) => [...findCgroups(r, `rkt-${uuid}`), ...findCgroups(r, machineScopeName(uuid))]);
  const { killed, left } = await killCgroupTrees(trees);
  if (left.length > 0) throw new Error(`pod ${uuid}: systemd-nspawn (pid ${nspawn}) has exited and ${left.length} of the pod's processes could not be killed (${left.join(', ')})`);
  if (killed > 0) process.stderr.write(`stage1-systemd stop: pod ${uuid}: systemd-nspawn (pid ${nspawn}) had exited; killed the ${killed} processes left in the pod's cgroups\n`);
}

/** The version of the stop-module interface (`rkt-ts.dev/stage1/stop-module`) that `stop` implements. */
export const stopModuleVersion = 1;

/**
 * `coreos.com/rkt/stage1/stop`: `[--force] UUID`, in the pod directory. Notes the stop there first (the run
 * entrypoint acts on it when nspawn was not started yet, and reports an app stopped before it ran with the
 * stop's signal), then halts the pod's systemd (PID 1, nspawn's child): every app's unit is stopped
 * (SIGTERM, then its post-stop handler; SIGKILL to what is left after the units' grace). --force SIGKILLs
 * the pod's PID 1, which takes down its whole pid namespace (nspawn itself if it has no child yet).
 */
export async function stop(args: readonly string[], context: { readonly podDir: string }): Promise<void> {
  const { options, rest } = parseEntrypointArgs(args);
  const force = options.get('force') === 'true';
  const uuid = rest[0];
  if (uuid === undefined || !/^[0-9a-f-]+$/.test(uuid)) throw new Error('usage: stop [--force] UUID');
  noteStop(context.podDir, force ? 'KILL' : 'TERM');
  // nspawn's pid (`ppid`), once the run entrypoint has seen the pod's PID 1 become nspawn's only child.
  const nspawn = readPodPids(context.podDir).supervisor;
  if (nspawn === undefined) return;
  if (!isPodsNspawn(nspawn, uuid)) return stopOrphans(uuid, nspawn);
  if (force) return killPod(nspawn);
  await waitForHalt(nspawn);
  haltPod(nspawn);
}

// Executed (any stage0), not required as a module.
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  stop(process.argv.slice(2), { podDir: process.cwd() }).catch((err: unknown) => fail('stop', err));
}
