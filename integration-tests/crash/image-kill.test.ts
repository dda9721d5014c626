// Crash safety of `rkt image rm`, `rkt image gc` and `rkt image extract`: killed with SIGKILL at points spread over
// their whole run. After each kill the store opens and lists the image whole or not at all, gc and image gc leave
// no temp, trash or unrecorded directory, and a fetch of the image then works; an extraction's target is the old
// tree or the new one, whole, and the next extraction works and leaves nothing beside it.
import { describe, it } from 'vitest';
import { extractSweep, imageSweep, SWEEP_TIMEOUT, useBusyboxAci } from './sweeps.js';

const aci = useBusyboxAci();

describe('kill -9 anywhere in an image command', () => {
  it('rkt image rm', () => imageSweep('rkt image rm', aci.path, ['image', 'rm', 'example.com/busybox']), SWEEP_TIMEOUT);
  it('rkt image gc', () => imageSweep('rkt image gc', aci.path, ['image', 'gc', '--grace-period=0s']), SWEEP_TIMEOUT);
  it('rkt image extract --overwrite: the target the old tree or the new one, whole', () => extractSweep(aci.path), SWEEP_TIMEOUT);
});
