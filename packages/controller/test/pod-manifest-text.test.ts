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

  it('validates with the full schemas whenever the user gave something: overrides, isolators, a manifest', async () => {
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
