// Every `rkt fetch` / `rkt image ...` command through the built bin/rkt, as a user runs them: output,
// exit status, and for bad input one line on stderr, exit 254 and the store unchanged.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildAci } from '@rkt/appc-spec';
import { openStore } from '@rkt/image-store';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rawTar } from '../../packages/image-store/test/helpers.js';
import { ensureBuilt, sha512Id, StoreEnv } from './harness.js';

let env: StoreEnv;
beforeAll(() => ensureBuilt(), 600_000);
beforeEach(() => { env = new StoreEnv(); });
afterEach(() => env.cleanup());

interface Img { name: string; version?: string; files: Record<string, string>; deps?: string[]; labels?: Record<string, string> }

async function aci(img: Img, compression: 'gzip' | 'none' | 'xz' | 'bzip2' = 'gzip'): Promise<string> {
  const labels = Object.entries({ ...(img.version === undefined ? {} : { version: img.version }), ...img.labels }).map(([name, value]) => ({ name, value }));
  const manifest = JSON.stringify({
    acKind: 'ImageManifest', acVersion: '0.8.11', name: img.name, labels,
    ...(img.deps === undefined ? {} : { dependencies: img.deps.map((imageName) => ({ imageName })) }),
  });
  const out = join(env.tmp, `${img.name.replace(/\W/g, '_')}-${img.version ?? ''}-${Object.keys(img.files).join('_').replace(/\W/g, '_')}.${compression}.aci`);
  await buildAci(manifest, Object.entries(img.files).map(([path, data]) => ({ type: 'file' as const, path, data })), out, { compression, overwrite: true });
  return out;
}

/** What the fetcher says once with --insecure-options=image: a warning the user asked for, not part of an error. */
const SKIP_IMAGE_CHECK_WARNING = 'warning: image signature verification has been disabled (--insecure-options=image)\n';

/** One line on stderr (after the warning --insecure-options=image asks for), exit 254, nothing on stdout, and the store as it was. */
function refused(args: string[], message: RegExp): void {
  const before = env.snapshot();
  const r = env.run(args);
  const stderr = r.stderr.startsWith(SKIP_IMAGE_CHECK_WARNING) ? r.stderr.slice(SKIP_IMAGE_CHECK_WARNING.length) : r.stderr;
  expect(stderr).toMatch(message);
  expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stdout).toBe('');
  expect(r.status).toBe(254);
  expect(env.snapshot()).toBe(before);
}

