import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, pipeline, Transform } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { END_OF_ARCHIVE, encodeHeader, parseImageManifest, tarPadding, type TarHeader } from '@rkt/appc-spec';
import { openStore } from '@rkt/image-store';
import { FetchError, dockerToAci, type DockerImageSource, type DockerLayerFile } from '../src/index.js';
import { clampSymlink } from '../src/docker/squash.js';

const GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const OCI_TAR = 'application/vnd.oci.image.layer.v1.tar';
const APPC = join(import.meta.dirname, '../../../bin/appc');

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'rkt-docker-convert-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** A layer made by GNU tar (sorted, numeric owners, xattrs) from a real directory, gzipped with gzip -n or left plain. */
function gnuLayer(dir: string, name: string, gzip: boolean): DockerLayerFile {
  const tar = join(root, `${name}.tar`);
  execFileSync('tar', ['--sort=name', '--numeric-owner', '--xattrs', '-C', dir, '-cf', tar, '.']);
  if (!gzip) return { path: tar, mediaType: OCI_TAR, digest: sha256(readFileSync(tar)) };
  execFileSync('gzip', ['-n', '-f', tar]);
  const path = `${tar}.gz`;
  return { path, mediaType: GZIP, digest: sha256(readFileSync(path)) };
}

/** A hand-crafted tar (for members GNU tar would never write from real files). */
function craftedTar(members: Array<TarHeader & { data?: string }>): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const data = Buffer.from(m.data ?? '');
    parts.push(encodeHeader({ ...m, size: m.type === 'file' ? data.length : 0 }));
    if (m.type === 'file') parts.push(data, Buffer.alloc(tarPadding(data.length)));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

function layerFile(name: string, bytes: Buffer, mediaType = OCI_TAR): DockerLayerFile {
  const path = join(root, name);
  writeFileSync(path, bytes);
  return { path, mediaType, digest: sha256(bytes) };
}

const file = (name: string, data: string, mode = 0o644): TarHeader & { data: string } => ({ name, type: 'file', mode, uid: 0, gid: 0, size: 0, mtime: 1, data });
const dir = (name: string): TarHeader => ({ name, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1 });

function source(layers: DockerLayerFile[], config: Record<string, unknown> = { os: 'linux', architecture: 'amd64', config: {} }): DockerImageSource {
  return {
    registry: 'registry-1.docker.io',
    repository: 'library/test',
    tag: 'latest',
    manifestDigest: `sha256:${'1'.repeat(64)}`,
    configDigest: `sha256:${'2'.repeat(64)}`,
    config,
    layers,
  };
}

/** Runs a conversion that must fail: one line, the code, nothing left in the output directory. */
async function expectRefused(src: DockerImageSource, pattern: RegExp): Promise<string> {
  const outDir = mkdtempSync(join(root, 'out-'));
  const err = await dockerToAci(src, join(outDir, 'image.aci')).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FetchError);
  const fe = err as FetchError;
  expect(fe.code).toBe('FETCH_DOCKER_CONVERT');
  expect(fe.message).not.toContain('\n');
  expect(fe.message).toMatch(pattern);
  expect(readdirSync(outDir)).toEqual([]);
  return fe.message;
}

