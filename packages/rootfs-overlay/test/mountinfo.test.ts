import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountAppRootfs, mountsUnder, parseMountinfo, RootfsError, unmountTree } from '../src/index.js';
import type { MountInfo } from '../src/index.js';
import { overlayDirs } from '../src/mountinfo/overlay-dirs.js';
import { sh, useTempDirs } from './helpers.js';

const tmp = useTempDirs();

describe('parseMountinfo', () => {
  it('reads every field, optional fields included, and decodes the kernel\'s octal escapes as bytes', () => {
    const text = [
      '27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard',
      '44 27 0:39 /sub\\040dir /tmp/a\\040b\\012c\\011d\\134e\\303\\251 rw,relatime shared:7 master:2 - overlay my\\040src rw,lowerdir=/x\\134\\054y',
      '45 27 0:40 / /run/ünïcode rw - tmpfs tmpfs rw',
      '',
    ].join('\n');
    const [a, b, c] = parseMountinfo(Buffer.from(text, 'utf8'));
    expect(a).toEqual({
      id: 27, parentId: 1, majorMinor: '254:0', root: '/', mountPoint: '/', options: 'rw,relatime',
      optionalFields: ['shared:1'], fsType: 'ext4', source: '/dev/vda', superOptions: 'rw,discard',
    });
    expect(b).toMatchObject({
      id: 44,
      parentId: 27,
      root: '/sub dir',
      // \303\251 is the UTF-8 encoding of é, escaped byte by byte.
      mountPoint: '/tmp/a b\nc\td\\eé',
      optionalFields: ['shared:7', 'master:2'],
      fsType: 'overlay',
      source: 'my src',
      superOptions: 'rw,lowerdir=/x\\,y',
    });
    expect(c?.mountPoint).toBe('/run/ünïcode');
  });

  it('parses only the lines that name a path it is given, and every line for a path written escaped', () => {
    const text = [
      '27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
      '44 27 0:39 / /pods/a/rootfs rw - overlay overlay rw,lowerdir=/t,upperdir=/pods/a/upper,workdir=/pods/a/work',
      '45 27 0:40 / /pods/ab rw - tmpfs tmpfs rw',
      '46 27 0:41 / /other rw - overlay overlay rw,lowerdir=/t,upperdir=/pods/c/upper,workdir=/pods/c/work',
      'a line that is not one',
      '',
    ].join('\n');
    const points = (mentioning: string[]) => parseMountinfo(Buffer.from(text), 'x', mentioning).map((m) => m.mountPoint);
    // A mount on the path or under it names it; so does an overlay with it as a dir; so, as a prefix, may another.
    expect(points(['/pods/a'])).toEqual(['/pods/a/rootfs', '/pods/ab']);
    expect(points(['/pods/c/work'])).toEqual(['/other']);
    expect(points(['/nowhere', '/pods/ab'])).toEqual(['/pods/ab']);
    expect(points(['/nowhere'])).toEqual([]);
    // A path mountinfo or overlayfs would write escaped (space, comma, colon, non-ASCII): every line, so the
    // one that is not a mount line is an error, as without a path.
    for (const p of ['/pods/a b', '/pods/a,b', '/pods/a:b', '/pods/é']) {
      expect(() => parseMountinfo(Buffer.from(text), 'x', [p])).toThrow(/^x: line 5: expected/);
    }
  });

  it('refuses a line without the separator, naming the file and line', () => {
    const text = '27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n28 27 0:5 / /x rw ext4 /dev/vdb rw\n';
    expect(() => parseMountinfo(Buffer.from(text), '/proc/1/mountinfo')).toThrow(RootfsError);
    expect(() => parseMountinfo(Buffer.from(text), '/proc/1/mountinfo')).toThrow(/^\/proc\/1\/mountinfo: line 2: expected/);
  });
});

describe('mountsUnder on real mounts', () => {
  it('finds mount points whose names hold spaces, newlines, tabs and backslashes, and unmounts them', async () => {
    const root = await tmp.make('rootfs name with space-');
    const weird = join(root, 'pod \n dir', 'app\tone\\x', 'rootfs');
    const lower = join(root, 'lower, with: comma');
    await mkdir(lower);
    await writeFile(join(lower, 'f'), 'x');
    await mountAppRootfs({ lower, target: weird, upper: join(root, 'up, per:x\\y'), work: join(root, 'wo\nrk'), mode: 'overlay' });
    const plain = join(root, 'pod \n dir', 'tmp');
    await mkdir(plain);
    sh('mount', ['-t', 'tmpfs', 'src with space', plain]);

    const found = await mountsUnder(join(root, 'pod \n dir'));
    expect(found.map((m) => [m.mountPoint, m.fsType, m.source])).toEqual([
      [weird, 'overlay', 'overlay'],
      [plain, 'tmpfs', 'src with space'],
    ]);
    // The lower dir went through mount's option escaping and comes back decoded, escapes and all.
    expect(found[0]?.superOptions).toContain(`lowerdir=${lower.replace(/[,:]/g, (ch) => `\\${ch}`)}`);
    expect(overlayDirs(found[0] as MountInfo)).toEqual({ upper: join(root, 'up, per:x\\y'), work: join(root, 'wo\nrk') });
    // Component-aware: a prefix of a name is not a parent directory.
    expect(await mountsUnder(join(root, 'pod '))).toEqual([]);

    expect((await unmountTree(root)).unmounted.sort()).toEqual([plain, weird].sort());
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('resolves symlinks in the asked path the way the kernel reports mount points', async () => {
    const root = await tmp.make();
    const real = join(root, 'disk', 'rkt');
    await mkdir(join(real, 'pods', 'p'), { recursive: true });
    sh('ln', ['-s', real, join(root, 'link')]);
    sh('mount', ['-t', 'tmpfs', 'x', join(real, 'pods', 'p')]);
    expect((await mountsUnder(join(root, 'link', 'pods'))).map((m) => m.mountPoint)).toEqual([join(real, 'pods', 'p')]);
    expect((await unmountTree(join(root, 'link'))).unmounted).toEqual([join(real, 'pods', 'p')]);
  });
});
