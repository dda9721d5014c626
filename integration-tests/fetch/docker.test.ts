// `docker://` images end to end, as rkt ran them: rkt fetch and rkt run of an image pushed to a real Docker
// registry (Debian's docker-registry, the CNCF distribution registry, on 127.0.0.1), converted into one
// squashed ACI; refused without --insecure-options=image in rkt's words; the stored copy used without asking
// the registry under `new`, and only its manifest asked for under `update`; a tag that moved fetched again.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeImage, sha256, useRegistry, type BuiltLayer, type PushedImage } from '../../packages/fetcher/test/registry.js';
import { ensureBuilt, RktEnv, rktBin, STAGE1S, type RktResult } from '../pods/harness.js';

// Its access log: what a fetch asked the registry for.
const registry = useRegistry({ accessLog: true });
let work: string;
let pushed: PushedImage;
let ref: string;

/** A layer as a docker build makes one: GNU tar of `root` (numeric owners, sorted, fixed times), gzip'd. */
function tarLayer(root: string): BuiltLayer {
  const out = join(work, `layer-${Math.random().toString(36).slice(2)}.tar`);
  const tar = spawnSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', out, '-C', root, '.']);
  if (tar.status !== 0) throw new Error(`tar: ${tar.stderr.toString()}`);
  const plain = readFileSync(out);
  const gz = spawnSync('gzip', ['-n', '-c', out], { maxBuffer: 1 << 28 });
  if (gz.status !== 0) throw new Error(`gzip: ${gz.stderr.toString()}`);
  rmSync(out);
  return { gz: gz.stdout, diffId: sha256(plain) };
}

function tree(name: string, files: Record<string, string>): string {
  const root = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

/** The base layer: busybox with its applets, a user of its own, and a file the next layer deletes. */
function baseLayer(): BuiltLayer {
  const root = tree('base', {
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/srv:/bin/sh\n',
    'etc/group': 'root:x:0:\napp:x:1000:\n',
    'etc/removed-later': 'from the base layer\n',
  });
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'tmp'));
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  for (const applet of ['sh', 'cat', 'echo', 'id', 'pwd', 'test']) symlinkSync('busybox', join(root, 'bin', applet));
  return tarLayer(root);
}

/** The top layer: a whiteout of the base's file, the motd the app prints, its working directory. */
function topLayer(motd: string): BuiltLayer {
  return tarLayer(tree(`top-${motd.length}-${Math.random().toString(36).slice(2)}`, { 'etc/.wh.removed-later': '', 'etc/motd': `${motd}\n`, 'srv/.keep': '' }));
}

async function pushImage(base: BuiltLayer, motd: string): Promise<PushedImage> {
  const image = makeImage([base, topLayer(motd)], {
    config: {
      // Relative, as most Docker images name their command: each stage1 finds it in the image's PATH.
      Entrypoint: ['sh', '-c'],
      Cmd: ['cat /etc/motd; test -e /etc/removed-later || echo whiteout-honoured; echo "user=$(id -u) cwd=$(pwd) GREETING=$GREETING"; exit 3'],
      Env: ['PATH=/bin', 'GREETING=hi'],
      WorkingDir: '/srv',
      User: 'app',
    },
  });
  return registry.registry.pushImage('rkt-ts/busybox', '1.0', image);
}

let base: BuiltLayer;
beforeAll(async () => {
  ensureBuilt();
  work = mkdtempSync(join(tmpdir(), 'rkt-docker-'));
  base = baseLayer();
  pushed = await pushImage(base, 'hello from layer two');
  ref = `docker://${registry.registry.host}/rkt-ts/busybox:1.0`;
}, 60_000);
afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

const envs: RktEnv[] = [];
afterEach(async () => {
  for (const e of envs.splice(0)) await e.cleanup();
});
function newEnv(stage1?: (typeof STAGE1S)[number]): RktEnv {
  const e = new RktEnv(stage1);
  envs.push(e);
  return e;
}

