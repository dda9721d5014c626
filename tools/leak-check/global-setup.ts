// The root vitest config's global setup: it runs once per `vitest run`, whichever projects run, before
// any test and after the last. DEVELOPERS' rule "a test leaves no mount, process, cgroup or temp dir behind,
// even when it fails" is checked here: the run fails with the list of what it left (see check.ts).
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeakCheck, RUN_MARKER, VAR_TMP_VAR, type Leaks } from './check.js';
import { setLeakCheckFailed } from './verdict.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
let check: LeakCheck | undefined;
let savedTmp: string | undefined;

export function setup(): void {
  savedTmp = process.env['TMPDIR'];
  check = new LeakCheck(tmpdir(), repoRoot);
  // vitest's workers are started after global setup and inherit this environment, as does every process
  // a test starts: os.tmpdir() is the run's own directory everywhere.
  process.env['TMPDIR'] = check.tmpDir;
  process.env[RUN_MARKER] = check.tmpDir;
  process.env[VAR_TMP_VAR] = check.varTmpDir;
}

export async function teardown(): Promise<void> {
  if (check === undefined) return;
  const c = check;
  check = undefined;
  const exitCodeBefore = process.exitCode;
  if (savedTmp === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = savedTmp;
  delete process.env[RUN_MARKER];
  delete process.env[VAR_TMP_VAR];
  // Failed until it says otherwise: a check that throws fails the run too, and vitest 4.1 prints an error
  // thrown by a global teardown ("error during close") but still exits 0, so the exit code is set here.
  setLeakCheckFailed(true);
  process.exitCode = 1;
  // A process or mount may be on its way out as the last test ends: a leak is what is still there after a few looks.
  // A CNI plugin left running by a killed rkt run makes its chain and lease when its ADD ends: waited for (up to
  // its deadline, RKT_CNI_ADD_TIMEOUT's 60 s by default), so that they are listed too.
  for (let i = 0; i < 130 && c.cniPluginsRunning(); i++) await sleep(500);
  let leaks: Leaks = c.leaks();
  for (let i = 0; i < 4 && leaks.owned.length > 0; i++) {
    await sleep(500);
    leaks = c.leaks();
  }
  const kept = c.close();
  if (leaks.unattributed.length > 0) {
    console.warn(`leak check: new on the machine during this run, not shown to be this run's (another run's?):\n  ${leaks.unattributed.join('\n  ')}`);
  }
  if (leaks.owned.length > 0) {
    // Printed, not thrown: vitest prints a teardown's error after everything else, below the closing line
    // `N passed, N failed` that the summary reporter prints once the teardowns are done (counting this as 1 failed).
    const note = kept.length > 0 ? `\n(kept for inspection, still mounted: ${kept.join(', ')})` : '';
    console.error(`leak check: the tests left ${leaks.owned.length} thing(s) behind:\n  ${leaks.owned.join('\n  ')}${note}`);
    return;
  }
  setLeakCheckFailed(false);
  process.exitCode = exitCodeBefore;
}
