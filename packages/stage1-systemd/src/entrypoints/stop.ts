import { existsSync } from 'node:fs';
import { readPodPids } from '@rkt/controller/stage1-abi';
import { haltPod, killPod, podTakesHalt } from '../halt.js';
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
  const force = parseEntrypointArgs(args).options.get('force') === 'true';
  noteStop(context.podDir, force ? 'KILL' : 'TERM');
  // nspawn's pid (`ppid`), once the run entrypoint has started it.
  const nspawn = readPodPids(context.podDir).supervisor;
  if (nspawn === undefined) return;
  if (force) return killPod(nspawn);
  await waitForHalt(nspawn);
  haltPod(nspawn);
}

// Executed (any stage0), not required as a module.
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  stop(process.argv.slice(2), { podDir: process.cwd() }).catch((err: unknown) => fail('stop', err));
}
