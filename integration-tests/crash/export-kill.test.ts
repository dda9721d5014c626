// Crash safety of `rkt export` of an exited fly pod: killed with SIGKILL at points spread over its whole run (the
// temp file's creation, its sync, its link into place and its removal included, on the thread pool). After each
// kill nothing of the export is mounted, the pod is exited and unlocked, the output is absent or whole, the next
// export to the same path works and leaves no temp file, and `rkt rm` of the pod works.
import { describe, it } from 'vitest';
import { exportSweep, SWEEP_TIMEOUT, useBusyboxAci } from './sweeps.js';

const aci = useBusyboxAci();

describe('kill -9 anywhere in rkt export (fly)', () => {
  it('the output whole or absent, its temp file removed by the next export, the pod untouched', () => exportSweep(aci.path), SWEEP_TIMEOUT);
});