describe('rkt fetch', () => {
  it('refuses an unsigned file unless --insecure-options=image, then prints the short or full image ID', async () => {
    const file = await aci({ name: 'example.com/hello', version: '1.0', files: { 'bin/hi': 'hi\n' } });
    // The store exists first: a refused fetch has opened it (empty), and the snapshot would count that as a change.
    expect(env.ids()).toEqual([]);
    refused(['fetch', file], /^fetch: .*hello.*\.aci: error opening signature file: .*--insecure-options=image/);
    const id = sha512Id(gunzipSync(readFileSync(file)));
    const short = env.run(['--insecure-options=image', 'fetch', file]);
    expect(short).toMatchObject({ status: 0, stdout: `${id.slice(0, 19)}\n`, stderr: SKIP_IMAGE_CHECK_WARNING });
    expect(env.fetch(file)).toBe(id);
  });

  it('gives the same ID to every compression the spec allows, and refuses zstd', async () => {
    const spec = { name: 'example.com/comp', files: { 'etc/data': 'x'.repeat(10_000) } };
    const plain = await aci(spec, 'none');
    const id = sha512Id(readFileSync(plain));
    for (const c of ['gzip', 'bzip2', 'xz'] as const) expect(env.fetch(await aci(spec, c))).toBe(id);
    const zst = join(env.tmp, 'x.aci.zst');
    execFileSync('zstd', ['-q', '-f', plain, '-o', zst]);
    refused(['--insecure-options=image', 'fetch', zst], /^fetch: .*x\.aci\.zst: .*zstd/);
    expect(env.ids()).toEqual([id]);
  });

  it('refuses a missing file, a directory, plain http, docker and hostile archives with one line each', async () => {
    env.fetch(await aci({ name: 'example.com/keep', files: { a: 'a' } }));
    refused(['--insecure-options=image', 'fetch', 'missing.aci'], /^fetch: missing\.aci: no such file$/m);
    mkdirSync(join(env.tmp, 'adir'));
    // `./`: without it, rkt (and the fetcher) take a word that names no regular file for an image name.
    refused(['--insecure-options=image', 'fetch', './adir'], /^fetch: \.\/adir: not a file$/m);
    // Refused before any connection: port 1 is never asked.
    refused(['--insecure-options=image', 'fetch', 'http://127.0.0.1:1/x.aci'], /^fetch: http:\/\/127\.0\.0\.1:1\/x\.aci: plain http is not allowed; use https or --insecure-options=http$/m);
    refused(['fetch', 'docker://busybox'], /^fetch: docker:\/\/busybox: signature verification for docker images is not supported \(try --insecure-options=image\)\n$/);
    refused(['--insecure-options=image', 'fetch', 'docker://busybox:bad:tag'], /^fetch: docker:\/\/busybox:bad:tag: invalid docker image reference: /);
    const victim = join(env.tmp, 'victim');
    const hostile: [string, Buffer, RegExp][] = [
      ['dotdot.aci', rawTar([{ name: 'manifest', content: '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/h"}' }, { name: 'rootfs/', type: '5' }, { name: `rootfs/../../../..${victim}`, content: 'x' }]), /dotdot\.aci: entry .* has a "\.\." component/],
      ['through-link.aci', rawTar([{ name: 'manifest', content: '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/h"}' }, { name: 'rootfs/', type: '5' }, { name: 'rootfs/l', type: '2', linkname: env.tmp }, { name: 'rootfs/l/victim', content: 'x' }]), /is under "rootfs\/l", which is a symlink/],
      ['not-tar.aci', Buffer.from('not an archive at all'.repeat(50)), /not-tar\.aci: not a tar archive/],
      ['bad-manifest.aci', rawTar([{ name: 'manifest', content: '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"Bad Name"}' }, { name: 'rootfs/', type: '5' }]), /bad-manifest\.aci: manifest: name: must be an AC Identifier/],
    ];
    for (const [name, bytes, message] of hostile) {
      writeFileSync(join(env.tmp, name), bytes);
      refused(['--insecure-options=image', 'fetch', name], message);
    }
    expect(existsSync(victim)).toBe(false);
    expect(readdirSync(join(env.dir, 'cas/tmp'))).toEqual([]);
  });
});

describe('rkt image list', () => {
  it("prints rkt's columns, --no-legend, --full, --fields, --sort/--order and JSON", async () => {
    const a = env.fetch(await aci({ name: 'example.com/aaa', version: '1.0', files: { a: 'a'.repeat(3000) } }));
    const b = env.fetch(await aci({ name: 'example.com/bbb', files: { b: 'b' } }));
    const table = env.run(['image', 'list']);
    expect(table.status).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]?.split(/\t+/)).toEqual(['ID', 'NAME', 'SIZE', 'IMPORT TIME', 'LAST USED']);
    // SIZE counts the stored ACI and the tree `rkt fetch` rendered; a render on a busy machine may take the times past "now".
    const cells = lines[1]?.split(/\t+/) ?? [];
    expect(cells.slice(0, 2)).toEqual([a.slice(0, 19), 'example.com/aaa:1.0']);
    expect(cells[2]).toMatch(/^\d+\.\d KiB$/);
    for (const time of cells.slice(3)) expect(time).toMatch(/^(now|\d+ seconds? ago)$/);
    expect(lines[2]?.split(/\t+/).slice(0, 2)).toEqual([b.slice(0, 19), 'example.com/bbb']);
    const full = env.run(['image', 'list', '--full', '--no-legend', '--fields=ID,size,importtime,latest']);
    const row = full.stdout.split('\n')[0]?.split(/\t+/) ?? [];
    expect(row[0]).toBe(a);
    const tree = (await (await openStore({ dir: env.dir })).trees()).find((t) => t.imageId === a);
    expect(row[1]).toBe(String(readFileSync(join(env.dir, 'cas/images', a, 'aci')).length + (tree?.size ?? NaN)));
    expect(row[2]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+$/);
    // rkt's file fetcher stored local files with Latest false (only a fetch by name without a version sets it).
    expect(row[3]).toBe('false');
    expect(env.run(['image', 'list', '--no-legend', '--fields=name', '--sort=name', '--order=desc']).stdout.split('\n').map((l) => l.trim()))
      .toEqual(['example.com/bbb', 'example.com/aaa:1.0', '']);
    const json = JSON.parse(env.run(['image', 'list', '--format=json']).stdout) as { id: string; name: string; size: number; import_time: number }[];
    expect(json.map((j) => [j.id, j.name])).toEqual([[a, 'example.com/aaa:1.0'], [b, 'example.com/bbb']]);
    expect(json[0]?.import_time).toBeGreaterThan(Date.now() * 1e6 - 600e9);
    refused(['image', 'list', '--fields=id,bogus'], /^image list: invalid argument "id,bogus" for --fields: unknown field "bogus"/);
    refused(['image', 'list', '--format=yaml'], /^image list: .*--format/);
  });
});

