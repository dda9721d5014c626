// `coreos.com/rkt/stage1/app/rm` (interface version 5): see pod-apps.ts. Also a CommonJS module (app-module
// version 1, `rkt-ts.dev/stage1/app-rm-module`) that rkt-ts's stage0 calls in its own process: one Node start
// less per `rkt app rm`.
import { appCall, removeApp } from '../pod-apps.js';
import { fail, failureLine } from './args.js';

/** The version of the app-module interface (`rkt-ts.dev/stage1/app-rm-module-version`) that `app` implements. */
export const appModuleVersion = 1;

/**
 * The entrypoint's work, in the caller's process: `args` the executable's, `env` its environment (RKT_STAGE1_ENTERPID),
 * run with the pod directory as the working directory (the caller's part). Rejects with the one line the executable
 * would print last before exiting 254.
 */
export async function app(args: readonly string[], context: { readonly podDir: string; readonly env: NodeJS.ProcessEnv }): Promise<void> {
  try {
    await removeApp(appCall('app/rm', args, context.env, context.podDir));
  } catch (err) {
    throw new Error(failureLine('app/rm', err));
  }
}

// Executed (any stage0), not required as a module.
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  Promise.resolve()
    .then(() => removeApp(appCall('app/rm', process.argv.slice(2))))
    .then(
      () => process.exit(0),
      (err: unknown) => fail('app/rm', err),
    );
}
