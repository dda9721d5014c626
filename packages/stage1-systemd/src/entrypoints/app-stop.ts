// `coreos.com/rkt/stage1/app/stop` (interface version 5, see pod-apps.ts), and its module
// `rkt-ts.dev/stage1/app-stop-module` (app-module.ts).
import { stopApp } from '../pod-apps.js';
import { appModule, runExecuted } from './app-module.js';

export { appModuleVersion } from './app-module.js';

/** The entrypoint's work in the caller's process. */
export const app = appModule('app/stop', stopApp);

// Executed (any stage0), not required as a module.
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) runExecuted('app/stop', stopApp);
