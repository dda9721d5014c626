// Crash safety of `rkt prepare` and `rkt run` (fly): killed with SIGKILL at points spread over their whole run,
// the stage1's part of `rkt run` included. After each kill the store opens and lists its images whole,
// `rkt list` works, gc and image gc leave no pod half made, temp file, embryo or mount, a pod the kill left
// prepared runs, and a new `rkt run` works. (run-empty-kill.test.ts: `rkt run` into an empty data directory.)
import { describe, it } from 'vitest';
import { podSweep, SWEEP_TIMEOUT, useBusyboxAci } from './sweeps.js';

const aci = useBusyboxAci();

describe('kill -9 anywhere in a pod being made (fly)', () => {
  it('rkt prepare', () => podSweep('rkt prepare', aci.path, () => ['prepare', aci.path]), SWEEP_TIMEOUT);
  it('rkt run', () => podSweep('rkt run', aci.path, () => ['run', aci.path]), SWEEP_TIMEOUT);
});
