import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readOnlyRootLines } from '../src/read-only-root.js';

let dir: string;
beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'rkt-ro-root-')));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A mountinfo line (proc(5)) with the mount point and per-mount options given, space escaped as the kernel does. */
const line = (id: number, at: string, options: string) => `${id} 1 0:${id} / ${at.replace(/ /g, '\\040')} ${options} shared:1 - ext4 /dev/x rw`;

describe('readOnlyRootLines', () => {
  it('makes / read-only but for the writable mounts strictly below the rootfs, by its real path, quoted for the unit', () => {
    const real = join(dir, 'real');
    mkdirSync(join(real, 'rootfs'), { recursive: true });
    symlinkSync(real, join(dir, 'link'));
    const root = join(real, 'rootfs');
    const mountinfo = [
      line(20, root, 'rw,relatime'),
      line(21, `${root}/data`, 'rw,nosuid'),
      line(22, `${root}/read only`, 'ro,relatime'),
      line(23, `${root}/my vol`, 'rw'),
      line(24, `${root}x/other`, 'rw'),
      line(25, '/elsewhere', 'rw'),
    ].join('\n');
    expect(readOnlyRootLines(join(dir, 'link', 'rootfs'), mountinfo)).toEqual(['ReadWritePaths="-+/data"', 'ReadWritePaths="-+/my vol"', 'ReadOnlyPaths=+/']);
  });

  it('is ReadOnlyPaths=+/ alone for an app without volumes', () => {
    mkdirSync(join(dir, 'rootfs'));
    expect(readOnlyRootLines(join(dir, 'rootfs'), line(20, join(dir, 'rootfs'), 'rw'))).toEqual(['ReadOnlyPaths=+/']);
  });
});
