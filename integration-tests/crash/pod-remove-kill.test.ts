// Crash safety of `rkt rm` and `rkt gc` of an exited fly pod (its root filesystem still mounted): killed with
// SIGKILL at points spread over their whole run, the recursive removal on the thread pool included. After each
// kill `rkt list` works, the next gc removes what is left of the pod, its mount and its store reference, and a
// new `rkt run` works.
import { describe, it } from 'vitest';
import { podSweep, SWEEP_TIMEOUT, useBusyboxAci } from './sweeps.js';

const aci = useBusyboxAci();

describe('kill -9 anywhere in a pod being removed (fly)', () => {
  it('rkt rm', () => podSweep('rkt rm', aci.path, (exited) => ['rm', exited]), SWEEP_TIMEOUT);
  it('rkt gc', () => podSweep('rkt gc', aci.path, () => ['gc', '--grace-period=0s']), SWEEP_TIMEOUT);
});
