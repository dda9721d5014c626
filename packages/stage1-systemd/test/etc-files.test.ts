import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { checkResolvConf, dnsContents, hostsWithHostname, mountPoints, writeEtcFiles, writeResolvConf } from '../src/etc-files.js';

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
    expect((await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set())).notes).toEqual([]);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('rkt-x\n');
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toMatch(/^127\.0\.0\.1\tlocalhost .*rkt-x\n/);
    // An image's own /etc/hosts stays; /etc/hostname is the pod's.
    writeFileSync(join(root, 'etc/hosts'), 'mine\n');
    await writeEtcFiles(root, 'a', { hostname: 'rkt-y' }, new Set());
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toBe('mine\n');
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('rkt-y\n');
  });

  it('makes /etc for an image without one', async () => {
    expect((await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set())).notes).toEqual([]);
    expect(readdirSync(join(root, 'etc')).sort()).toEqual(['hostname', 'hosts']);
  });

  it("gives the pod's shifted root (owner) the files and every directory made for them, and nothing else", async () => {
    const owner = 0x90000;
    const ids = (p: string): string => `${lstatSync(join(root, p)).uid}:${lstatSync(join(root, p)).gid}`;
    await writeEtcFiles(root, 'a', { hostname: 'rkt-x', owner }, new Set());
    expect(['etc', 'etc/hostname', 'etc/hosts'].map(ids)).toEqual(Array(3).fill(`${owner}:${owner}`));
    // A link to a file in missing directories: each directory made on the way is the pod's; the existing root,
    // /srv the image has, and the link itself are left as they were.
    rmSync(join(root, 'etc'), { recursive: true });
    etcDir();
    mkdirSync(join(root, 'srv'));
    symlinkSync('../srv/a/b/resolv.conf', join(root, 'etc/resolv.conf'));
    await writeResolvConf(root, 'a', 'nameserver 10.0.0.1\n', owner, new Set());
    expect(['srv/a', 'srv/a/b', 'srv/a/b/resolv.conf'].map(ids)).toEqual(Array(3).fill(`${owner}:${owner}`));
    expect(['.', 'etc', 'srv', 'etc/resolv.conf'].map(ids)).toEqual(Array(4).fill('0:0'));
  });

  it('writes through /etc as an absolute link to the image\'s /usr/etc, which stays a link', async () => {
    mkdirSync(join(root, 'usr/etc'), { recursive: true });
    symlinkSync('/usr/etc', join(root, 'etc'));
    expect((await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set())).notes).toEqual([]);
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
    expect((await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set())).notes).toEqual([]);
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
    expect((await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set())).notes).toEqual([]);
    expect(readdirSync(host)).toEqual(['hostname']);
    expect(readFileSync(join(host, 'hostname'), 'utf8')).toBe('host file\n');
    expect(readFileSync(join(root, host, 'hostname'), 'utf8')).toBe('rkt-x\n');
    expect(readFileSync(join(root, host, 'sub/hosts'), 'utf8')).toContain('localhost');
  });

  it('writes nothing into a volume at /etc, nor over a volume at /etc/hostname', async () => {
    etcDir();
    writeFileSync(join(root, 'etc/hostname'), 'host\n');
    expect((await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set([join(root, 'etc')]))).notes).toEqual([
      '/etc/hostname not written: a volume is mounted at /etc',
      '/etc/hosts not written: a volume is mounted at /etc',
    ]);
    expect(readdirSync(join(root, 'etc'))).toEqual(['hostname']);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('host\n');
    expect((await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set([join(root, 'etc/hostname')]))).notes).toEqual(['/etc/hostname not written: a volume is mounted at /etc/hostname']);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('host\n');
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toContain('localhost');
  });

  it('finds a volume where the links lead: /etc -> /usr/etc with a volume at /usr/etc, a hosts link into a volume', async () => {
    mkdirSync(join(root, 'usr/etc'), { recursive: true });
    symlinkSync('/usr/etc', join(root, 'etc'));
    expect((await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set([join(root, 'usr/etc')]))).notes).toEqual([
      '/etc/hostname not written: a volume is mounted at /usr/etc',
      '/etc/hosts not written: a volume is mounted at /usr/etc',
    ]);
    expect(readdirSync(join(root, 'usr/etc'))).toEqual([]);
    rmSync(join(root, 'etc'));
    etcDir();
    mkdirSync(join(root, 'data'));
    symlinkSync('/data/sub/hosts', join(root, 'etc/hosts'));
    expect((await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set([join(root, 'data')]))).notes).toEqual(['/etc/hosts not written: a volume is mounted at /data']);
    expect(readdirSync(join(root, 'data'))).toEqual([]);
  });

  it('refuses in one line naming the app and the path what cannot lead to a file, making nothing', async () => {
    etcDir();
    mkdirSync(join(root, 'usr'));
    symlinkSync('/usr', join(root, 'etc/hostname'));
    await expect(writeEtcFiles(root, 'web', { hostname: 'x' }, new Set())).rejects.toThrow(/^app web: cannot write \/etc\/hostname in its root filesystem: it resolves to \/usr, a directory$/);
    rmSync(join(root, 'etc/hostname'));
    symlinkSync('/etc/hostname', join(root, 'etc/hostname'));
    await expect(writeEtcFiles(root, 'web', { hostname: 'x' }, new Set())).rejects.toThrow(
      /^app web: cannot write \/etc\/hostname in its root filesystem: too many levels of symbolic links \(at \/etc\/hostname\)$/,
    );
    rmSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'bin'));
    writeFileSync(join(root, 'bin/sh'), '');
    symlinkSync('/bin/sh', join(root, 'etc'));
    await expect(writeEtcFiles(root, 'web', { hostname: 'x' }, new Set())).rejects.toThrow(/^app web: cannot write \/etc\/hostname in its root filesystem: not a directory \(at \/bin\/sh\)$/);
    expect(readdirSync(root).sort()).toEqual(['bin', 'etc', 'usr']);
    expect(readdirSync(join(root, 'usr'))).toEqual([]);
    expect(readdirSync(join(root, 'bin'))).toEqual(['sh']);
  });

  it('leaves an image\'s /etc/hosts that cannot be resolved as it is, with a note', async () => {
    etcDir();
    symlinkSync('/etc/hosts', join(root, 'etc/hosts'));
    const { notes } = await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set());
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
    const done = await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set());
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

  it("writes rkt's /etc/resolv.conf and /etc/hosts in place of the image's, through the image's links", async () => {
    etcDir();
    writeFileSync(join(root, 'etc/hosts'), 'image hosts\n');
    mkdirSync(join(root, 'srv'));
    writeFileSync(join(root, 'srv/resolv.conf'), 'nameserver 9.9.9.9\n');
    symlinkSync('/srv/resolv.conf', join(root, 'etc/resolv.conf'));
    const done = await writeEtcFiles(root, 'a', { hostname: 'rkt-x', hosts: 'given hosts\n', resolvConf: 'nameserver 1.2.3.4\n' }, new Set());
    expect(done).toEqual({ notes: [], binds: [] });
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toBe('given hosts\n');
    expect(readlinkSync(join(root, 'etc/resolv.conf'))).toBe('/srv/resolv.conf');
    expect(readFileSync(join(root, 'srv/resolv.conf'), 'utf8')).toBe('nameserver 1.2.3.4\n');
    // Without them the image's files stay as they are.
    await writeEtcFiles(root, 'a', { hostname: 'rkt-x' }, new Set());
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toBe('given hosts\n');
    expect(readFileSync(join(root, 'srv/resolv.conf'), 'utf8')).toBe('nameserver 1.2.3.4\n');
  });

  it('gives resolv.conf to the unit to bind where its link leads below /run, and writes one leading out of the root inside it', async () => {
    etcDir();
    symlinkSync('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
    const viaRun = await writeEtcFiles(root, 'a', { hostname: 'rkt-x', resolvConf: 'nameserver 1.2.3.4\n' }, new Set());
    expect(viaRun.binds).toEqual([{ path: '/etc/resolv.conf', content: 'nameserver 1.2.3.4\n' }]);
    expect(existsSync(join(root, 'run'))).toBe(false);
    rmSync(join(root, 'etc/resolv.conf'));
    symlinkSync(`/../../..${host}/resolv.conf`, join(root, 'etc/resolv.conf'));
    expect((await writeEtcFiles(root, 'a', { hostname: 'rkt-x', resolvConf: 'nameserver 1.2.3.4\n' }, new Set())).binds).toEqual([]);
    expect(readdirSync(host)).toEqual([]);
    expect(readFileSync(join(root, host, 'resolv.conf'), 'utf8')).toBe('nameserver 1.2.3.4\n');
  });

  it('leaves a volume\'s resolv.conf alone, and refuses one that resolves to a directory', async () => {
    etcDir();
    writeFileSync(join(root, 'etc/resolv.conf'), 'volume\n');
    expect((await writeEtcFiles(root, 'a', { hostname: 'rkt-x', resolvConf: 'x\n' }, new Set([join(root, 'etc/resolv.conf')]))).notes).toEqual([
      '/etc/resolv.conf not written: a volume is mounted at /etc/resolv.conf',
    ]);
    expect(readFileSync(join(root, 'etc/resolv.conf'), 'utf8')).toBe('volume\n');
    rmSync(join(root, 'etc/resolv.conf'));
    mkdirSync(join(root, 'etc/resolv.conf'));
    await expect(writeEtcFiles(root, 'web', { hostname: 'x', resolvConf: 'x\n' }, new Set())).rejects.toThrow(
      /^app web: cannot write \/etc\/resolv.conf in its root filesystem: it resolves to \/etc\/resolv.conf, a directory$/,
    );
  });

  it("writeResolvConf (a network's DNS, after the rest) writes resolv.conf alone, as writeEtcFiles does: through links, a bind below /run, one line for a directory", async () => {
    etcDir();
    mkdirSync(join(root, 'srv'));
    symlinkSync('/srv/resolv.conf', join(root, 'etc/resolv.conf'));
    expect(await writeResolvConf(root, 'a', 'nameserver 1.2.3.4\n', 0, new Set())).toEqual({ notes: [], binds: [] });
    expect(readFileSync(join(root, 'srv/resolv.conf'), 'utf8')).toBe('nameserver 1.2.3.4\n');
    expect(readdirSync(join(root, 'etc'))).toEqual(['resolv.conf']);
    rmSync(join(root, 'etc/resolv.conf'));
    symlinkSync('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
    expect(await writeResolvConf(root, 'a', 'nameserver 1.2.3.4\n', 0, new Set())).toEqual({ notes: [], binds: [{ path: '/etc/resolv.conf', content: 'nameserver 1.2.3.4\n' }] });
    expect(existsSync(join(root, 'run'))).toBe(false);
    rmSync(join(root, 'etc/resolv.conf'));
    mkdirSync(join(root, 'etc/resolv.conf'));
    await expect(writeResolvConf(root, 'web', 'x\n', 0, new Set())).rejects.toThrow(
      /^app web: cannot write \/etc\/resolv.conf in its root filesystem: it resolves to \/etc\/resolv.conf, a directory$/,
    );
  });

  it("checkResolvConf (before a network's DNS is known) refuses what writeResolvConf would, in its words, and writes nothing", async () => {
    // Fine: a missing file (and a missing /etc), a file, a link into the root, a bind below /run, a volume's.
    await checkResolvConf(root, 'a', new Set());
    etcDir();
    writeFileSync(join(root, 'etc/resolv.conf'), 'image\n');
    await checkResolvConf(root, 'a', new Set());
    expect(readFileSync(join(root, 'etc/resolv.conf'), 'utf8')).toBe('image\n');
    rmSync(join(root, 'etc/resolv.conf'));
    symlinkSync('/../../srv/resolv.conf', join(root, 'etc/resolv.conf'));
    await checkResolvConf(root, 'a', new Set());
    expect(existsSync(join(root, 'srv'))).toBe(false);
    rmSync(join(root, 'etc/resolv.conf'));
    symlinkSync('../run/resolv.conf', join(root, 'etc/resolv.conf'));
    await checkResolvConf(root, 'a', new Set());
    // Refused: a directory, a link loop, a file where a directory should be.
    rmSync(join(root, 'etc/resolv.conf'));
    mkdirSync(join(root, 'etc/resolv.conf'));
    const line = /^app web: cannot write \/etc\/resolv.conf in its root filesystem: it resolves to \/etc\/resolv.conf, a directory$/;
    await expect(checkResolvConf(root, 'web', new Set())).rejects.toThrow(line);
    await expect(writeResolvConf(root, 'web', 'x\n', 0, new Set())).rejects.toThrow(line);
    rmSync(join(root, 'etc/resolv.conf'), { recursive: true });
    symlinkSync('/etc/resolv.conf', join(root, 'etc/resolv.conf'));
    await expect(checkResolvConf(root, 'web', new Set())).rejects.toThrow(/^app web: cannot write \/etc\/resolv.conf in its root filesystem: too many levels of symbolic links \(at \/etc\/resolv.conf\)$/);
    rmSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc'), '');
    await expect(checkResolvConf(root, 'web', new Set())).rejects.toThrow(/^app web: cannot write \/etc\/resolv.conf in its root filesystem: not a directory \(at \/etc\)$/);
    expect(readdirSync(root)).toEqual(['etc']);
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a resolv.conf on a read-only file system in one line, checked and written alike', async () => {
    etcDir();
    writeFileSync(join(root, 'etc/resolv.conf'), 'image\n');
    expect(spawnSync('mount', ['--bind', '-o', 'ro', join(root, 'etc'), join(root, 'etc')]).status).toBe(0);
    try {
      const line = /^app web: cannot write \/etc\/resolv.conf in its root filesystem: \/etc is a read-only file system$/;
      await expect(checkResolvConf(root, 'web', new Set())).rejects.toThrow(line);
      await expect(writeResolvConf(root, 'web', 'x\n', 0, new Set())).rejects.toThrow(line);
      // The other files alike.
      await expect(writeEtcFiles(root, 'web', { hostname: 'x' }, new Set())).rejects.toThrow(/^app web: cannot write \/etc\/hostname in its root filesystem: \/etc is a read-only file system$/);
      expect(readFileSync(join(root, 'etc/resolv.conf'), 'utf8')).toBe('image\n');
    } finally {
      spawnSync('umount', [join(root, 'etc')]);
    }
  });

  it("reads mount points from mountinfo, its escapes decoded", () => {
    const line = '36 35 98:0 /mnt1 /var/tmp/a\\040b/rootfs/etc rw,noatime master:1 - ext3 /dev/root rw';
    expect(mountPoints(`${line}\n`).has('/var/tmp/a b/rootfs/etc')).toBe(true);
  });
});

