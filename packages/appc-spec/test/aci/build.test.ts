import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { buildAciFromLayout, buildAciFromRootfs } from '../../src/aci/build-layout.js';
import { buildAci } from '../../src/aci/build-list.js';
import { writerTempPath } from '../../src/aci/writer-temp.js';
import { scanAci } from '../../src/aci/scan.js';
import { appcErrorOf, busyboxLayout, manifestJson, sh, sha512File, tempDir, writeFile } from './helpers.js';

/** This process's start time, as /proc/self/stat gives it (field 22). */
function ownStartTime(): string {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

function actoolValidate(path: string): string {
  return sh('actool', ['validate', path]).toString();
}

/** Extracts with GNU tar keeping everything: owners, modes, devices, xattrs. */
function gnuExtract(aci: string, into: string): string {
  mkdirSync(into, { recursive: true });
  sh('tar', ['--xattrs', "--xattrs-include=*", '--numeric-owner', '--same-owner', '-p', '-xf', aci, '-C', into]);
  return into;
}

function xattrsOf(path: string): Record<string, string> {
  const out = sh('getfattr', ['--absolute-names', '-h', '-d', '-m', '-', '-e', 'hex', path]).toString();
  const r: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^([^#=][^=]*)=(.*)$/.exec(line);
    if (m) r[m[1]!] = m[2]!;
  }
  return r;
}

/** A layout with every kind of file and attribute an ACI must keep. */
function richLayout(root: string): string {
  const layout = join(root, 'rich');
  const r = join(layout, 'rootfs');
  mkdirSync(join(r, 'bin'), { recursive: true });
  writeFileSync(join(layout, 'manifest'), manifestJson('example.com/rich'));
  writeFileSync(join(r, 'bin', 'suid'), 'setuid binary');
  chmodSync(join(r, 'bin', 'suid'), 0o4755);
  mkdirSync(join(r, 'shared'));
  chmodSync(join(r, 'shared'), 0o2775);
  mkdirSync(join(r, 'tmp'));
  chmodSync(join(r, 'tmp'), 0o1777);
  writeFileSync(join(r, 'owned'), 'owned by 1234:5678');
  chownSync(join(r, 'owned'), 1234, 5678);
  writeFileSync(join(r, 'big-ids'), 'ids past ustar octal');
  chownSync(join(r, 'big-ids'), 3_000_000, 4_000_000);
  writeFileSync(join(r, 'old'), 'old file');
  utimesSync(join(r, 'old'), 1_000_000_000, 1_000_000_000);
  symlinkSync('../owned', join(r, 'bin', 'rel-link'));
  symlinkSync('/bin/suid', join(r, 'abs-link'));
  writeFileSync(join(r, 'hard-a'), 'same inode');
  linkSync(join(r, 'hard-a'), join(r, 'bin', 'hard-b'));
  execFileSync('mknod', [join(r, 'null'), 'c', '1', '3']);
  execFileSync('mknod', [join(r, 'loop9'), 'b', '7', '9']);
  execFileSync('mknod', [join(r, 'bigdev'), 'c', '300', '70000']);
  execFileSync('mkfifo', [join(r, 'fifo')]);
  writeFileSync(join(r, 'xattr-file'), 'with attributes');
  execFileSync('setfattr', ['-n', 'user.comment', '-v', 'hello world', join(r, 'xattr-file')]);
  execFileSync('setfattr', ['-n', 'user.binary', '-v', '0x00ff10', join(r, 'xattr-file')]);
  execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(r, 'shared')]);
  // security.capability: cap_net_bind_service+ep, as setcap writes it.
  execFileSync('setfattr', ['-n', 'security.capability', '-v', '0x0100000200040000000000000000000000000000', join(r, 'bin', 'suid')]);
  const deep = join(r, 'a'.repeat(100), 'b'.repeat(100));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'c'.repeat(150)), 'long name');
  return layout;
}

