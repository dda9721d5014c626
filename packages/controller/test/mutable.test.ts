// Which stage1s may run a mutable pod (rkt app sandbox) and which pods are mutable: the checks stage0 makes before
// anything is prepared or changed (integration-tests/systemd/app.test.ts runs the real thing).
import { describe, expect, it } from 'vitest';
import { checkStage1Mutable, isMutableManifest, MUTABLE_POD_ANNOTATION, SUPPORTED_INTERFACE_VERSIONS } from '../src/index.js';

const stage1 = (annotations: Array<{ name: string; value: string }>) => ({ name: 'example.com/stage1', annotations });

describe('mutable pods', () => {
  it('needs a stage1 of interface version 5 that names the app entrypoints', () => {
    expect(SUPPORTED_INTERFACE_VERSIONS).toContain(5);
    expect(() => checkStage1Mutable(stage1([]), 4, 'sha512-x')).toThrow(
      'stage1 example.com/stage1 cannot run a mutable pod: its interface version is 4 and mutable pods need 5 with the app entrypoints (coreos.com/rkt/stage1/app/add...); use the systemd stage1',
    );
    expect(() => checkStage1Mutable(stage1([]), 5, 'sha512-x')).toThrow(/cannot run a mutable pod/);
    expect(() => checkStage1Mutable(stage1([{ name: 'coreos.com/rkt/stage1/app/add', value: '/rkt/app-add' }]), 5, 'sha512-x')).not.toThrow();
  });

  it("reads rkt's annotation as Go's ParseBool, absent being false", () => {
    expect(MUTABLE_POD_ANNOTATION).toBe('coreos.com/rkt/stage1/mutable');
    expect(isMutableManifest({})).toBe(false);
    expect(isMutableManifest({ annotations: [{ name: MUTABLE_POD_ANNOTATION, value: 'true' }] })).toBe(true);
    expect(isMutableManifest({ annotations: [{ name: MUTABLE_POD_ANNOTATION, value: '1' }] })).toBe(true);
    expect(isMutableManifest({ annotations: [{ name: MUTABLE_POD_ANNOTATION, value: 'false' }] })).toBe(false);
  });
});
