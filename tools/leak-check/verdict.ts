// The leak check's verdict, from the global teardown (global-setup.ts) to the summary reporter
// (tools/vitest-summary-reporter.ts), which prints the closing line CI reads after the teardowns. On
// globalThis: vitest loads the config's reporters and its global setup files through separate module
// runners in its main process, so a module-level variable here would be two.
const KEY = Symbol.for('rkt-ts.leak-check.failed');

export function setLeakCheckFailed(failed: boolean): void {
  (globalThis as Record<symbol, unknown>)[KEY] = failed;
}

/** Whether this process's leak check failed the run (false before it has run, or when it did not run). */
export function leakCheckFailed(): boolean {
  return (globalThis as Record<symbol, unknown>)[KEY] === true;
}
