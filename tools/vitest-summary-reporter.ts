import type { Reporter, TestModule, Vitest } from 'vitest/node';
import { leakCheckFailed } from './leak-check/verdict.js';

// CI recognises a closing line `N passed, N failed[, N skipped]`; vitest's own summary is not that line.
//
// `vitest run` calls reporters' onTestRunEnd before the global teardowns, and the leak check (tools/leak-check)
// runs in the root config's teardown: a line printed at onTestRunEnd said "0 failed" of a run the leak check
// then failed (exit 1). So the line is printed once vitest closes, after the teardowns (`onClose`: the projects'
// teardowns are awaited before any of those run), with the leak check counted as one failed test. In watch mode,
// where nothing closes between runs and the teardown comes only at the end, it is printed at each run's end.
export default class SummaryReporter implements Reporter {
  #counts: { passed: number; failed: number; skipped: number } | undefined;
  #atClose = false;

  onInit(vitest: Vitest): void {
    this.#atClose = !vitest.shouldKeepServer();
    if (this.#atClose) vitest.onClose(() => this.#print());
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      for (const t of mod.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      // A module that failed to load has no tests but must still count as a failure.
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) failed++;
    }
    this.#counts = { passed, failed, skipped };
    if (!this.#atClose) this.#print();
  }

  #print(): void {
    if (this.#counts === undefined) return;
    const { passed, failed, skipped } = this.#counts;
    this.#counts = undefined;
    const leak = leakCheckFailed() ? 1 : 0;
    process.stdout.write(`\n${leak > 0 ? 'leak check: failed (counted as 1 failed)\n' : ''}${passed} passed, ${failed + leak} failed, ${skipped} skipped\n`);
  }
}
