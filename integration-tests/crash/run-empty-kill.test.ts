// Crash safety of the first `rkt run` (fly) in an empty data directory, which imports and renders the stage1
// and the image, probes the directory for overlay support, then prepares and runs the pod: killed with SIGKILL
// at points spread over its whole run, in a directory of its own each time. After each kill the store opens
// and lists only whole images, gc and image gc leave no temp file, probe, embryo or mount, a pod the kill left
// prepared runs, and `rkt run` then works.
import { describe, it } from 'vitest';
import { emptyStoreSweep, SWEEP_TIMEOUT, useBusyboxAci } from './sweeps.js';

const aci = useBusyboxAci();

describe('kill -9 anywhere in a first rkt run (fly)', () => {
  it('into an empty data directory', () => emptyStoreSweep('rkt run into an empty data directory', aci.path, ['run', aci.path], true), SWEEP_TIMEOUT);
});
