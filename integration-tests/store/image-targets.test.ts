// Output paths and image references of the image commands, through the built bin/rkt with busybox images
// built by bin/appc: every bad argument is one line naming it, exit 254, the store unchanged, and nothing
// the user had is lost.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rawTar } from '../../packages/image-store/test/helpers.js';
import { ensureBuilt, repoRoot, rktBin, StoreEnv, type RktResult } from './harness.js';

const appcBin = join(repoRoot, 'bin', 'appc');
let acis: string;
let env: StoreEnv;

/** An ACI of Debian's static busybox, built from a layout with `appc build`; `tag` makes each image distinct. */
function busyboxAci(name: string, version: string, tag: string): string {
  const layout = join(acis, `layout-${tag}`);
  mkdirSync(join(layout, 'rootfs/bin'), { recursive: true });
  cpSync('/bin/busybox', join(layout, 'rootfs/bin/busybox'));
  writeFileSync(join(layout, 'rootfs/tag'), `${tag}\n`);
  writeFileSync(join(layout, 'manifest'), JSON.stringify({
    acKind: 'ImageManifest', acVersion: '0.8.11', name,
    labels: [{ name: 'version', value: version }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }],
    app: { exec: ['/bin/busybox', 'true'], user: '0', group: '0' },
  }));
  const out = join(acis, `${tag}.aci`);
  execFileSync(appcBin, ['build', layout, out], { stdio: 'pipe' });
  return out;
}

const IMAGES = { bb1: ['example.com/bb', '1.0'], bb2: ['example.com/bb', '2.0'], bad1: ['example.com/bad', '1'], bad2: ['example.com/bad', '2'] } as const;
const files: Partial<Record<keyof typeof IMAGES, string>> = {};

beforeAll(() => {
  ensureBuilt();
  acis = mkdtempSync(join(tmpdir(), 'rkt-targets-acis-'));
  for (const [tag, [name, version]] of Object.entries(IMAGES)) files[tag as keyof typeof IMAGES] = busyboxAci(name, version, tag);
}, 600_000);
afterAll(() => { if (acis !== undefined) rmSync(acis, { recursive: true, force: true }); });
beforeEach(() => { env = new StoreEnv(); });
afterEach(() => env.cleanup());

function fetchAll(...tags: (keyof typeof IMAGES)[]): string[] {
  return tags.map((t) => env.fetch(files[t] as string));
}

/** One line on stderr matching `message`, exit 254, nothing on stdout, and the store as it was. */
function refused(args: string[], message: RegExp, cwd?: string): RktResult {
  const before = env.snapshot();
  const r = env.run(args, cwd);
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stdout).toBe('');
  expect(r.status).toBe(254);
  expect(env.snapshot()).toBe(before);
  return r;
}

