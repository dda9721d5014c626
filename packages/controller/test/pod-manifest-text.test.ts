import { describe, expect, it } from 'vitest';
import type { PodManifest } from '@rkt/appc-spec/lean';
import { podManifestText } from '../src/pod-manifest-text.js';

const ID = `sha512-${'ab'.repeat(64)}`;
const pod = (workingDirectory: string): PodManifest => ({
  acVersion: '0.8.11',
  acKind: 'PodManifest',
  apps: [{ name: 'app', image: { name: 'example.com/app', id: ID }, app: { exec: ['/bin/app'], user: '0', group: '0', workingDirectory } }],
});

describe('podManifestText', () => {
  it('writes a pod of stored images as built, without the schemas', async () => {
    const m = pod('/srv');
    expect(await podManifestText(m, [{ imageId: ID }, { imageId: ID, name: 'other', args: [] }], false)).toBe(JSON.stringify(m));
  });

  it('writes a pod whose apps have only the common overrides as built, once they pass the lean check', async () => {
    const m = pod('/srv');
    m.apps[0]!.app!.environment = [{ name: 'A', value: '1' }];
    const inputs = [{ imageId: ID, exec: '/bin/app', args: ['x'], user: '0', group: '0', workingDirectory: '/srv', environment: [{ name: 'A', value: '1' }] }];
    expect(await podManifestText(m, inputs, false)).toBe(JSON.stringify(m));
    // Volumes and mounts too.
    const withVolumes: PodManifest = { ...m, apps: [{ ...m.apps[0]!, mounts: [{ volume: 'data', path: '/d' }] }], volumes: [{ name: 'data', kind: 'host', source: '/srv' }] };
    const mounting = [{ ...inputs[0]!, mounts: [{ volume: 'data', path: '/d' }] }];
    expect(await podManifestText(withVolumes, mounting, false)).toBe(JSON.stringify(withVolumes));
    await expect(podManifestText({ ...withVolumes, volumes: [{ name: 'data', kind: 'host', source: 'srv' }] }, mounting, false)).rejects.toMatchObject({
      code: 'APPC_VALIDATION',
      message: expect.stringContaining('volumes[0].source: must be an absolute path'),
    });
    // Refused by that check: the schemas' error names the field.
    m.apps[0]!.app!.environment = [{ name: '1A', value: '1' }];
    await expect(podManifestText(m, inputs, false)).rejects.toMatchObject({
      code: 'APPC_VALIDATION',
      message: expect.stringContaining('apps[0].app.environment[0].name: must be an environment variable name'),
    });
  });

  it("writes a pod with --supplementary-gids, --user-annotation, --user-label and --readonly-rootfs as built; a bad value gets the schemas' error naming the field", async () => {
    const m = pod('/srv');
    const extra = { supplementaryGIDs: [0, 4294967295], userAnnotations: { 'Any Key': 'v', 'x.y': '' }, userLabels: { team: 'x' } };
    Object.assign(m.apps[0]!.app!, extra);
    m.apps[0]!.readOnlyRootFS = true;
    const inputs = [{ imageId: ID, ...extra, readOnlyRootFS: true }];
    expect(await podManifestText(m, inputs, false)).toBe(JSON.stringify(m));
    const bad = (over: object, readOnlyRootFS: unknown = true): PodManifest => ({
      ...m,
      apps: [{ ...m.apps[0]!, app: { ...m.apps[0]!.app!, ...over }, readOnlyRootFS: readOnlyRootFS as boolean }],
    });
    for (const [doc, message] of [
      [bad({ supplementaryGIDs: [-1] }), 'apps[0].app.supplementaryGIDs[0]: must not be negative'],
      [bad({ supplementaryGIDs: [4294967296] }), 'apps[0].app.supplementaryGIDs[0]: must be at most 4294967295'],
      [bad({ userAnnotations: { a: 7 } }), 'apps[0].app.userAnnotations.a: must be a string'],
      [bad({ userLabels: ['team=x'] }), 'apps[0].app.userLabels: must be an object of string values'],
      [bad({}, 'yes'), 'apps[0].readOnlyRootFS: must be a boolean'],
    ] as const) {
      await expect(podManifestText(doc, inputs, false), message).rejects.toMatchObject({ code: 'APPC_VALIDATION', message: expect.stringContaining(message) });
    }
  });

  it('validates with the full schemas whenever the user gave something else: isolators, a manifest, or a bad override', async () => {
    const bad = pod('relative'); // as an override would make it
    const refused = { code: 'APPC_VALIDATION', message: expect.stringContaining('workingDirectory') };
    await expect(podManifestText(bad, [{ imageId: ID, workingDirectory: 'relative' }], false)).rejects.toMatchObject(refused);
    await expect(podManifestText(bad, [{ imageId: ID, isolators: [{ name: 'resource/memory', value: { limit: '1G' } }] }], false)).rejects.toMatchObject(refused);
    await expect(podManifestText(bad, [{ imageId: ID }], true)).rejects.toMatchObject(refused);
    // Any field but the image and the name counts, including ones added after this check was written.
    const later = { imageId: ID, somethingNew: 'x' } as unknown as { imageId: string };
    await expect(podManifestText(bad, [later], false)).rejects.toMatchObject(refused);
    const good = pod('/srv');
    expect(JSON.parse(await podManifestText(good, [{ imageId: ID, user: '0' }], false))).toEqual(good);
  });
});
