// What the app entrypoints (app-add, app-start, app-stop, app-rm) share: each is an executable (any stage0) and a
// CommonJS module (app-module version 1, `rkt-ts.dev/stage1/app-*-module`) that rkt-ts's stage0 calls in its own
// process, one Node start less per `rkt app` command. Each entry file keeps its own `require.main === module`
// test, which only means "executed" in the entry's own module scope.
import { appCall, type AppCall } from '../pod-apps.js';
import { fail, failureLine } from './args.js';

/** The version of the app-module interface (`rkt-ts.dev/stage1/app-*-module-version`) that `app` implements. */
export const appModuleVersion = 1;

/** An app entrypoint's work on its call (pod-apps.ts's addApp, startApp, stopApp, removeApp). */
type AppWork = (call: AppCall) => Promise<void>;

/**
 * An entrypoint's `app` export: `work` in the caller's process, `args` the executable's, `env` its environment
 * (RKT_STAGE1_ENTERPID), run with the pod directory as the working directory (the caller's part). Rejects with
 * the one line the executable would print last before exiting 254.
 */
export function appModule(entrypoint: string, work: AppWork): (args: readonly string[], context: { readonly podDir: string; readonly env: NodeJS.ProcessEnv }) => Promise<void> {
  return async (args, context) => {
    try {
      await work(appCall(entrypoint, args, context.env, context.podDir));
    } catch (err) {
      throw new Error(failureLine(entrypoint, err));
    }
  };
}

/** The entrypoint executed: `work` on this process's arguments and environment, then exit 0, or rkt's failure line and status. */
export function runExecuted(entrypoint: string, work: AppWork): void {
  Promise.resolve()
    .then(() => work(appCall(entrypoint, process.argv.slice(2))))
    .then(
      () => process.exit(0),
      (err: unknown) => fail(entrypoint, err),
    );
}