describe('output paths of image extract, render and export', () => {
  it('a killed extraction leaves nothing under the name, and the next one clears its debris or puts the old directory back', () => {
    fetchAll('bb1');
    // What a kill -9 leaves (the pid of a process that is gone): a partial tree beside the target, and the
    // directory an --overwrite had moved aside, of another target whose new tree was not renamed in yet.
    // Named as the store names its temp entries: pid, the process's start time, a random part.
    const dead = `${spawnSync('true').pid as number}.1.a`;
    const out = join(env.tmp, 'out');
    mkdirSync(join(env.tmp, `.out.new-${dead}`, 'rootfs'), { recursive: true });
    const kept = join(env.tmp, 'kept');
    mkdirSync(join(env.tmp, `.kept.old-${dead}`));
    writeFileSync(join(env.tmp, `.kept.old-${dead}`, 'mine'), 'the user\'s\n');
    // Another rkt's extraction in progress (this process is alive): never touched.
    const stat = readFileSync('/proc/self/stat', 'latin1');
    const live = `${process.pid}.${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}.b`;
    mkdirSync(join(env.tmp, `.out.new-${live}`));
    expect(env.run(['image', 'extract', 'example.com/bb:1.0', out])).toMatchObject({ status: 0, stderr: '' });
    expect(readdirSync(out).sort()).toEqual(['manifest', 'rootfs']);
    // The old directory was the user's: put back under its name, so an extraction without --overwrite refuses it.
    const again = env.run(['image', 'extract', 'example.com/bb:1.0', kept]);
    expect(again.stderr).toMatch(/kept: output directory exists and is not empty \(try --overwrite\)\n$/);
    expect(again.status).toBe(254);
    expect(readdirSync(kept)).toEqual(['mine']);
    expect(readdirSync(env.tmp).filter((n) => n.startsWith('.')).sort()).toEqual([`.out.new-${live}`]);
  });

  // Seen with strace -f -y: `sync -f` (a child) makes the syncfs, the thread pool the directory's fsync.
  it.skipIf(spawnSync('strace', ['-V']).status !== 0)('a finished extraction is durable: the tree flushed (syncfs) before its rename into place, and the rename synced', () => {
    fetchAll('bb1', 'bb2');
    const out = join(env.tmp, 'out');
    expect(env.run(['image', 'extract', 'example.com/bb:1.0', out])).toMatchObject({ status: 0, stderr: '' });
    const trace = join(env.tmp, 'trace');
    const r = spawnSync('strace', ['-f', '-qq', '-y', '-o', trace, '-e', 'trace=syncfs,rename,renameat,renameat2,fsync',
      rktBin, `--dir=${env.dir}`, 'image', 'extract', '--overwrite', 'example.com/bb:2.0', out], { cwd: env.tmp, encoding: 'utf8' });
    expect(r).toMatchObject({ status: 0, stdout: '', stderr: '' });
    const calls = readFileSync(trace, 'utf8').split('\n');
    const at = (what: RegExp): number => calls.findIndex((l) => what.test(l));
    const esc = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const synced = at(new RegExp(`syncfs\\([0-9]+<${esc(env.tmp)}/\\.out\\.new-[^>]*>\\) = 0`));
    const renamed = at(new RegExp(`rename(at2?)?\\(.*"${esc(env.tmp)}/\\.out\\.new-[^"]*", .*"${esc(out)}".* = 0`));
    const dirSynced = at(new RegExp(`fsync\\([0-9]+<${esc(env.tmp)}>\\) = 0`));
    expect(synced, `the syncfs of the new tree, among:\n${calls.join('\n')}`).toBeGreaterThanOrEqual(0);
    expect(renamed, 'its rename into place, after the syncfs').toBeGreaterThan(synced);
    expect(dirSynced, 'the fsync of the directory, after the rename').toBeGreaterThan(renamed);
    expect(readFileSync(join(out, 'rootfs/tag'), 'utf8')).toBe('bb2\n');
    expect(readdirSync(env.tmp).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('refuses an empty output path, and --overwrite of the current directory, its parents, / and the data directory', () => {
    fetchAll('bb1', 'bb2');
    const work = join(env.tmp, 'work');
    const sub = join(work, 'sub');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(work, 'precious'), 'keep me\n');
    for (const cmd of ['extract', 'render']) {
      refused(['image', cmd, '--overwrite', 'example.com/bb:2.0', ''], new RegExp(`^image ${cmd}: the output directory argument is empty`), work);
      refused(['image', cmd, 'example.com/bb:2.0', ''], /argument is empty/, work);
      refused(['image', cmd, '--overwrite', 'example.com/bb:2.0', '.'], /^image \w+: \.: refusing to overwrite: it is the current directory or one of its parents\n$/, work);
      refused(['image', cmd, '--overwrite', 'example.com/bb:2.0', '..'], /^image \w+: \.\.: refusing to overwrite: it is the current directory/, sub);
      refused(['image', cmd, '--overwrite', 'example.com/bb:2.0', work], /refusing to overwrite: it is the current directory/, sub);
      refused(['image', cmd, '--overwrite', 'example.com/bb:2.0', '/'], /^image \w+: \/: refusing to overwrite: it is the root directory\n$/, sub);
      refused(['image', cmd, '--overwrite', 'example.com/bb:2.0', env.tmp], /refusing to overwrite: it holds the rkt data directory/, '/');
      refused(['image', cmd, '--overwrite', 'example.com/bb:2.0', join(env.dir, 'cas/images')], /refusing to overwrite: it is inside the rkt data directory/, work);
    }
    refused(['image', 'export', 'example.com/bb:2.0', ''], /^image export: the output ACI file argument is empty\n$/, work);
    refused(['image', 'export', '--overwrite', 'example.com/bb:2.0', ''], /^image export: the output ACI file argument is empty\n$/, work);
    expect(readdirSync(work).sort()).toEqual(['precious', 'sub']);
    expect(readdirSync(sub)).toEqual([]);

    // A directory below the current one is still replaced, as before.
    writeFileSync(join(sub, 'old'), 'old\n');
    const ok = env.run(['image', 'extract', '--overwrite', 'example.com/bb:2.0', 'sub'], work);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(readdirSync(sub).sort()).toEqual(['manifest', 'rootfs']);
  });
});

describe('output directories that cannot be made', () => {
  it('refuses /proc paths (Node\'s recursive mkdir looped there forever) and a file as the directory, in one line', () => {
    fetchAll('bb1');
    writeFileSync(join(env.tmp, 'plain'), 'x');
    // spawnSync's 120 s timeout would report a hang as status null; these must answer at once.
    refused(['image', 'extract', 'example.com/bb:1.0', '/proc/rkt-it-out'], /^image extract: \/proc\/rkt-it-out: cannot create the output directory: \/proc accepts no new directories\n$/);
    refused(['image', 'render', 'example.com/bb:1.0', '/proc/self/out'], /^image render: \/proc\/self\/out: cannot create the output directory: \/proc\/self accepts no new directories\n$/);
    refused(['image', 'extract', 'example.com/bb:1.0', 'plain'], /^image extract: plain: exists and is not a directory\n$/);
    refused(['image', 'extract', 'example.com/bb:1.0', 'plain/sub'], /^image extract: plain\/sub: cannot create the output directory: not a directory\n$/);
    const r = spawnSync(rktBin, ['--dir=/proc/rkt-it-data', 'image', 'list'], { encoding: 'utf8', timeout: 30_000 });
    expect(r).toMatchObject({ status: 254, stdout: '', stderr: 'image list: cannot create /proc/rkt-it-data/cas: /proc accepts no new directories\n' });
  });
});


describe('image rm', () => {
  it('removes every image a name resolves to, and an image named twice once, exit 0', () => {
    const [bb1, bb2, bad1, bad2] = fetchAll('bb1', 'bb2', 'bad1', 'bad2') as [string, string, string, string];
    const byName = env.run(['image', 'rm', 'example.com/bad']);
    expect(byName.stdout.trimEnd().split('\n').sort()).toEqual([bad1, bad2].sort().map((id) => `successfully removed aci for image: "${id}"`));
    expect(byName.stderr).toBe('image rm: 2 image(s) successfully removed\n');
    expect(byName.status).toBe(0);
    expect(env.ids().sort()).toEqual([bb1, bb2].sort());

    const twice = env.run(['image', 'rm', bb2.slice(0, 19), 'example.com/bb:2.0']);
    expect(twice).toMatchObject({ status: 0, stdout: `successfully removed aci for image: "${bb2}"\n`, stderr: '' });
    expect(env.ids()).toEqual([bb1]);
  });
});

describe('rkt fetch of a malformed image ID', () => {
  it('says it is an invalid image ID, in one line, without going to the network', () => {
    fetchAll('bb1');
    // It was read as a name: appc discovery of https://sha512-zzz/, failing on DNS.
    refused(['fetch', 'sha512-zzz'], /^fetch: invalid image ID "sha512-zzz": expected "sha512-" and 2 to 128 lowercase hex digits\n$/);
    refused(['fetch', '--pull-policy=never', 'sha512-zzz'], /^fetch: invalid image ID "sha512-zzz"/);
  });
});

describe('image references with labels', () => {
  it('cat-manifest, export, extract, render and rm read name, :version and ,label=value as rkt fetch does', () => {
    const [bb1, bb2] = fetchAll('bb1', 'bb2') as [string, string];
    const version = (ref: string) => {
      const r = env.run(['image', 'cat-manifest', ref]);
      expect(r.stderr).toBe('');
      return (JSON.parse(r.stdout) as { labels: { name: string; value: string }[] }).labels.find((l) => l.name === 'version')?.value;
    };
    expect(version('example.com/bb,version=1.0')).toBe('1.0');
    expect(version('example.com/bb:1.0,os=linux')).toBe('1.0');
    expect(version('example.com/bb,arch=amd64,version=2.0')).toBe('2.0');
    expect(env.run(['image', 'export', 'example.com/bb,version=1.0', 'out.aci']).status).toBe(0);
    expect(env.run(['image', 'extract', '--rootfs-only', 'example.com/bb:2.0,os=linux', 'x']).status).toBe(0);
    expect(env.run(['image', 'render', 'example.com/bb,version=1.0,arch=amd64', 'r']).status).toBe(0);
    refused(['image', 'cat-manifest', 'example.com/bb:1.0,os=freebsd'], /^image cat-manifest: no image named example\.com\/bb,version=1\.0,os=freebsd in the store\n$/);
    refused(['image', 'cat-manifest', 'bad name!'], /^image cat-manifest: "bad name!" is not a valid image name \(lowercase a-z0-9-\._~\/, alphanumeric at both ends\)\n$/);
    refused(['image', 'rm', 'example.com/bb,os'], /^image rm: "example\.com\/bb,os": label "os" has no value/);
    const rm = env.run(['image', 'rm', 'example.com/bb,version=2.0']);
    expect(rm).toMatchObject({ status: 0, stdout: `successfully removed aci for image: "${bb2}"\n` });
    expect(env.ids()).toEqual([bb1]);
  });
});

describe('error lines name the argument once, in words', () => {
  it('image export checks its target before copying and names it as given', () => {
    fetchAll('bb1');
    mkdirSync(join(env.tmp, 'L1'));
    writeFileSync(join(env.tmp, 'plain'), 'x');
    refused(['image', 'export', '--overwrite', 'example.com/bb:1.0', 'L1'], /^image export: L1: is a directory\n$/);
    refused(['image', 'export', 'example.com/bb:1.0', '/nonexistent/dir/x.aci'], /^image export: \/nonexistent\/dir\/x\.aci: directory \/nonexistent\/dir does not exist\n$/);
    refused(['image', 'export', 'example.com/bb:1.0', 'plain/x.aci'], new RegExp(`^image export: plain/x\\.aci: ${env.tmp}/plain is not a directory\\n$`));
    refused(['image', 'export', 'example.com/bb:1.0', 'plain'], /^image export: plain: output ACI file exists \(try --overwrite\)\n$/);
    // No temp file was started beside the target.
    expect(readdirSync(env.tmp).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('rkt fetch: a relative file:// URL, and an invalid ACI with its path said once', () => {
    fetchAll('bb1');
    const warning = 'warning: image signature verification has been disabled (--insecure-options=image)\n';
    const rel = env.run(['--insecure-options=image', 'fetch', 'file://relative.aci']);
    expect(rel).toMatchObject({ status: 254, stdout: '' });
    expect(rel.stderr.replace(warning, '')).toBe('fetch: file://relative.aci: a file URL needs an absolute path (file:///dir/image.aci); "relative.aci" would be its host\n');
    const manifest = '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/esc"}';
    const bad: [string, Buffer, string][] = [
      ['escape.aci', rawTar([{ name: 'manifest', content: manifest }, { name: 'rootfs/', type: '5' }, { name: 'rootfs/../escape', content: 'x' }]), 'entry "rootfs/../escape" at offset 1536: has a ".." component'],
      ['badname.aci', rawTar([{ name: 'manifest', content: manifest.replace('example.com/esc', 'Bad Name') }, { name: 'rootfs/', type: '5' }]), 'manifest: name: must be an AC Identifier'],
    ];
    for (const [name, bytes, why] of bad) {
      writeFileSync(join(env.tmp, name), bytes);
      const before = env.snapshot();
      const r = env.run(['--insecure-options=image', 'fetch', name]);
      expect(r).toMatchObject({ status: 254, stdout: '' });
      expect(r.stderr.replace(warning, '')).toMatch(new RegExp(`^fetch: ${env.tmp}/${name.replace('.', '\\.')}: ${why.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*\\n$`));
      expect(r.stderr.split(env.tmp)).toHaveLength(2);
      expect(env.snapshot()).toBe(before);
    }
  });
});