describe('dockerToAci: squashing real layers', () => {
  let aci: string;
  let layers: DockerLayerFile[];

  beforeAll(async () => {
    // Layer 1: the base.
    const l1 = join(root, 'l1');
    mkdirSync(join(l1, 'etc'), { recursive: true });
    writeFileSync(join(l1, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(l1, 'etc/removed'), 'gone in layer 2\n');
    mkdirSync(join(l1, 'opaque/sub'), { recursive: true });
    writeFileSync(join(l1, 'opaque/a'), 'hidden\n');
    writeFileSync(join(l1, 'opaque/sub/b'), 'hidden too\n');
    writeFileSync(join(l1, 'replace-me'), 'a file, then a directory\n');
    mkdirSync(join(l1, 'dir-to-file/deep'), { recursive: true });
    writeFileSync(join(l1, 'dir-to-file/deep/x'), 'under a directory that becomes a file\n');
    mkdirSync(join(l1, 'bin'));
    writeFileSync(join(l1, 'bin/tool'), '#!/bin/sh\necho tool\n');
    chmodSync(join(l1, 'bin/tool'), 0o4755);
    mkdirSync(join(l1, 'dev'));
    execFileSync('mknod', [join(l1, 'dev/null'), 'c', '1', '3']);
    chmodSync(join(l1, 'dev/null'), 0o666);
    mkdirSync(join(l1, 'usr/lib'), { recursive: true });
    writeFileSync(join(l1, 'usr/lib/libbase.so'), 'base library\n');
    symlinkSync('usr/lib', join(l1, 'lib'));
    symlinkSync('usr/lib', join(l1, 'lib64'));

    // Layer 2: deletes a file, hides a directory's lower contents, swaps a file and a directory, adds a
    // hardlinked pair and a symlink.
    const l2 = join(root, 'l2');
    mkdirSync(join(l2, 'etc'), { recursive: true });
    writeFileSync(join(l2, 'etc/.wh.removed'), '');
    mkdirSync(join(l2, 'opaque'));
    writeFileSync(join(l2, 'opaque/.wh..wh..opq'), '');
    writeFileSync(join(l2, 'opaque/new'), 'the only thing left in opaque\n');
    mkdirSync(join(l2, 'replace-me'));
    writeFileSync(join(l2, 'replace-me/inner'), 'now a directory\n');
    writeFileSync(join(l2, 'dir-to-file'), 'now a file\n');
    chmodSync(join(l2, 'dir-to-file'), 0o600);
    mkdirSync(join(l2, 'data'));
    writeFileSync(join(l2, 'data/h1'), 'shared contents\n');
    linkSync(join(l2, 'data/h1'), join(l2, 'data/h2'));
    linkSync(join(l2, 'data/h1'), join(l2, 'data/h3'));
    mkdirSync(join(l2, 'bin'));
    symlinkSync('tool', join(l2, 'bin/tool-link'));

    // Layer 3 (plain tar): deletes the first of the hardlinked names, so another must carry the contents, and
    // has a directory `lib` (GNU tar writes the directory's own member), which replaces the lower `lib ->
    // usr/lib` symlink as Docker's applier replaces it (a directory only merges into a directory).
    const l3 = join(root, 'l3');
    mkdirSync(join(l3, 'data'), { recursive: true });
    writeFileSync(join(l3, 'data/.wh.h1'), '');
    mkdirSync(join(l3, 'lib'));
    writeFileSync(join(l3, 'lib/libadded.so'), 'in a directory now\n');

    // Layer 4 (hand-made: GNU tar always writes the parent directory): a file under `lib64/` with no member for
    // `lib64` itself goes where the lower `lib64 -> usr/lib` symlink points, resolved inside the image.
    layers = [
      gnuLayer(l1, 'l1', true),
      gnuLayer(l2, 'l2', true),
      gnuLayer(l3, 'l3', false),
      layerFile('l4.tar', craftedTar([file('lib64/libcrafted.so', 'through the symlink\n')])),
    ];
    aci = join(root, 'squashed.aci');
    await dockerToAci(source(layers), aci);
  }, 60_000);

  it('writes an ACI that appc validate and the reference actool validate accept', () => {
    expect(execFileSync('actool', ['validate', aci]).toString()).toBe('');
    execFileSync(process.execPath, [APPC, 'validate', aci]);
    // Uncompressed, manifest first.
    const names = execFileSync('tar', ['-tf', aci]).toString().trim().split('\n');
    expect(names.slice(0, 2)).toEqual(['manifest', 'rootfs/']);
    expect(names.filter((n) => n.includes('.wh.'))).toEqual([]);
  });

  it('renders, through a real image store, the tree the layers describe', async () => {
    const store = await openStore({ dir: join(root, 'store') });
    const { id } = await store.importAci(aci);
    const tree = await store.render(id);
    const r = (p: string) => join(tree.rootfs, p);
    const text = (p: string) => readFileSync(r(p), 'utf8');

    expect(text('etc/passwd')).toBe('root:x:0:0:root:/root:/bin/sh\n');
    expect(existsSync(r('etc/removed'))).toBe(false);
    expect(readdirSync(r('opaque'))).toEqual(['new']);
    expect(lstatSync(r('replace-me')).isDirectory()).toBe(true);
    expect(text('replace-me/inner')).toBe('now a directory\n');
    expect(lstatSync(r('dir-to-file')).isFile()).toBe(true);
    expect(text('dir-to-file')).toBe('now a file\n');
    expect(lstatSync(r('dir-to-file')).mode & 0o7777).toBe(0o600);

    expect(lstatSync(r('bin/tool')).mode & 0o7777).toBe(0o4755);
    expect(readlinkSync(r('bin/tool-link'))).toBe('tool');
    const dev = lstatSync(r('dev/null'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe(lstatSync('/dev/null').rdev);
    // docker2aci's stdio symlinks, beside the image's own /dev.
    expect(readlinkSync(r('dev/stdin'))).toBe('/proc/self/fd/0');
    expect(readlinkSync(r('dev/stdout'))).toBe('/dev/console');

    // h1 is gone; h2 and h3 still share the contents (one inode).
    expect(existsSync(r('data/h1'))).toBe(false);
    expect(text('data/h2')).toBe('shared contents\n');
    expect(lstatSync(r('data/h2')).ino).toBe(lstatSync(r('data/h3')).ino);
    expect(lstatSync(r('data/h2')).nlink).toBe(2);

    // Layer 3's directory replaced the `lib` symlink; usr/lib is untouched by it.
    expect(lstatSync(r('lib')).isDirectory()).toBe(true);
    expect(readdirSync(r('lib'))).toEqual(['libadded.so']);
    expect(readdirSync(r('usr/lib')).sort()).toEqual(['libbase.so', 'libcrafted.so']);
    // Layer 4's file went through the `lib64` symlink, which stays.
    expect(readlinkSync(r('lib64'))).toBe('usr/lib');
    expect(text('usr/lib/libcrafted.so')).toBe('through the symlink\n');
    expect(text('usr/lib/libbase.so')).toBe('base library\n');
  });

  it('gives the same bytes for the same inputs', async () => {
    const again = join(root, 'again.aci');
    await dockerToAci(source(layers), again);
    expect(readFileSync(again).equals(readFileSync(aci))).toBe(true);
  });

  it('with removeLayers, takes each layer file away once converted (a blob used twice after its last use), same bytes', async () => {
    const copies = layers.map((l, i) => {
      const path = join(root, `copy-${i}`);
      writeFileSync(path, readFileSync(l.path));
      return { ...l, path };
    });
    // The first layer again at the top: one file, needed until the end.
    const out = join(root, 'removed.aci');
    const twice = [...copies, copies[0]!];
    await dockerToAci(source(twice), out, { removeLayers: true });
    expect(copies.map((l) => existsSync(l.path))).toEqual(copies.map(() => false));
    const kept = join(root, 'kept.aci');
    await dockerToAci(source([...layers, layers[0]!]), kept);
    expect(readFileSync(out).equals(readFileSync(kept))).toBe(true);
  });

  it('to a stream: the same bytes as to a file, waiting for a slow reader, and the same image ID through a streamed import', async () => {
    // A small buffer and a reader that takes its time: the converter has to wait for drains.
    const slow = new PassThrough({ highWaterMark: 16 << 10 });
    const chunks: Buffer[] = [];
    let most = 0;
    const reading = (async () => {
      for await (const c of slow as AsyncIterable<Buffer>) {
        chunks.push(c);
        most = Math.max(most, slow.writableLength);
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    await dockerToAci(source(layers), slow);
    await reading;
    expect(Buffer.concat(chunks).equals(readFileSync(aci))).toBe(true);
    // Never more than a batch (1 MiB) beyond the buffer: it waited.
    expect(most).toBeLessThanOrEqual((16 << 10) + (1 << 20));

    const fromFile = await openStore({ dir: join(root, 'store-file') });
    const fromStream = await openStore({ dir: join(root, 'store-stream') });
    const pass = new PassThrough();
    const [, streamed] = await Promise.all([dockerToAci(source(layers), pass), fromStream.importAci(pass)]);
    expect(streamed.id).toBe((await fromFile.importAci(aci)).id);
  });

  it('to a stream, failing in its second pass: the stream is destroyed with the error, and the import of it stores nothing', async () => {
    const big = layerFile('stream-big.tar', craftedTar([file('big', 'b'.repeat(8 << 20))]));
    const second = layerFile('stream-second.tar', craftedTar([file('second', 'two')]));
    const store = await openStore({ dir: join(root, 'store-failing') });
    const pass = new PassThrough({ highWaterMark: 64 << 10 });
    let seen = 0;
    let cut = false;
    // Once the import has taken 2 MiB (pass one is over, pass two is copying the first layer), the second layer is
    // cut on disk: its second read finds none of the members its first read found.
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        if (!cut && seen >= 2 << 20) {
          cut = true;
          writeFileSync(second.path, '');
        }
        cb(null, chunk);
      },
    });
    let streamError: unknown;
    pass.on('error', (e) => (streamError = e));
    // pipeline hands the stream's failure on to the import's input.
    pipeline(pass, counter, () => undefined);
    const importing = store.importAci(counter).then(() => undefined, (e: unknown) => e);
    const err = await dockerToAci(source([big, second]), pass).then(() => undefined, (e: unknown) => e);
    expect(cut).toBe(true);
    expect(err).toBeInstanceOf(FetchError);
    expect((err as FetchError).code).toBe('FETCH_DOCKER_CONVERT');
    expect((err as FetchError).message).toBe(`layer ${second.digest}: has 0 members on the second read, 1 on the first`);
    expect(pass.destroyed).toBe(true);
    expect(await importing).toBeInstanceOf(Error);
    // Said on the stream, a tick after its destroy.
    expect(streamError).toBe(err);
    expect(await store.list()).toEqual([]);
    expect(readdirSync(store.layout.tmp)).toEqual([]);
  });
});

describe('dockerToAci: the image manifest', () => {
  it('is docker2aci’s for a config with every field it reads', async () => {
    const layer = layerFile('m.tar', craftedTar([file('hello', 'hi\n')]));
    const src: DockerImageSource = {
      ...source([layer], {
        os: 'linux',
        architecture: 'arm',
        variant: 'v7',
        author: 'someone <a@example.com>',
        created: '2024-01-02T03:04:05.123456789Z',
        config: {
          User: '1000',
          Env: ['PATH=/usr/bin:/bin', 'EQ=a=b', 'NOVALUE', 'PATH=/override'],
          Entrypoint: ['/bin/tool'],
          Cmd: ['-x', '<a&b>'],
          WorkingDir: '/srv',
          ExposedPorts: { '80/tcp': {}, '53/udp': {}, '8080': {} },
          Volumes: { '/var/lib/x': {}, '/data': {}, '/data/': {} },
          Labels: { maintainer: 'x' },
        },
      }),
      registry: '127.0.0.1:5000',
      repository: 'team/App',
      tag: 'v1.2',
      originalName: '127.0.0.1:5000/team/App:v1.2',
    };
    const out = join(root, 'manifest.aci');
    const { manifest } = await dockerToAci(src, out);
    const written = parseImageManifest(execFileSync('actool', ['cat-manifest', out]));
    expect(written).toEqual(manifest);
    expect(manifest).toEqual({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: '127.0.0.1_5000/team/app',
      labels: [
        { name: 'arch', value: 'armv7l' },
        { name: 'os', value: 'linux' },
        { name: 'version', value: 'v1.2' },
      ],
      app: {
        exec: ['/bin/tool', '-x', '<a&b>'],
        user: '1000',
        group: '1000',
        workingDirectory: '/srv',
        environment: [
          { name: 'PATH', value: '/override' },
          { name: 'EQ', value: 'a=b' },
        ],
        mountPoints: [
          { name: 'volume-data', path: '/data' },
          { name: 'volume-data-1', path: '/data/' },
          { name: 'volume-var-lib-x', path: '/var/lib/x' },
        ],
        ports: [
          { name: '53-udp', protocol: 'udp', port: 53, count: 1 },
          { name: '80-tcp', protocol: 'tcp', port: 80, count: 1 },
          { name: '8080', protocol: 'tcp', port: 8080, count: 1 },
        ],
      },
      annotations: [
        { name: 'author', value: 'someone <a@example.com>' },
        { name: 'created', value: '2024-01-02T03:04:05.123456789Z' },
        { name: 'appc.io/docker/originalname', value: '127.0.0.1:5000/team/App:v1.2' },
        { name: 'appc.io/docker/registryurl', value: '127.0.0.1:5000' },
        { name: 'appc.io/docker/repository', value: 'team/App' },
        { name: 'appc.io/docker/imageid', value: layer.digest },
        { name: 'appc.io/docker/manifesthash', value: src.manifestDigest },
        { name: 'appc.io/docker/entrypoint', value: '["/bin/tool"]' },
        { name: 'appc.io/docker/cmd', value: '["-x","\\u003ca\\u0026b\\u003e"]' },
      ],
    });
  });

  it('has root for an empty user, no version for a digest pull, and no exec when Entrypoint and Cmd are empty', async () => {
    const layer = layerFile('d.tar', craftedTar([file('x', 'x')]));
    const src: DockerImageSource = {
      ...source([layer], { os: 'linux', architecture: 'arm64', variant: 'v8', config: { User: 'www:adm', Cmd: null, Entrypoint: null } }),
      tag: undefined,
      digest: `sha256:${'3'.repeat(64)}`,
    };
    const { manifest } = await dockerToAci(src, join(root, 'digest.aci'));
    expect(manifest.name).toBe('registry-1.docker.io/library/test');
    expect(manifest.labels).toEqual([
      { name: 'arch', value: 'aarch64' },
      { name: 'os', value: 'linux' },
    ]);
    expect(manifest.app).toEqual({ user: 'www', group: 'adm' });
    const { manifest: rootApp } = await dockerToAci(source([layer], { os: 'linux', architecture: 'amd64', config: { Cmd: ['sh'] } }), join(root, 'root.aci'));
    expect(rootApp.app).toEqual({ exec: ['sh'], user: '0', group: '0' });
  });

  it('refuses config fields it cannot convert, naming them', async () => {
    const layer = layerFile('c.tar', craftedTar([file('x', 'x')]));
    await expectRefused(source([layer], { os: 'linux', architecture: 'amd64', config: { ExposedPorts: { 'http/tcp': {} } } }), /^image config sha256:2+: config\.ExposedPorts\["http\/tcp"\]: "http" is not a port number$/);
    await expectRefused(source([layer], { os: 'linux', architecture: 'riscv64', config: {} }), /image config sha256:2+: architecture: os "linux", architecture "riscv64" has no appc os\/arch label/);
    await expectRefused(source([layer], { os: 'linux', architecture: 'amd64', config: { Env: ['A=1', 7] } }), /image config sha256:2+: config\.Env\[1\]: /);
    await expectRefused(source([layer], { os: 'linux', architecture: 'amd64', config: { WorkingDir: 'srv' } }), /config\.WorkingDir: "srv" is not an absolute path/);
  });
});

describe('dockerToAci: bad and hostile layers', () => {
  it('refuses a member with a ".." component, naming the layer and the member', async () => {
    const layer = layerFile('dotdot.tar', craftedTar([file('ok', 'fine'), file('a/../../x', 'escape')]));
    const msg = await expectRefused(source([layer]), /member "a\/..\/..\/x" has a "\.\." component/);
    expect(msg).toContain(`layer ${layer.digest}:`);
  });

  it('keeps an absolute member name inside rootfs, as Docker strips the leading slash', async () => {
    const layer = layerFile('abs.tar', craftedTar([dir('/abs'), file('/abs/x', 'inside')]));
    const out = join(root, 'abs.aci');
    await dockerToAci(source([layer]), out);
    expect(execFileSync('tar', ['-xOf', out, 'rootfs/abs/x']).toString()).toBe('inside');
  });

  it('refuses a hardlink to nothing, and a member under a file', async () => {
    await expectRefused(source([layerFile('hl.tar', craftedTar([{ ...file('l', ''), type: 'hardlink', linkname: 'missing' }]))]), /member "l" is a hardlink to "missing", which is not in this layer or a lower one/);
    const lower = layerFile('f1.tar', craftedTar([file('f', 'a file')]));
    const upper = layerFile('f2.tar', craftedTar([file('f/x', 'under a file')]));
    await expectRefused(source([lower, upper]), /member "f\/x" is under "f", which is a file, not a directory/);
  });

  it('never writes through a symlink out of the root: a member under `up -> ../..` stays inside', async () => {
    const lower = layerFile('sl1.tar', craftedTar([{ ...file('up', ''), type: 'symlink', linkname: '../../../..' }]));
    const upper = layerFile('sl2.tar', craftedTar([file('up/etc/evil', 'contained')]));
    const out = join(root, 'symlink.aci');
    await dockerToAci(source([lower, upper]), out);
    const names = execFileSync('tar', ['-tf', out]).toString().trim().split('\n');
    // `..` stops at the root, as in the container: the member lands at /etc/evil; the link itself is clamped.
    expect(names).toContain('rootfs/etc/evil');
    expect(execFileSync('tar', ['-tvf', out]).toString()).toMatch(/rootfs\/up -> \.\n/);
    expect(execFileSync('actool', ['validate', out]).toString()).toBe('');
  });

  it('refuses a corrupt gzip layer, a truncated tar, and zstd', async () => {
    const tar = craftedTar([file('big', 'x'.repeat(100_000)), file('after', 'y')]);
    const gz = gzipSync(tar);
    const corrupt = Buffer.from(gz);
    for (let i = 200; i < 260; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
    await expectRefused(source([layerFile('corrupt.tar.gz', corrupt, GZIP)]), /^layer sha256:[0-9a-f]{64}: corrupt gzip data/);
    await expectRefused(source([layerFile('cut.tar.gz', gz.subarray(0, gz.length - 40), GZIP)]), /^layer sha256:[0-9a-f]{64}: gzip data is truncated/);
    await expectRefused(source([layerFile('cut.tar', tar.subarray(0, 50_000))]), /^layer sha256:[0-9a-f]{64}: archive is truncated inside entry "big"/);
    await expectRefused(source([layerFile('z.tar.zst', tar, 'application/vnd.oci.image.layer.v1.tar+zstd')]), /zstd-compressed layers \(application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd\) are not supported/);
    const zstdMagic = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100)]);
    await expectRefused(source([layerFile('z2', zstdMagic)]), /zstd-compressed layers are not supported/);
  });

  it('stops when its signal is aborted, leaving nothing', async () => {
    const layer = layerFile('abort.tar', craftedTar([file('x', 'x')]));
    const outDir = mkdtempSync(join(root, 'out-'));
    const reason = new Error('stop now');
    await expect(dockerToAci(source([layer]), join(outDir, 'image.aci'), { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('clamps only the `..` that climb above the root', () => {
    expect(clampSymlink('usr/lib/a', '../../../../etc/x')).toBe('../../etc/x');
    expect(clampSymlink('usr/lib/a', '../../etc/x')).toBe('../../etc/x');
    expect(clampSymlink('a', '/abs/../x')).toBe('/abs/../x');
  });
});
