// The app's exec in the pod manifest: kept as the image or --exec gave it, relative ones included (the stage1
// finds those inside the app's root, as rkt's did); only an empty one is refused.
import { describe, expect, it } from 'vitest';
import type { ImageManifest } from '@rkt/appc-spec/lean';
import { effectiveApp } from '../src/prepare.js';

const image = (exec: string[]) =>
  ({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/app', app: { exec, user: '0', group: '0' } }) as unknown as ImageManifest;

describe("the runtime app's exec", () => {
  it("keeps a relative exec of the image, a bare name or one with a slash, and its arguments", () => {
    expect(effectiveApp(image(['sh', '-c', 'echo hi']), { imageId: 'sha512-x' }, 'app').exec).toEqual(['sh', '-c', 'echo hi']);
    expect(effectiveApp(image(['bin/sh']), { imageId: 'sha512-x', args: ['-c', 'true'] }, 'app').exec).toEqual(['bin/sh', '-c', 'true']);
  });

  it('keeps a relative --exec, which replaces the whole exec of the image', () => {
    expect(effectiveApp(image(['/bin/app', '--flag']), { imageId: 'sha512-x', exec: 'echo', args: ['hello'] }, 'app').exec).toEqual(['echo', 'hello']);
  });

  it('refuses an empty exec in one line naming the app', () => {
    expect(() => effectiveApp(image(['/bin/app']), { imageId: 'sha512-x', exec: '' }, 'web')).toThrow(
      expect.objectContaining({ code: 'POD_APP', message: 'app "web": exec is an empty string; give a program with --exec' }),
    );
    expect(() => effectiveApp(image(['', 'x']), { imageId: 'sha512-x' }, 'web')).toThrow('app "web": exec is an empty string; give a program with --exec');
  });
});