describe('hostsWithHostname', () => {
  it('adds the hostname to the first 127.0.0.1 and ::1 lines, and appends a 127.0.0.1 line when there is none', () => {
    expect(hostsWithHostname('# x\n127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1 other\n10.0.0.5\tdb\n', 'pod')).toBe(
      '# x\n127.0.0.1\tlocalhost pod\n::1\tlocalhost pod\n127.0.0.1 other\n10.0.0.5\tdb\n',
    );
    expect(hostsWithHostname('10.0.0.5 db\n', 'pod')).toBe('10.0.0.5 db\n127.0.0.1\tpod\n');
    expect(hostsWithHostname('10.0.0.5 db', 'pod')).toBe('10.0.0.5 db\n127.0.0.1\tpod\n');
  });
});

describe('dnsContents', () => {
  it("reads the host's files for host, stage0's from the pod directory (hosts with the hostname), nothing for none and default", () => {
    writeFileSync(join(top, 'rkt-resolv.conf'), 'nameserver 1.2.3.4\n');
    writeFileSync(join(top, 'rkt-hosts'), '127.0.0.1\tlocalhost\n10.0.0.5\tdb.local\n');
    expect(dnsContents(top, { resolv: 'stage0', hosts: 'stage0' }, 'pod')).toEqual({
      resolvConf: 'nameserver 1.2.3.4\n',
      hosts: '127.0.0.1\tlocalhost pod\n10.0.0.5\tdb.local\n',
    });
    expect(dnsContents(top, { resolv: 'host', hosts: 'host' }, 'pod')).toEqual({
      resolvConf: readFileSync('/etc/resolv.conf', 'utf8'),
      hosts: readFileSync('/etc/hosts', 'utf8'),
    });
    expect(dnsContents(top, { resolv: 'none', hosts: 'default' }, 'pod')).toEqual({});
    rmSync(join(top, 'rkt-hosts'));
    expect(() => dnsContents(top, { resolv: 'default', hosts: 'stage0' }, 'pod')).toThrow(`cannot read stage0's ${join(top, 'rkt-hosts')}: no such file`);
  });
});