describe('buildAciFromLayout', () => {
  it('builds ACIs that actool validates, with one image ID whatever the compression', async () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const ids = new Set<string>();
    for (const compression of ['none', 'gzip', 'bzip2', 'xz'] as const) {
      const out = join(d, `busybox-${compression}.aci`);
      const built = await buildAciFromLayout(layout, out, { compression });
      expect(actoolValidate(out)).toBe('');
      const scan = await scanAci(out);
      expect(scan.compression).toBe(compression);
      expect(scan.imageId).toBe(built.imageId);
      expect(scan.uncompressedSize).toBe(built.uncompressedSize);
      expect(built.compressedSize).toBe(lstatSync(out).size);
      expect(built.entryCount).toBe(7);
      ids.add(built.imageId);
    }
    expect(ids.size).toBe(1);
    expect(sha512File(join(d, 'busybox-none.aci'))).toBe([...ids][0]);
    expect(sh('actool', ['cat-manifest', join(d, 'busybox-xz.aci')]).toString().trim()).toBe(readFileSync(join(layout, 'manifest'), 'utf8'));
  }, 30_000);

  it('is deterministic: same tree, same bytes, whatever the creation order or the clock', async () => {
    const d = tempDir();
    const a = busyboxLayout(join(d, 'one'));
    // The same tree created in the opposite order, so inode and readdir orders differ.
    const b = join(d, 'two', 'layout');
    mkdirSync(join(b, 'rootfs', 'bin'), { recursive: true });
    for (const applet of ['true', 'echo', 'sh']) symlinkSync('busybox', join(b, 'rootfs', 'bin', applet));
    cpSync(join(a, 'rootfs', 'bin', 'busybox'), join(b, 'rootfs', 'bin', 'busybox'));
    cpSync(join(a, 'manifest'), join(b, 'manifest'));
    // The whole seconds of a's times (what an ACI keeps), from the nanoseconds: mtimeMs, a double, rounds a
    // time just below a whole second (x.9999995 s) up to the next one, once in ~2000 runs.
    const seconds = (p: string): number => Number(lstatSync(join(a, p), { bigint: true }).mtimeNs / 1_000_000_000n);
    for (const p of ['manifest', 'rootfs', 'rootfs/bin', 'rootfs/bin/busybox']) utimesSync(join(b, p), seconds(p), seconds(p));
    for (const applet of ['true', 'echo', 'sh']) {
      execFileSync('touch', ['-h', '-d', `@${seconds(join('rootfs', 'bin', applet))}`, join(b, 'rootfs', 'bin', applet)]);
    }
    const r1 = await buildAciFromLayout(a, join(d, '1.aci'), { compression: 'gzip' });
    const r2 = await buildAciFromLayout(a, join(d, '2.aci'), { compression: 'gzip' });
    const r3 = await buildAciFromLayout(b, join(d, '3.aci'), { compression: 'gzip' });
    expect(readFileSync(join(d, '1.aci')).equals(readFileSync(join(d, '2.aci')))).toBe(true);
    expect(r3.imageId).toBe(r1.imageId);
    expect(r2.imageId).toBe(r1.imageId);
  }, 30_000);

  it('round-trips modes, owners, mtimes, symlinks, hardlinks, devices, fifos, xattrs and long names', async () => {
    const d = tempDir();
    const layout = richLayout(d);
    const aci = join(d, 'rich.aci');
    const built = await buildAciFromLayout(layout, aci, { compression: 'xz' });
    const scan = await scanAci(aci);
    expect(scan.imageId).toBe(built.imageId);
    expect(actoolValidate(aci)).toBe('');

    const x = gnuExtract(aci, join(d, 'x'));
    const src = join(layout, 'rootfs');
    const dst = join(x, 'rootfs');
    const same = (p: string) => {
      const s = lstatSync(join(src, p));
      const t = lstatSync(join(dst, p));
      expect({ p, mode: t.mode, uid: t.uid, gid: t.gid, rdev: t.rdev }).toEqual({ p, mode: s.mode, uid: s.uid, gid: s.gid, rdev: s.rdev });
      if (!s.isSymbolicLink()) expect(Math.floor(t.mtimeMs / 1000)).toBe(Math.floor(s.mtimeMs / 1000));
    };
    for (const p of ['bin/suid', 'shared', 'tmp', 'owned', 'big-ids', 'old', 'bin/rel-link', 'abs-link', 'hard-a', 'null', 'loop9', 'bigdev', 'fifo', 'xattr-file']) same(p);
    expect(lstatSync(join(dst, 'bin/suid')).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(dst, 'shared')).mode & 0o7777).toBe(0o2775);
    expect(lstatSync(join(dst, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(lstatSync(join(dst, 'big-ids')).uid).toBe(3_000_000);
    expect(lstatSync(join(dst, 'old')).mtimeMs).toBe(1_000_000_000_000);
    expect(readlinkSync(join(dst, 'bin/rel-link'))).toBe('../owned');
    expect(readlinkSync(join(dst, 'abs-link'))).toBe('/bin/suid');
    expect(lstatSync(join(dst, 'bin/hard-b')).ino).toBe(lstatSync(join(dst, 'hard-a')).ino);
    expect(lstatSync(join(dst, 'null')).isCharacterDevice()).toBe(true);
    expect(lstatSync(join(dst, 'loop9')).isBlockDevice()).toBe(true);
    expect(lstatSync(join(dst, 'fifo')).isFIFO()).toBe(true);
    expect(xattrsOf(join(dst, 'xattr-file'))).toEqual({ 'user.binary': '0x00ff10', 'user.comment': '0x68656c6c6f20776f726c64' });
    expect(xattrsOf(join(dst, 'shared'))).toEqual({ 'trusted.overlay.opaque': '0x79' });
    expect(xattrsOf(join(dst, 'bin/suid'))).toEqual({ 'security.capability': '0x0100000200040000000000000000000000000000' });
    const long = join('a'.repeat(100), 'b'.repeat(100), 'c'.repeat(150));
    expect(readFileSync(join(dst, long), 'utf8')).toBe('long name');
  }, 30_000);

  it('refuses an existing output unless asked to overwrite, leaving no temp files', async () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const out = join(d, 'out', 'x.aci');
    writeFile(out, 'precious');
    const err = await appcErrorOf(() => buildAciFromLayout(layout, out));
    expect(err.code).toBe('APPC_EXISTS');
    expect(err.message).toBe(`${out}: already exists (overwrite it with --overwrite)`);
    expect(readFileSync(out, 'utf8')).toBe('precious');
    await buildAciFromLayout(layout, out, { overwrite: true });
    expect((await scanAci(out)).manifest.name).toBe('example.com/busybox');
    expect(readdirSync(join(d, 'out'))).toEqual(['x.aci']);
  }, 30_000);

  it("names its temp file after its writer and removes the temps of writers that are gone, never a live writer's", async () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const out = join(d, 'out', 'x.aci');
    // A process that has ended: its pid names no process (or, reused, one with another start time).
    const gone = spawnSync('true').pid!;
    const self = `${process.pid}.${ownStartTime()}`;
    const dead = [
      `.x.aci.${gone}.123456.0123456789ab.tmp`,
      `.other.aci.${gone}.1.ba9876543210.tmp`,
      // Our pid with another start time: a process that had the pid before us.
      `.x.aci.${process.pid}.1.0123456789ab.tmp`,
      // A writer that could not read its start time, and an older build's name: the pid alone.
      `.x.aci.${gone}.0.0123456789ab.tmp`,
      `.x.aci.${gone}.0123456789ab.tmp`,
      // The exports' own names before session 20 (rkt image export, rkt export): the pid alone, no .tmp.
      `.x.aci.rkt-export-${gone}`,
      `.other.aci.rkt-export-${gone}`,
    ];
    const alive = [
      `.x.aci.${self}.0123456789ab.tmp`,
      `.x.aci.${process.pid}.0.0123456789ab.tmp`,
      `.x.aci.${process.pid}.0123456789ab.tmp`,
      `.x.aci.rkt-export-${process.pid}`,
    ];
    const others = ['.x.aci.tmp', `.x.aci.${gone}.tmp`, 'notes.tmp', `x.aci.rkt-export-${gone}`, `.x.aci.rkt-export-${gone}.bak`, '.x.aci.rkt-export-'];
    for (const n of [...dead, ...alive, ...others]) writeFile(join(d, 'out', n), 'partial');
    await buildAciFromLayout(layout, out);
    expect(readdirSync(join(d, 'out')).sort()).toEqual(['x.aci', ...alive, ...others].sort());
    expect(writerTempPath(out)).toMatch(new RegExp(`^${join(d, 'out')}/\\.x\\.aci\\.${self}\\.[0-9a-f]{12}\\.tmp$`));
  }, 30_000);

  it('refuses bad layouts with one line naming the file', async () => {
    const d = tempDir();
    const layout = busyboxLayout(d);

    writeFileSync(join(layout, 'manifest'), manifestJson('Bad Name'));
    const e1 = await appcErrorOf(() => buildAciFromLayout(layout, join(d, '1.aci')));
    expect(e1).toBeInstanceOf(ValidationError);
    expect(e1.message).toMatch(new RegExp(`^${join(layout, 'manifest')}: name: `));
    writeFileSync(join(layout, 'manifest'), manifestJson());

    writeFileSync(join(layout, 'README'), 'stray');
    const e2 = await appcErrorOf(() => buildAciFromLayout(layout, join(d, '2.aci')));
    expect(e2.code).toBe('APPC_ACI_LAYOUT');
    expect(e2.message).toBe(`${join(layout, 'README')}: an image layout holds only manifest and rootfs/`);
    execFileSync('rm', [join(layout, 'README')]);

    symlinkSync('../../../etc/passwd', join(layout, 'rootfs', 'bin', 'escape'));
    const e3 = await appcErrorOf(() => buildAciFromLayout(layout, join(d, '3.aci')));
    expect(e3.code).toBe('APPC_ACI_LAYOUT');
    expect(e3.message).toBe(`${join(layout, 'rootfs', 'bin', 'escape')}: is a symlink to "../../../etc/passwd", which points outside rootfs`);
    execFileSync('rm', [join(layout, 'rootfs', 'bin', 'escape')]);

    const e4 = await appcErrorOf(() => buildAciFromLayout(layout, join(layout, 'rootfs', 'self.aci')));
    expect(e4.code).toBe('APPC_ACI_LAYOUT');
    expect(e4.message).toMatch(/must not be inside the layout/);

    const e6 = await appcErrorOf(() => buildAciFromLayout(layout, join(d, 'no', 'such', 'dir', '6.aci')));
    expect(e6.code).toBe('APPC_IO');
    expect(e6.message).toBe(`${join(d, 'no', 'such', 'dir', '6.aci')}: directory ${join(d, 'no', 'such', 'dir')} does not exist`);

    const e5 = await appcErrorOf(() => buildAciFromLayout(join(d, 'missing'), join(d, '5.aci')));
    expect(e5.code).toBe('APPC_IO');
    expect(e5.message).toBe(`${join(d, 'missing')}: no such file or directory`);
    expect(readdirSync(d).sort()).toEqual(['layout']);
  }, 30_000);

  it('says how to proceed when getfattr is missing, and builds without xattrs when told to', async () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    mkdirSync(join(d, 'empty-path'));
    const saved = process.env.PATH;
    process.env.PATH = join(d, 'empty-path');
    try {
      const err = await appcErrorOf(() => buildAciFromLayout(layout, join(d, 'x.aci')));
      expect(err.code).toBe('APPC_TOOL_MISSING');
      expect(err.message).toMatch(/the `getfattr` program is not installed \(Debian package attr\)/);
      const r = await buildAciFromLayout(layout, join(d, 'x.aci'), { xattrs: false });
      expect(r.entryCount).toBe(7);
    } finally {
      process.env.PATH = saved;
    }
  }, 30_000);
  it('skips sockets with a warning, and refuses file names that are not UTF-8', async () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const sock = join(layout, 'rootfs', 'control.sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      const r = await buildAciFromLayout(layout, join(d, 's.aci'));
      expect(r.warnings).toEqual([`${sock}: sockets cannot be stored in an ACI; skipped`]);
      expect(r.entryCount).toBe(7);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const latin1 = Buffer.concat([Buffer.from(join(layout, 'rootfs', 'caf')), Buffer.from([0xe9])]);
    writeFileSync(latin1, 'x');
    const err = await appcErrorOf(() => buildAciFromLayout(layout, join(d, 'n.aci')));
    expect(err.code).toBe('APPC_ACI_LAYOUT');
    expect(err.message).toBe(`${join(layout, 'rootfs', 'caf')}\ufffd: file name is not valid UTF-8`);
  }, 30_000);
});

