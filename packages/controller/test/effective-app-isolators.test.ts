import { describe, expect, it } from 'vitest';
import type { ImageManifest } from '@rkt/appc-spec/lean';
import { effectiveApp } from '../src/prepare.js';

const image = {
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/app',
  app: {
    exec: ['/bin/app'],
    user: '0',
    group: '0',
    isolators: [
      { name: 'resource/memory', value: { limit: '1G' } },
      { name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_NET_RAW'] } },
      { name: 'os/linux/no-new-privileges', value: true },
    ],
  },
} as unknown as ImageManifest;

describe("the runtime app's isolators", () => {
  it("keeps the image's when no flag gives any", () => {
    expect(effectiveApp(image, { imageId: 'sha512-x' }, 'app').isolators).toEqual(image.app?.isolators);
  });

  it("replaces the image's isolator of each kind a flag gives, a capability set of either mode included", () => {
    const app = effectiveApp(
      image,
      {
        imageId: 'sha512-x',
        isolators: [
          { name: 'resource/memory', value: { request: '64M', limit: '64M' } },
          { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_KILL'] } },
        ],
      },
      'app',
    );
    expect(app.isolators).toEqual([
      { name: 'os/linux/no-new-privileges', value: true },
      { name: 'resource/memory', value: { request: '64M', limit: '64M' } },
      { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_KILL'] } },
    ]);
  });
});

describe("the runtime app's exec", () => {
  const withArgs = { ...image, app: { ...image.app, exec: ['/bin/app', '--image-flag'] } } as unknown as ImageManifest;
  it("appends the arguments after -- to the image's exec, as rkt run did", () => {
    expect(effectiveApp(withArgs, { imageId: 'sha512-x', args: ['a', 'b c'] }, 'app').exec).toEqual(['/bin/app', '--image-flag', 'a', 'b c']);
    expect(effectiveApp(withArgs, { imageId: 'sha512-x' }, 'app').exec).toEqual(['/bin/app', '--image-flag']);
  });
  it('--exec replaces the whole exec, and the arguments follow it', () => {
    expect(effectiveApp(withArgs, { imageId: 'sha512-x', exec: '/bin/other', args: ['x'] }, 'app').exec).toEqual(['/bin/other', 'x']);
    expect(effectiveApp(withArgs, { imageId: 'sha512-x', exec: '/bin/other' }, 'app').exec).toEqual(['/bin/other']);
  });
});