/** rkt with only the flags given (RktEnv's own add --insecure-options=image). */
function rkt(env: RktEnv, args: readonly string[]): RktResult {
  const r = spawnSync(rktBin, [`--dir=${env.dataDir}`, ...args], { cwd: env.tmp, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * How many requests the registry has logged so far. Its log reaches us through a pipe read on the event loop,
 * which spawnSync blocks: the lines of a fetch that just ended are read once the loop runs and they stop coming.
 */
async function loggedSoFar(): Promise<number> {
  let n = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = registry.registry.requests().length;
    if (now === n) return n;
    n = now;
  }
}

/** The manifest requests the registry logged from `from` on, once its log has stopped growing. */
async function manifestRequests(from: number): Promise<{ method: string; path: string; status: number }[]> {
  await loggedSoFar();
  return registry.registry.requests().slice(from).filter((r) => r.path.includes('/manifests/')).map(({ method, path, status }) => ({ method, path, status }));
}

const imageNames = (env: RktEnv): string[] =>
  (JSON.parse(rkt(env, ['image', 'list', '--format=json']).stdout) as { name: string }[]).map((i) => i.name);

describe('docker:// images', () => {
  it('are refused without --insecure-options=image, in rkt\'s words, and nothing is stored', () => {
    const env = newEnv();
    // run and prepare with the built-in stage1, which needs no --insecure-options=image of its own.
    for (const cmd of [['fetch'], ['run'], ['prepare']]) {
      const r = rkt(env, ['--insecure-options=http', ...cmd, ref]);
      expect(r.stderr).toBe(`${cmd[0]}: ${ref}: signature verification for docker images is not supported (try --insecure-options=image)\n`);
      expect(r.status).toBe(254);
    }
    // With --pull-policy=never, the store only: the registry is never asked.
    const never = rkt(env, ['--insecure-options=image,http', 'fetch', '--pull-policy=never', ref]);
    expect(never.stderr).toMatch(new RegExp(`fetch: ${ref}: not in the store and the pull policy is "never"\\n$`));
    expect(never.status).toBe(254);
    expect(imageNames(env).filter((n) => !n.includes('stage1'))).toEqual([]);
    expect(rkt(env, ['list', '--no-legend']).stdout).toBe('');
  });

  it('are fetched, converted into one ACI and stored; a second fetch asks the registry only for the manifest; a moved tag is fetched again', async () => {
    const env = newEnv();
    const fetched = rkt(env, ['--insecure-options=image,http', 'fetch', '--full', ref]);
    expect(fetched.stderr).toContain('warning: image signature verification has been disabled');
    expect(fetched.status).toBe(0);
    const id = fetched.stdout.trim();
    expect(id).toMatch(/^sha512-[0-9a-f]{128}$/);
    // docker2aci's name: the registry and repository, its `:` made an AC identifier's `_`; the tag its version.
    const name = `${registry.registry.host.replace(':', '_')}/rkt-ts/busybox:1.0`;
    expect(imageNames(env)).toEqual([name]);
    const manifest = JSON.parse(rkt(env, ['image', 'cat-manifest', id]).stdout) as {
      labels: { name: string; value: string }[];
      app: { exec: string[]; user: string; group: string; workingDirectory: string };
      annotations: { name: string; value: string }[];
    };
    expect(manifest.labels).toEqual(expect.arrayContaining([{ name: 'version', value: '1.0' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }]));
    expect(manifest.app).toMatchObject({ exec: ['sh', '-c', expect.stringContaining('cat /etc/motd')], user: 'app', group: 'app', workingDirectory: '/srv' });
    expect(manifest.annotations).toEqual(expect.arrayContaining([{ name: 'appc.io/docker/manifesthash', value: pushed.manifestDigest }]));

    // With its layers gone from the registry, the image can only be found again from its unchanged manifest,
    // which is asked for with a HEAD: no GET, which Docker Hub would count against its pull rate limit.
    for (const digest of pushed.layerDigests) rmSync(registry.registry.blobFile(digest));
    let logged = await loggedSoFar();
    const again = rkt(env, ['--insecure-options=image,http', 'fetch', '--full', ref]);
    expect(again.stderr).not.toContain('rror');
    expect(again.stdout.trim()).toBe(id);
    expect(again.status).toBe(0);
    expect(await manifestRequests(logged)).toEqual([{ method: 'HEAD', path: '/v2/rkt-ts/busybox/manifests/1.0', status: 200 }]);

    // The tag moves to a new image (its layers pushed again): fetched, converted and stored beside the first.
    const moved = await pushImage(base, 'hello from the new tag');
    expect(moved.manifestDigest).not.toBe(pushed.manifestDigest);
    logged = await loggedSoFar();
    const third = rkt(env, ['--insecure-options=image,http', 'fetch', '--full', ref]);
    expect(third.status).toBe(0);
    // The HEAD says the tag moved; the pull GETs the new manifest.
    expect(await manifestRequests(logged)).toEqual([
      { method: 'HEAD', path: '/v2/rkt-ts/busybox/manifests/1.0', status: 200 },
      { method: 'GET', path: '/v2/rkt-ts/busybox/manifests/1.0', status: 200 },
    ]);
    const newId = third.stdout.trim();
    expect(newId).not.toBe(id);
    const extracted = join(env.tmp, 'extracted');
    expect(rkt(env, ['image', 'extract', '--rootfs-only', newId, extracted]).status).toBe(0);
    expect(readFileSync(join(extracted, 'etc', 'motd'), 'utf8')).toBe('hello from the new tag\n');
  });

  it('killed with -9 mid-pull, leave a store that opens and a temp directory that image gc removes', async () => {
    const env = newEnv();
    // 48 MB that gzip cannot shrink: the pull takes long enough to be caught in the middle.
    const big = tarLayer(tree('big', { 'data/blob': randomBytes(48 << 20).toString('latin1') }));
    await registry.registry.pushImage('rkt-ts/big', '1', makeImage([base, big]));
    const tmp = join(env.dataDir, 'cas', 'tmp');
    const child = spawn(rktBin, [`--dir=${env.dataDir}`, '--insecure-options=image,http', 'fetch', `docker://${registry.registry.host}/rkt-ts/big:1`], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 30_000;
    let caught: string[] = [];
    while (Date.now() < deadline && caught.length === 0) {
      caught = existsSync(tmp) ? readdirSync(tmp).filter((n) => n.startsWith('docker-')) : [];
      if (caught.length === 0) await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await exited;
    expect(caught).toHaveLength(1);
    expect(existsSync(join(tmp, caught[0]!))).toBe(true);
    expect(rkt(env, ['image', 'list', '--no-legend']).status).toBe(0);
    const gc = rkt(env, ['image', 'gc']);
    expect(gc.status).toBe(0);
    expect(readdirSync(tmp).filter((n) => n.startsWith('docker-'))).toEqual([]);
  });

  it('killed with -9 part way through a layer, resumed by the next fetch, which asks the registry only for the rest', async () => {
    const env = newEnv();
    const big = tarLayer(tree('big-resume', { 'data/blob': randomBytes(48 << 20).toString('latin1') }));
    const image = await registry.registry.pushImage('rkt-ts/big-resume', '1', makeImage([base, big]));
    const digest = image.layerDigests[1]!;
    const suffix = `.${digest.replace(':', '-')}.part`;
    const partial = join(env.dataDir, 'cas', 'tmp', 'partial');
    const bigRef = `docker://${registry.registry.host}/rkt-ts/big-resume:1`;
    const child = spawn(rktBin, [`--dir=${env.dataDir}`, '--insecure-options=image,http', 'fetch', bigRef], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Killed once 4 MB of the big layer are in its partial copy (written in 1 MiB batches).
    const deadline = Date.now() + 30_000;
    let caught: string | undefined;
    while (Date.now() < deadline && caught === undefined) {
      const names = existsSync(partial) ? readdirSync(partial).filter((n) => n.endsWith(suffix)) : [];
      caught = names.find((n) => { try { return statSync(join(partial, n)).size >= 4 << 20; } catch { return false; } });
      if (caught === undefined) await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await exited;
    expect(caught).toMatch(/^layer-\d+\.\d+\./);
    const kept = statSync(join(partial, caught!)).size;
    expect(kept).toBeLessThan(big.gz.length);
    // image gc removes the dead pull's directory and keeps the partial (fresh: it is worth resuming).
    expect(rkt(env, ['image', 'gc']).status).toBe(0);
    expect(readdirSync(join(env.dataDir, 'cas', 'tmp')).filter((n) => n.startsWith('docker-'))).toEqual([]);
    expect(readdirSync(partial)).toContain(caught);

    const logged = await loggedSoFar();
    const r = rkt(env, ['--insecure-options=image,http', 'fetch', bigRef]);
    expect(r.stderr).not.toContain('rror');
    expect(r.status).toBe(0);
    await loggedSoFar();
    const asked = registry.registry.requests().slice(logged).filter((q) => q.path.endsWith(`/blobs/${digest}`));
    // One request, for the rest: a 206 of what the killed fetch had not received.
    expect(asked.map((q) => [q.method, q.status])).toEqual([['GET', 206]]);
    expect(asked[0]!.bytes).toBe(big.gz.length - kept);
    expect(readdirSync(partial)).toEqual([]);
    const extracted = join(env.tmp, 'extracted');
    expect(rkt(env, ['image', 'extract', '--rootfs-only', r.stdout.trim(), extracted]).status).toBe(0);
    expect(statSync(join(extracted, 'data', 'blob')).size).toBe(Buffer.byteLength(readFileSync(join(work, 'big-resume', 'data', 'blob'))));
  });

  it('killed with -9 while the conversion streams into the import, leave debris that image gc removes, and no image', async () => {
    const env = newEnv();
    const big = tarLayer(tree('big-convert', { 'data/blob': randomBytes(48 << 20).toString('latin1') }));
    await registry.registry.pushImage('rkt-ts/big-convert', '1', makeImage([base, big]));
    const tmp = join(env.dataDir, 'cas', 'tmp');
    const child = spawn(rktBin, [`--dir=${env.dataDir}`, '--insecure-options=image,http', 'fetch', `docker://${registry.registry.host}/rkt-ts/big-convert:1`], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 30_000;
    let caught: string[] = [];
    // The import's directory: the layers are pulled and the converted image is streaming into the store.
    while (Date.now() < deadline && caught.length === 0) {
      caught = existsSync(tmp) ? readdirSync(tmp).filter((n) => n.startsWith('import-')) : [];
      if (caught.length === 0) await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await exited;
    expect(caught).toHaveLength(1);
    const debris = readdirSync(tmp).filter((n) => /^(docker|import|render)-/.test(n));
    expect(debris).toContain(caught[0]);
    expect(debris.some((n) => n.startsWith('docker-'))).toBe(true);
    const list = rkt(env, ['image', 'list', '--no-legend']);
    expect(list.status).toBe(0);
    expect(list.stdout.trim()).toBe('');
    expect(rkt(env, ['image', 'gc']).status).toBe(0);
    expect(readdirSync(tmp).filter((n) => /^(docker|import|render)-/.test(n))).toEqual([]);
  });

  for (const stage1 of STAGE1S) {
    it(`run as pods with the ${stage1.name} stage1: the image's entrypoint, user, environment and working directory, the whiteout honoured`, async () => {
      const env = newEnv(stage1);
      const image = await pushImage(base, 'hello from layer two');
      const r = env.run(['run', '--insecure-options=image,http', ref]);
      expect(r.stdout).toBe('hello from layer two\nwhiteout-honoured\nuser=1000 cwd=/srv GREETING=hi\n');
      expect(r.status).toBe(3);
      // `new`, rkt run's default: the stored image, without asking the registry, whose layers are now gone.
      for (const digest of image.layerDigests) rmSync(registry.registry.blobFile(digest));
      const second = env.run(['run', '--insecure-options=image,http', ref]);
      expect(second.stdout).toBe(r.stdout);
      expect(second.status).toBe(3);
      expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    });
  }
});