describe('buildAciFromRootfs', () => {
  it("archives what a magic link leads to, xattrs included, with the manifest as given", async () => {
    const root = tempDir();
    const tree = join(root, 'tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'conf'), 'x=1\n');
    symlinkSync('/etc/conf', join(tree, 'link'));
    sh('setfattr', ['-n', 'user.note', '-v', 'kept', join(tree, 'etc', 'conf')]);
    sh('setfattr', ['-n', 'user.top', '-v', 'root', tree]);
    // A process whose working directory is the tree: /proc/PID/cwd/ is how `rkt export` reads a private view.
    const holder = spawn('sleep', ['60'], { cwd: tree, stdio: 'ignore' });
    try {
      const manifest = manifestJson('example.com/exported');
      const out = join(root, 'out.aci');
      const r = await buildAciFromRootfs(manifest, `/proc/${holder.pid}/cwd/`, out, { compression: 'gzip' });
      expect(r.compression).toBe('gzip');
      const scan = await scanAci(out);
      expect(scan.manifest.name).toBe('example.com/exported');
      const x = gnuExtract(out, join(root, 'x'));
      expect(readFileSync(join(x, 'manifest'), 'utf8')).toBe(manifest);
      expect(readdirSync(join(x, 'rootfs')).sort()).toEqual(['etc', 'link']);
      expect(readFileSync(join(x, 'rootfs', 'etc', 'conf'), 'utf8')).toBe('x=1\n');
      expect(readlinkSync(join(x, 'rootfs', 'link'))).toBe('/etc/conf');
      expect(xattrsOf(join(x, 'rootfs', 'etc', 'conf'))['user.note']).toBe('0x6b657074');
      expect(xattrsOf(join(x, 'rootfs'))['user.top']).toBe('0x726f6f74');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('refuses an invalid manifest before writing anything', async () => {
    const root = tempDir();
    const out = join(root, 'out.aci');
    await expect(buildAciFromRootfs('{"acKind":"ImageManifest"}', root, out)).rejects.toBeInstanceOf(ValidationError);
    expect(existsSync(out)).toBe(false);
  });
});

describe('buildAci from a list', () => {
  it('writes entries in path order with parents added, hardlinks carried by the first path', async () => {
    const d = tempDir();
    const host = writeFile(join(d, 'host-file'), 'from the host');
    const out = join(d, 'list.aci');
    const manifest = JSON.parse(manifestJson('example.com/list')) as Parameters<typeof buildAci>[0];
    const r = await buildAci(
      manifest,
      [
        { type: 'file', path: '/usr/bin/zz', data: 'zz', mode: 0o755, uid: 1, gid: 2, mtime: new Date('2020-01-01T00:00:00Z') },
        // The link sorts before its target: the writer swaps them so the first path carries the contents.
        { type: 'hardlink', path: 'usr/bin/aa', target: 'usr/bin/zz' },
        { type: 'file', path: 'etc/hostname', source: host },
        { type: 'symlink', path: 'bin', target: 'usr/bin' },
        { type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
        { type: 'fifo', path: 'run/pipe' },
        { type: 'directory', path: 'tmp', mode: 0o1777 },
        { type: 'file', path: 'etc/attr', data: Buffer.from([0, 1, 2]), xattrs: { 'user.k': 'v' } },
      ],
      out,
    );
    const listing = sh('tar', ['--numeric-owner', '-tvf', out]).toString().trim().split('\n');
    expect(listing.map((l) => l.replace(/\s+/g, ' ').replace(/ \d{4}-\d\d-\d\d \d\d:\d\d/, ''))).toEqual([
      '-rw-r--r-- 0/0 60 manifest'.replace('60', String(Buffer.byteLength(manifestJson('example.com/list')))),
      'drwxr-xr-x 0/0 0 rootfs/',
      'lrwxrwxrwx 0/0 0 rootfs/bin -> usr/bin',
      'drwxr-xr-x 0/0 0 rootfs/dev/',
      'crw-rw-rw- 0/0 1,3 rootfs/dev/null',
      'drwxr-xr-x 0/0 0 rootfs/etc/',
      '-rw-r--r-- 0/0 3 rootfs/etc/attr',
      '-rw-r--r-- 0/0 13 rootfs/etc/hostname',
      'drwxr-xr-x 0/0 0 rootfs/run/',
      'prw-r--r-- 0/0 0 rootfs/run/pipe',
      'drwxrwxrwt 0/0 0 rootfs/tmp/',
      'drwxr-xr-x 0/0 0 rootfs/usr/',
      'drwxr-xr-x 0/0 0 rootfs/usr/bin/',
      '-rwxr-xr-x 1/2 2 rootfs/usr/bin/aa',
      'hrwxr-xr-x 1/2 0 rootfs/usr/bin/zz link to rootfs/usr/bin/aa',
    ]);
    expect(actoolValidate(out)).toBe('');
    const scan = await scanAci(out);
    expect(scan.imageId).toBe(r.imageId);
    const x = gnuExtract(out, join(d, 'x'));
    expect(readFileSync(join(x, 'rootfs/usr/bin/zz'), 'utf8')).toBe('zz');
    expect(lstatSync(join(x, 'rootfs/usr/bin/zz')).mtimeMs).toBe(Date.parse('2020-01-01T00:00:00Z'));
    expect(xattrsOf(join(x, 'rootfs/etc/attr'))).toEqual({ 'user.k': '0x76' });

    // Same list in another order: same image.
    const again = await buildAci(
      manifest,
      [
        { type: 'file', path: 'etc/attr', data: Buffer.from([0, 1, 2]), xattrs: { 'user.k': 'v' } },
        { type: 'directory', path: 'tmp', mode: 0o1777 },
        { type: 'fifo', path: 'run/pipe' },
        { type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
        { type: 'symlink', path: 'bin', target: 'usr/bin' },
        { type: 'file', path: 'etc/hostname', source: host },
        { type: 'hardlink', path: 'usr/bin/aa', target: 'usr/bin/zz' },
        { type: 'file', path: 'usr/bin/zz', data: 'zz', mode: 0o755, uid: 1, gid: 2, mtime: 1577836800 },
      ],
      join(d, 'again.aci'),
    );
    expect(again.imageId).toBe(r.imageId);
  }, 30_000);

  it('refuses bad lists with the index of the entry at fault', async () => {
    const d = tempDir();
    const m = manifestJson();
    const cases: Array<[Parameters<typeof buildAci>[1], string, string]> = [
      [[{ type: 'file', path: '../etc/passwd', data: 'x' }], 'APPC_ACI_LAYOUT', 'entries[0].path: "../etc/passwd" has a ".." component'],
      [[{ type: 'symlink', path: 'a/b', target: '../../..' }], 'APPC_ACI_LAYOUT', 'entries[0]: is a symlink to "../../..", which points outside rootfs'],
      [[{ type: 'file', path: 'a', data: 'x' }, { type: 'file', path: '/a', data: 'y' }], 'APPC_ACI_LAYOUT', 'entries[1].path: "/a" is listed twice'],
      [[{ type: 'hardlink', path: 'a', target: 'b' }], 'APPC_ACI_LAYOUT', 'entries[0].target: "b" is not in the list'],
      [[{ type: 'file', path: 'a' } as never], 'APPC_VALIDATION', 'entries: [0]: needs exactly one of data or source'],
      [[{ type: 'file', path: 'a', data: 'x', mode: 0o10000 }], 'APPC_VALIDATION', 'entries: [0].mode: Too big: expected number to be <=4095'],
    ];
    for (const [entries, code, message] of cases) {
      const err = await appcErrorOf(() => buildAci(m, entries, join(d, 'x.aci')));
      expect({ code: err.code, message: err.message }).toEqual({ code, message });
    }
    expect(existsSync(join(d, 'x.aci'))).toBe(false);
    const bad = await appcErrorOf(() => buildAci('{"acKind":"ImageManifest"}', [], join(d, 'x.aci')));
    expect(bad.code).toBe('APPC_VALIDATION');
  }, 30_000);
});
