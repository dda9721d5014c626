// Crash safety of `rkt fetch` of a file ACI (import, then render into the tree store): killed with SIGKILL at
// points spread over its whole run, into an empty data directory each time. After each kill the store opens and
// lists nothing or the complete image, gc and image gc leave no temp or partial file, and the fetch then works.
import { describe, it } from 'vitest';
import { emptyStoreSweep, SWEEP_TIMEOUT, useBusyboxAci } from './sweeps.js';

const aci = useBusyboxAci();

describe('kill -9 anywhere in rkt fetch', () => {
  it('imported and rendered whole, or not at all', () => emptyStoreSweep('rkt fetch', aci.path, ['fetch', '--full', aci.path], false), SWEEP_TIMEOUT);
});
