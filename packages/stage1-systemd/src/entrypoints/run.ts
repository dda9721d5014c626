// The run entrypoint, both ways from one bundle (`/rkt/run`): executed (`coreos.com/rkt/stage1/run`, for any
// stage0 and for a stage1 selected by path) it is the run process; required by stage0
// (`rkt-ts.dev/stage1/run-module`, version 1: see @rkt/controller's README) it runs the pod in stage0's own
// process, the way rkt's stage0 executed its stage1, without a second Node start.
import type { Stage1RunModule } from '@rkt/controller';
import { runPodStage1 } from '../run-pod.js';
import { fail } from './args.js';

const IDLE = 'the run entrypoint stopped before the pod ended (nothing left to wait for)';

/** The version of the run-module interface that `run` implements. */
export const runModuleVersion = 1;

/**
 * The run module's entry: the executable's arguments, in the pod directory (stage0's working directory for
 * the call), with the pod's lock held by the caller. Resolves with the pod's exit status, failures included
 * (one line on stderr, 254, as the executable reports them); never exits the process.
 */
export const run: Stage1RunModule['run'] = async (args, context) => {
  // As the executable's beforeExit check: an event loop with nothing left while the pod has not ended would
  // have stage0 exit as if it had succeeded. Here the failure settles the run, and stage0 reports it.
  let onIdle: (() => void) | undefined;
  const idle = new Promise<never>((_, reject) => {
    onIdle = () => reject(new Error(IDLE));
    process.once('beforeExit', onIdle);
  });
  try {
    // The context as given: the lock, and stage0's own ways of starting processes when it offers them (spawn.ts).
    return await Promise.race([runPodStage1(args, { ...context, ownProcess: false }), idle]);
  } catch (err) {
    process.stderr.write(`stage1-systemd run: ${err instanceof Error ? err.message : String(err)}\n`);
    return 254;
  } finally {
    if (onIdle !== undefined) process.off('beforeExit', onIdle);
  }
};

// Executed, not required: this process is the run entrypoint, and its exit status the pod's.
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  // Node exits 0 when nothing is left to wait for, even with the run unsettled: that would report a pod as a
  // success without its statuses, so it is an error instead.
  process.once('beforeExit', () => fail('run', new Error(IDLE)));
  const lockFd = process.env.RKT_LOCK_FD !== undefined && /^[0-9]+$/.test(process.env.RKT_LOCK_FD) ? Number(process.env.RKT_LOCK_FD) : undefined;
  runPodStage1(process.argv.slice(2), { ...(lockFd !== undefined ? { lockFd } : {}), ownProcess: true }).then(
    (status) => process.exit(status),
    (err: unknown) => fail('run', err),
  );
}
