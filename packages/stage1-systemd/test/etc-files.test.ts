import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mountPoints, writeEtcFiles } from '../src/etc-files.js';

let top: string;
let root: string;
/** A directory beside the root standing for the host: what a link out of the root would reach. */
let host: string;
beforeEach(() => {
  top = realpathSync(mkdtempSync(join(tmpdir(), 'etc-files-')));
  root = join(top, 'rootfs');
  host = join(top, 'host');
  mkdirSync(root);
  mkdirSync(host);
});
afterEach(() => rmSync(top, { recursive: true, force: true }));

const etcDir = (): void => mkdirSync(join(root, 'etc'));

describe('writeEtcFiles', () => {
  it('writes /etc/hostname and /etc/hosts into the root when nothing is mounted there', async () => {
    etcDir();
    expect((await writeEtcFiles(root, 'a', 'rkt-x', new Set())).notes).toEqual([]);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('rkt-x\n');
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toMatch(/^127\.0\.0\.1\tlocalhost .*rkt-x\n/);
    // An image's own /etc/hosts stays; /etc/hostname is the pod's.
    writeFileSync(join(root, 'etc/hosts'), 'mine\n');
    await writeEtcFiles(root, 'a', 'rkt-y', new Set());
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toBe('mine\n');
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('rkt-y\n');
  });

  it('makes /etc for an image without one', async () => {
    expect((await writeEtcFiles(root, 'a', 'rkt-x', new Set())).notes).toEqual([]);
    expect(readdirSync(join(root, 'etc')).sort()).toEqual(['hostname', 'hosts']);
  });

  it('writes through /etc as an absolute link to the image\'s /usr/etc, which stays a link', async () => {
    mkdirSync(join(root, 'usr/etc'), { recursive: true });
    symlinkSync('/usr/etc', join(root, 'etc'));
    expect((await writeEtcFiles(root, 'a', 'rkt-x', new Set())).notes).toEqual([]);
    expect(readlinkSync(join(root, 'etc'))).toBe('/usr/etc');
    expect(readFileSync(join(root, 'usr/etc/hostname'), 'utf8')).toBe('rkt-x\n');
    expect(readFileSync(join(root, 'usr/etc/hosts'), 'utf8')).toContain('localhost');
  });

  it("writes through the files' own links: to an existing file, and to a missing file in a missing directory", async () => {
    etcDir();
    mkdirSync(join(root, 'data'));
    writeFileSync(join(root, 'data/hostname'), 'image\n');
    symlinkSync('/data/hostname', join(root, 'etc/hostname'));
    symlinkSync('../srv/missing/hosts', join(root, 'etc/hosts'));
    expect((await writeEtcFiles(root, 'a', 'rkt-x', new Set())).notes).toEqual([]);
    expect(lstatSync(join(root, 'etc/hostname')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(root, 'data/hostname'), 'utf8')).toBe('rkt-x\n');
    // A link to nothing: the image has no hosts file the app can read, so the pod's goes where it points.
    expect(lstatSync(join(root, 'etc/hosts')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(root, 'srv/missing/hosts'), 'utf8')).toContain('localhost');
  });

  it('keeps a link that leads out of the root inside it: nothing is written or made on the host', async () => {
    etcDir();
    writeFileSync(join(host, 'hostname'), 'host file\n');
    // Absolute host paths, and one that climbs with ..: both resolve below the root.
    symlinkSync(join(host, 'hostname'), join(root, 'etc/hostname'));
    symlinkSync(`/../../..${host}/sub/hosts`, join(root, 'etc/hosts'));
    expect((await writeEtcFiles(root, 'a', 'rkt-x', new Set())).notes).toEqual([]);
    expect(readdirSync(host)).toEqual(['hostname']);
    expect(readFileSync(join(host, 'hostname'), 'utf8')).toBe('host file\n');
    expect(readFileSync(join(root, host, 'hostname'), 'utf8')).toBe('rkt-x\n');
    expect(readFileSync(join(root, host, 'sub/hosts'), 'utf8')).toContain('localhost');
  });

  it('writes nothing into a volume at /etc, nor over a volume at /etc/hostname', async () => {
    etcDir();
    writeFileSync(join(root, 'etc/hostname'), 'host\n');
    expect((await writeEtcFiles(root, 'a', 'rkt-x', new Set([join(root, 'etc')]))).notes).toEqual([
      '/etc/hostname not written: a volume is mounted at /etc',
      '/etc/hosts not written: a volume is mounted at /etc',
    ]);
    expect(readdirSync(join(root, 'etc'))).toEqual(['hostname']);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('host\n');
    expect((await writeEtcFiles(root, 'a', 'rkt-x', new Set([join(root, 'etc/hostname')]))).notes).toEqual(['/etc/hostname not written: a volume is mounted at /etc/hostname']);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('host\n');
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toContain('localhost');
  });

  it('finds a volume where the links lead: /etc -> /usr/etc with a volume at /usr/etc, a hosts link into a volume', async () => {
    mkdirSync(join(root, 'usr/etc'), { recursive: true });
    symlinkSync('/usr/etc', join(root, 'etc'));
    expect((await writeEtcFiles(root, 'a', 'rkt-x', new Set([join(root, 'usr/etc')]))).notes).toEqual([
      '/etc/hostname not written: a volume is mounted at /usr/etc',
      '/etc/hosts not written: a volume is mounted at /usr/etc',
    ]);
    expect(readdirSync(join(root, 'usr/etc'))).toEqual([]);
    rmSync(join(root, 'etc'));
    etcDir();
    mkdirSync(join(root, 'data'));
    symlinkSync('/data/sub/hosts', join(root, 'etc/hosts'));
    expect((await writeEtcFiles(root, 'a', 'rkt-x', new Set([join(root, 'data')]))).notes).toEqual(['/etc/hosts not written: a volume is mounted at /data']);
    expect(readdirSync(join(root, 'data'))).toEqual([]);
  });

  it('refuses in one line naming the app and the path what cannot lead to a file, making nothing', async () => {
    etcDir();
    mkdirSync(join(root, 'usr'));
    symlinkSync('/usr', join(root, 'etc/hostname'));
    await expect(writeEtcFiles(root, 'web', 'x', new Set())).rejects.toThrow(/^app web: cannot write \/etc\/hostname in its root filesystem: it resolves to \/usr, a directory$/);
    rmSync(join(root, 'etc/hostname'));
    symlinkSync('/etc/hostname', join(root, 'etc/hostname'));
    await expect(writeEtcFiles(root, 'web', 'x', new Set())).rejects.toThrow(
      /^app web: cannot write \/etc\/hostname in its root filesystem: too many levels of symbolic links \(at \/etc\/hostname\)$/,
    );
    rmSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'bin'));
    writeFileSync(join(root, 'bin/sh'), '');
    symlinkSync('/bin/sh', join(root, 'etc'));
    await expect(writeEtcFiles(root, 'web', 'x', new Set())).rejects.toThrow(/^app web: cannot write \/etc\/hostname in its root filesystem: not a directory \(at \/bin\/sh\)$/);
    expect(readdirSync(root).sort()).toEqual(['bin', 'etc', 'usr']);
    expect(readdirSync(join(root, 'usr'))).toEqual([]);
    expect(readdirSync(join(root, 'bin'))).toEqual(['sh']);
  });

  it('leaves an image\'s /etc/hosts that cannot be resolved as it is, with a note', async () => {
    etcDir();
    symlinkSync('/etc/hosts', join(root, 'etc/hosts'));
    const { notes } = await writeEtcFiles(root, 'a', 'rkt-x', new Set());
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/^\/etc\/hosts not written: the image has one, which cannot be resolved \(.*too many levels of symbolic links/);
    expect(readlinkSync(join(root, 'etc/hosts'))).toBe('/etc/hosts');
    expect(existsSync(join(root, 'etc/hostname'))).toBe(true);
  });

  it('leaves to the unit a file whose links lead below /run, /proc, /sys or /dev, where the app has filesystems of its own', async () => {
    etcDir();
    symlinkSync('/run/systemd/resolve/hostname', join(root, 'etc/hostname'));
    symlinkSync('../run/hosts', join(root, 'etc/hosts'));
    // Even a hosts file the image has there: the app never sees the image's /run.
    mkdirSync(join(root, 'run'));
    writeFileSync(join(root, 'run/hosts'), 'hidden by the tmpfs\n');
    const done = await writeEtcFiles(root, 'a', 'rkt-x', new Set());
    expect(done).toEqual({
      notes: [],
      binds: [
        { path: '/etc/hostname', content: 'rkt-x\n' },
        { path: '/etc/hosts', content: expect.stringContaining('localhost') as unknown as string },
      ],
    });
    // Nothing written into the root for them.
    expect(readdirSync(join(root, 'run'))).toEqual(['hosts']);
    expect(readFileSync(join(root, 'run/hosts'), 'utf8')).toBe('hidden by the tmpfs\n');
  });

  it("reads mount points from mountinfo, its escapes decoded", () => {
    const line = '36 35 98:0 /mnt1 /var/tmp/a\\040b/rootfs/etc rw,noatime master:1 - ext3 /dev/root rw';
    expect(mountPoints(`${line}\n`).has('/var/tmp/a b/rootfs/etc')).toBe(true);
  });
});
