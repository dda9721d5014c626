import { spawnSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountsUnder, unmountTree } from '../src/index.js';
import { flock, mount } from '../src/sys.js';
import { useTempDirs } from './helpers.js';

const tmp = useTempDirs();
const openDir = (path: string): number => openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);

describe('flock through the addon', () => {
  it('gives the lock to one open file description at a time, and frees it when the holder closes', async () => {
    const dir = await tmp.make();
    const first = openDir(dir);
    const second = openDir(dir);
    try {
      expect(flock(first, { exclusive: true, nonblocking: true })).toBe(true);
      expect(flock(second, { exclusive: true, nonblocking: true })).toBe(false);
      // What another program sees: util-linux flock cannot take it either (exit 1) while it is held here.
      expect(spawnSync('flock', ['--exclusive', '--nonblock', dir, 'true']).status).toBe(1);
      closeSync(first);
      expect(flock(second, { exclusive: true, nonblocking: true })).toBe(true);
    } finally {
      closeSync(second);
      try {
        closeSync(first);
      } catch {
        // Closed above.
      }
    }
  });

  it('throws the errno as code for a handle that is not open', () => {
    expect(() => flock(987_654, { exclusive: true, nonblocking: true })).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});

describe('mount through the addon', () => {
  it('mounts what mount(2) is given, seen in mountinfo', async () => {
    const dir = await tmp.make();
    const target = join(dir, 'm');
    mkdirSync(target);
    mount('tmpfs', target, 'tmpfs', 0, 'size=1m,mode=0700');
    const mounts = await mountsUnder(dir);
    expect(mounts.map((m) => [m.mountPoint, m.fsType])).toEqual([[target, 'tmpfs']]);
    await unmountTree(dir);
  });

  it('throws the errno as code, naming the target', async () => {
    const dir = await tmp.make();
    expect(() => mount('none', join(dir, 'missing'), 'tmpfs', 0, null)).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: `mount ${join(dir, 'missing')}: No such file or directory` }),
    );
    expect(() => mount('none', dir, 'no-such-filesystem-type', 0, null)).toThrow(expect.objectContaining({ code: 'ENODEV' }));
  });

  it('refuses a path with a NUL byte rather than mounting on a shorter path', async () => {
    const dir = await tmp.make();
    expect(() => mount('tmpfs', `${dir}\0/x`, 'tmpfs', 0, null)).toThrow(TypeError);
    expect(await mountsUnder(dir)).toEqual([]);
  });
});
