// `coreos.com/rkt/stage1/app/add` (interface version 5, see pod-apps.ts), and its module
// `rkt-ts.dev/stage1/app-add-module` (app-module.ts), which also exports `check`.
import type { InsecureIsolation } from '../isolators.js';
import { addApp, checkAddedApp } from '../pod-apps.js';
import { appModule, runExecuted } from './app-module.js';
import { failureLine } from './args.js';

export { appModuleVersion } from './app-module.js';

/** The entrypoint's work in the caller's process. */
export const app = appModule('app/add', addApp);

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
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) runExecuted('app/add', addApp);
