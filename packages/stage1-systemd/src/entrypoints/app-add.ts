// `coreos.com/rkt/stage1/app/add` (interface version 5): see pod-apps.ts. Also a CommonJS module (app-module
// version 1, `rkt-ts.dev/stage1/app-add-module`) that rkt-ts's stage0 calls in its own process: one Node start
// less per `rkt app add`.
import type { InsecureIsolation } from '../isolators.js';
import { appCall, addApp, checkAddedApp } from '../pod-apps.js';
import { fail, failureLine } from './args.js';

/** The version of the app-module interface (`rkt-ts.dev/stage1/app-add-module-version`) that `app` implements. */
export const appModuleVersion = 1;

/**
 * The entrypoint's work, in the caller's process: `args` the executable's, `env` its environment (RKT_STAGE1_ENTERPID),
 * run with the pod directory as the working directory (the caller's part). Rejects with the one line the executable
 * would print last before exiting 254.
 */
export async function app(args: readonly string[], context: { readonly podDir: string; readonly env: NodeJS.ProcessEnv }): Promise<void> {
  try {
    await addApp(appCall('app/add', args, context.env, context.podDir));
  } catch (err) {
    throw new Error(failureLine('app/add', err));
  }
}

/**
 * The module's optional second export (app-module version 1): what `app` would refuse of `app` (the pod manifest
 * entry stage0 is about to write, its isolators with the flags' included) before anything of it exists, `insecure`
 * app add's --insecure-options. Throws the same line `app` would reject with; writes nothing. stage0 calls it
 * before it renders, mounts or writes anything for the app.
 */
export function check(app: unknown, context: { readonly podDir: string; readonly uuid: string; readonly insecure: InsecureIsolation }): void {
  try {
    checkAddedApp(context.podDir, context.uuid, app, context.insecure);
  } catch (err) {
    throw new Error(failureLine('app/add', err));
  }
}

// Executed (any stage0), not required as a module.
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  Promise.resolve()
    .then(() => addApp(appCall('app/add', process.argv.slice(2))))
    .then(
      () => process.exit(0),
      (err: unknown) => fail('app/add', err),
    );
}