describe('rkt image rm, cat-manifest, export', () => {
  it('resolves IDs, prefixes and names; unknown and ambiguous prefixes are one line and 254', async () => {
    // Two images whose IDs share their first two hex digits: made in memory until the hashes collide there.
    const byPrefix = new Map<string, Buffer>();
    let pair: [Buffer, Buffer] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const bytes = rawTar([{ name: 'manifest', content: `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/n${i}"}` }, { name: 'rootfs/', type: '5' }]);
      const p = sha512Id(bytes).slice(0, 9);
      const other = byPrefix.get(p);
      if (other !== undefined) pair = [other, bytes];
      byPrefix.set(p, bytes);
    }
    const ids = pair.map((bytes, i) => { const f = join(env.tmp, `p${i}.aci`); writeFileSync(f, bytes); return env.fetch(f); });
    const prefix = (ids[0] as string).slice(0, 9);
    refused(['image', 'rm', prefix], new RegExp(`^image rm: image ID prefix ${prefix} matches 2 images`));
    refused(['image', 'cat-manifest', prefix], /^image cat-manifest: image ID prefix .* matches 2 images/);
    refused(['image', 'rm', 'sha512-0000000000ffffff'], /^image rm: no image ID starts with sha512-0000000000ffffff$/m);
    refused(['image', 'export', 'example.com/nothing', 'x.aci'], /^image export: no image named example\.com\/nothing/);
    refused(['image', 'rm', 'sha512-XYZ'], /^image rm: invalid image ID "sha512-XYZ"/);

    const manifest = env.run(['image', 'cat-manifest', (ids[1] as string).slice(0, 30)]);
    expect(manifest.status).toBe(0);
    expect(manifest.stdout).toMatch(/^\{\n\t"acKind": "ImageManifest",\n/);
    expect(env.run(['image', 'cat-manifest', '--pretty-print=false', ids[1] as string]).stdout).toMatch(/^\{"acKind":"ImageManifest",.*\}\n$/);

    const rm = env.run(['image', 'rm', ids[0] as string, 'sha512-abababababab']);
    expect(rm.status).toBe(254);
    expect(rm.stdout).toBe(`successfully removed aci for image: "${ids[0]}"\n`);
    expect(rm.stderr).toBe('image rm: no image ID starts with sha512-abababababab\nimage rm: 1 image(s) successfully removed\nimage rm: 1 image(s) cannot be removed\n');
    expect(env.ids()).toEqual([ids[1]]);
  });

  it('exports the stored ACI, whose sha512 is the image ID; refuses to overwrite without --overwrite', async () => {
    const id = env.fetch(await aci({ name: 'example.com/exp', version: '2', files: { f: 'content' } }, 'xz'));
    expect(env.run(['image', 'export', 'example.com/exp:2', 'out.aci'])).toMatchObject({ status: 0, stdout: '', stderr: '' });
    expect(sha512Id(readFileSync(join(env.tmp, 'out.aci')))).toBe(id);
    writeFileSync(join(env.tmp, 'out.aci'), 'precious');
    refused(['image', 'export', id, 'out.aci'], /^image export: out\.aci: output ACI file exists \(try --overwrite\)$/m);
    expect(readFileSync(join(env.tmp, 'out.aci'), 'utf8')).toBe('precious');
    expect(env.run(['image', 'export', '--overwrite', id, 'out.aci']).status).toBe(0);
    expect(sha512Id(readFileSync(join(env.tmp, 'out.aci')))).toBe(id);
  });
});

