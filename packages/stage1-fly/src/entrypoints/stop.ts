// The stop entrypoint, both ways from one bundle (`/fly/stop`): executed (`coreos.com/rkt/stage1/stop`, by
// any stage0) it is the stop process; required by stage0 (`rkt-ts.dev/stage1/stop-module`, version 1: see
// @rkt/controller's README) `rkt stop` calls `stop` without starting a second Node.
import { stopPodProcesses } from '@rkt/controller/stage1-abi';
import { fail, parseEntrypointArgs } from './args.js';

/** The version of the stop-module interface that `stop` implements. */
export const stopModuleVersion = 1;

/** `coreos.com/rkt/stage1/stop`: `[--force] UUID`, in the pod directory. SIGTERM to the app, or SIGKILL with --force. */
export async function stop(args: readonly string[], context: { readonly podDir: string }): Promise<void> {
  stopPodProcesses(context.podDir, parseEntrypointArgs(args).options.get('force') === 'true');
}

// Executed, not required.
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  stop(process.argv.slice(2), { podDir: process.cwd() }).catch((err: unknown) => fail('stop', err));
}
