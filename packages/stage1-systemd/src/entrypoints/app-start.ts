// `coreos.com/rkt/stage1/app/start` (interface version 5, see pod-apps.ts), and its module
// `rkt-ts.dev/stage1/app-start-module` (app-module.ts).
import { startApp } from '../pod-apps.js';
import { appModule, runExecuted } from './app-module.js';

export { appModuleVersion } from './app-module.js';

/** The entrypoint's work in the caller's process. */
export const app = appModule('app/start', startApp);

// Executed (any stage0), not required as a module.
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) runExecuted('app/start', startApp);