describe('rkt image extract, render, verify, gc', () => {
  it('extracts the image alone and renders it with its dependencies; --rootfs-only; --overwrite', async () => {
    env.fetch(await aci({ name: 'example.com/base', files: { 'etc/base': 'base', 'etc/shared': 'from base' } }));
    // `new`: the dependency is the stored example.com/base; with `update` it would be asked of its server.
    const app = env.fetch(await aci({ name: 'example.com/app', deps: ['example.com/base'], files: { 'bin/app': 'app', 'etc/shared': 'from app' } }), ['--pull-policy=new']);
    expect(env.run(['image', 'extract', 'example.com/app', 'ex'])).toMatchObject({ status: 0, stderr: '' });
    expect(readdirSync(join(env.tmp, 'ex')).sort()).toEqual(['manifest', 'rootfs']);
    expect(existsSync(join(env.tmp, 'ex/rootfs/etc/base'))).toBe(false);
    expect(env.run(['image', 'render', '--rootfs-only', app, 'rd'])).toMatchObject({ status: 0, stderr: '' });
    expect(readFileSync(join(env.tmp, 'rd/etc/base'), 'utf8')).toBe('base');
    expect(readFileSync(join(env.tmp, 'rd/etc/shared'), 'utf8')).toBe('from app');
    expect(readFileSync(join(env.tmp, 'rd/bin/app'), 'utf8')).toBe('app');
    refused(['image', 'render', app, 'rd'], /^image render: rd: output directory exists and is not empty \(try --overwrite\)$/m);
    refused(['image', 'render', '--overwrite', 'sha512-ffffffffffff', 'rd'], /^image render: no image ID starts with/);
    expect(readFileSync(join(env.tmp, 'rd/bin/app'), 'utf8')).toBe('app');
    expect(env.run(['image', 'extract', '--overwrite', app, 'rd']).status).toBe(0);
    expect(readdirSync(join(env.tmp, 'rd')).sort()).toEqual(['manifest', 'rootfs']);
    expect(readdirSync(env.tmp).filter((n) => n.includes('.old-'))).toEqual([]);
    const nodeps = env.run(['image', 'rm', 'example.com/base']);
    expect(nodeps.status).toBe(0);
    refused(['image', 'render', app, 'rd2'], /^image render: dependency example\.com\/base of example\.com\/app .* is not in the store$/m);
  });

  it('verifies images, reports a tampered blob with 254, and gc removes images past the grace period', async () => {
    const id = env.fetch(await aci({ name: 'example.com/v', files: { f: 'v' } }));
    // The tree `rkt fetch` rendered is verified with its image.
    expect(env.run(['image', 'verify', id])).toMatchObject({
      status: 0, stdout: expect.stringMatching(new RegExp(`^${id.slice(0, 19)} \\(example\\.com/v\\): ok\n${id.slice(0, 19)} \\(example\\.com/v\\): tree deps-sha512-[0-9a-f]{12}: ok\n$`)),
    });
    const blob = join(env.dir, 'cas/images', id, 'aci');
    const bytes = readFileSync(blob);
    bytes.writeUInt8((bytes.at(-1) ?? 0) ^ 1, bytes.length - 1);
    writeFileSync(blob, bytes);
    const bad = env.run(['image', 'verify', id]);
    expect(bad.status).toBe(254);
    expect(bad.stdout).toMatch(/^sha512-[0-9a-f]{12} \(example\.com\/v\): corrupt: the stored ACI no longer hashes to its ID \(fetch the image again to replace it\)\n/);
    refused(['image', 'gc', '--grace-period=soon'], /^image gc: invalid argument "soon" for --grace-period/);
    expect(env.run(['image', 'gc'])).toMatchObject({ status: 0, stdout: '' });
    expect(env.ids()).toEqual([id]);
    const gc = env.run(['image', 'gc', '--grace-period=0s']);
    expect(gc).toMatchObject({ status: 0, stdout: `successfully removed aci for image: "${id}"\n` });
    expect(env.ids()).toEqual([]);
  });
});
