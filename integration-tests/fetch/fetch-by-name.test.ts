// `rkt fetch NAME` and `rkt trust --prefix` through the BUILT bin/rkt, by real names through appc discovery:
// rkt runs in a private network and mount namespace (name-namespace.ts) where example.com is 127.0.0.1 and
// port 443 leads to this test's HTTPS server. Nothing in rkt is told about the test: discovery asks
// https://example.com/app?ac-discovery=1 as it would on the internet, the CA comes from certs.d, and keys
// from `rkt trust`.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { openStore } from '@rkt/image-store';
import * as openpgp from 'openpgp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { discoveryPage, makeAci, makeKey, makeTestCa, sign, TestServer, type TestCa, type TestKey } from '../../packages/fetcher/test/helpers.js';
import { ensureBuilt, repoRoot, rktBin, sha512Id, StoreEnv, type RktResult } from '../store/harness.js';
import { buildBusyboxAci } from '../pods/harness.js';
import { NameNamespace } from './name-namespace.js';

let ca: TestCa;
let signer: TestKey;
let stranger: TestKey;
let env: StoreEnv;
let server: TestServer;
let ns: NameNamespace | undefined;
/** The server's socket and the namespace's hosts file: one server and one namespace for the file's tests. */
let nsDir: string | undefined;
let localConfig: string;
/** The stage1 `rkt prepare` uses here: fly, built by `tools/setup` (its pod is never run). */
const flyAci = join(repoRoot, 'packages/stage1-fly/dist/stage1-fly.aci');

beforeAll(async () => {
  ensureBuilt();
  const caDir = mkdtempSync(join(tmpdir(), 'rkt-fetch-ca-'));
  try {
    ca = await makeTestCa(caDir);
  } finally {
    rmSync(caDir, { recursive: true, force: true });
  }
  [signer, stranger] = await Promise.all([makeKey('App Signer'), makeKey('Someone Else')]);
  // Started once for the file (a forwarder's Node and the server each test started took 50-300 ms): every
  // test starts with nothing served and nothing logged, and its own data directory and configuration.
  nsDir = mkdtempSync(join(tmpdir(), 'rkt-fetch-ns-'));
  server = new TestServer();
  const socket = join(nsDir, 'https.sock');
  await server.start(ca, { path: socket });
  ns = await NameNamespace.start({ dir: nsDir, socket, hosts: ['example.com', 'keys.example.com'] });
}, 600_000);

afterAll(async () => {
  // All three, even when one throws: a leaked namespace, server or temp dir outlives the test run.
  try {
    await ns?.stop();
  } finally {
    ns = undefined;
    try {
      // Undefined when the set-up failed before it.
      await (server as TestServer | undefined)?.stop();
    } finally {
      if (nsDir !== undefined) rmSync(nsDir, { recursive: true, force: true });
    }
  }
});

beforeEach(async () => {
  env = new StoreEnv();
  localConfig = join(env.tmp, 'etc');
  mkdirSync(join(localConfig, 'certs.d'), { recursive: true });
  writeFileSync(join(localConfig, 'certs.d', 'test-ca.pem'), ca.caPem);
  server.resources.clear();
  server.log.length = 0;
  server.handshakes = 0;
  server.resources.set('/?ac-discovery=1', {
    body: discoveryPage('example.com', ['https://example.com/images/{name}-{version}-{os}-{arch}.{ext}'], ['https://keys.example.com/pubkeys.asc']),
    contentType: 'text/html',
  });
  server.resources.set('/pubkeys.asc', { body: Buffer.from(signer.publicArmored), contentType: 'text/plain' });
});

afterEach(() => {
  env.cleanup();
});

/** bin/rkt inside the namespace, with this test's data dir and local config. */
function rkt(args: readonly string[], input?: string): Promise<RktResult> {
  if (ns === undefined) throw new Error('no namespace');
  return ns.run(rktBin, [`--dir=${env.dir}`, `--local-config=${localConfig}`, ...args], { cwd: env.tmp, input });
}

const aciPath = (name: string, version: string) => `/images/${name}-${version}-linux-amd64.aci`;
const HOST = [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }];

interface Published { readonly id: string; readonly body: Buffer }

/** Serves image `name` version `version` where discovery sends rkt, signed by `key` (null: unsigned). */
async function publish(name: string, version: string, opts: {
  key?: TestKey | null; files?: Record<string, string>; deps?: unknown[]; etag?: string; manifestVersion?: string; extraBytes?: number;
} = {}): Promise<Published> {
  const body = await makeAci(env.tmp, {
    name,
    labels: [{ name: 'version', value: opts.manifestVersion ?? version }, ...HOST],
    ...(opts.deps === undefined ? {} : { dependencies: opts.deps as never }),
  }, opts.files ?? { [`etc/${name.replace(/\W/g, '_')}`]: `${name} ${version}\n` }, opts.extraBytes ?? 0);
  server.resources.set(aciPath(name, version), { body, etag: opts.etag });
  const key = opts.key === undefined ? signer : opts.key;
  if (key !== null) server.resources.set(`${aciPath(name, version)}.asc`, { body: await sign(key, body), contentType: 'text/plain' });
  return { id: sha512Id(gunzipSync(body)), body };
}

async function trust(key: TestKey, prefix: string): Promise<void> {
  const file = join(env.tmp, `${key.fingerprint}.asc`);
  writeFileSync(file, key.publicArmored);
  const r = await rkt(['trust', `--prefix=${prefix}`, '--skip-fingerprint-review', file]);
  expect(r.stdout, r.stderr).toBe(`Added key for prefix "${prefix}" at "${join(localConfig, 'trustedkeys/prefix.d', prefix, key.fingerprint)}"\n`);
  expect(r.status).toBe(0);
}

/** One line on stderr, exit 254, nothing on stdout, and nothing in the store: no image, no tree. */
async function expectRefused(r: RktResult, message: RegExp): Promise<void> {
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r).toMatchObject({ status: 254, stdout: '' });
  expect(await rkt(['image', 'list', '--no-legend'])).toMatchObject({ status: 0, stdout: '' });
  const store = await openStore({ dir: env.dir });
  expect(await store.trees()).toEqual([]);
}

const aciRequests = (name: string, version: string) => server.log.filter((e) => e.path === aciPath(name, version));

describe('rkt fetch NAME (discovery through a private namespace)', () => {
  it('fetches a signed image by name and renders it; unchanged it is not downloaded again; a new ETag is', async () => {
    const v1 = await publish('example.com/app', 'v1.2', { etag: '"one"' });
    await trust(signer, 'example.com/app');

    const first = await rkt(['fetch', 'example.com/app:v1.2']);
    expect(first.stderr).toBe('signature verified:\n  App Signer <appsigner@example.com>\n');
    expect(first).toMatchObject({ status: 0, stdout: `${v1.id.slice(0, 19)}\n` });
    // Discovery walked up from example.com/app to the page at example.com, on port 443 of the real name.
    expect(server.log.filter((e) => e.path.endsWith('?ac-discovery=1')).map((e) => [e.host, e.path, e.status]))
      .toEqual([['example.com', '/app?ac-discovery=1', 404], ['example.com', '/?ac-discovery=1', 200]]);

    // Rendered at fetch time: the tree is in the store before any run asks for it, and `image list` counts it.
    const store = await openStore({ dir: env.dir });
    const trees = await store.trees();
    expect(trees.map((t) => [t.imageId, t.layers])).toEqual([[v1.id, [v1.id]]]);
    expect(readFileSync(join(trees[0]!.rootfs, 'etc/example_com_app'), 'utf8')).toBe('example.com/app v1.2\n');
    const img = (await store.list())[0]!;
    const listed = await rkt(['image', 'list', '--no-legend', '--full', '--fields=id,name,size']);
    expect(listed.stdout.trim().split(/\t+/)).toEqual([v1.id, 'example.com/app:v1.2', String(img.blobSize + trees[0]!.size)]);

    // Unchanged: If-None-Match is answered 304 and nothing is downloaded; the tree is not rendered again.
    const second = await rkt(['fetch', '--full', 'example.com/app:v1.2']);
    expect(second).toMatchObject({ status: 0, stdout: `${v1.id}\n` });
    expect(aciRequests('example.com/app', 'v1.2').map((e) => [e.status, e.ifNoneMatch])).toEqual([[200, undefined], [304, '"one"']]);
    expect((await store.trees()).map((t) => t.renderedAt)).toEqual([trees[0]!.renderedAt]);

    // The server has a new build under the same name: a changed ETag downloads it once.
    const v2 = await publish('example.com/app', 'v1.2', { etag: '"two"', files: { 'etc/example_com_app': 'rebuilt\n' } });
    const third = await rkt(['fetch', '--full', 'example.com/app:v1.2']);
    expect(third).toMatchObject({ status: 0, stdout: `${v2.id}\n` });
    expect(aciRequests('example.com/app', 'v1.2').map((e) => e.status)).toEqual([200, 304, 200]);
    const tree2 = (await store.trees()).find((t) => t.imageId === v2.id);
    expect(readFileSync(join(tree2!.rootfs, 'etc/example_com_app'), 'utf8')).toBe('rebuilt\n');
  });

  it('resumes a download the server cuts off', async () => {
    const img = await publish('example.com/big', 'v1', { etag: '"big"', extraBytes: 3_000_000 });
    server.resources.get(aciPath('example.com/big', 'v1'))!.cutOffAfter = 1_000_000;
    server.resources.get(aciPath('example.com/big', 'v1'))!.cutOffTimes = 1;
    await trust(signer, 'example.com/big');
    const r = await rkt(['fetch', '--full', 'example.com/big:v1']);
    expect(r).toMatchObject({ status: 0, stdout: `${img.id}\n` });
    const reqs = aciRequests('example.com/big', 'v1');
    expect(reqs.map((e) => e.status)).toEqual([200, 206]);
    // It asked for the rest only, from where the cut left it.
    expect(Number(/^bytes=(\d+)-$/.exec(reqs[1]?.range ?? '')?.[1])).toBeGreaterThan(0);
    expect(Number(/^bytes=(\d+)-$/.exec(reqs[1]?.range ?? '')?.[1])).toBeLessThanOrEqual(1_000_000);
  });

  it('fetches a two-level dependency chain by name and renders every layer in order', async () => {
    const base = await publish('example.com/base', 'v1', { files: { 'etc/layer': 'base\n', 'etc/base': 'base only\n' } });
    const mid = await publish('example.com/mid', 'v1', {
      files: { 'etc/layer': 'mid\n', 'etc/mid': 'mid only\n' },
      deps: [{ imageName: 'example.com/base', labels: [{ name: 'version', value: 'v1' }] }],
    });
    const app = await publish('example.com/app', 'v1', {
      files: { 'etc/layer': 'app\n', 'etc/app': 'app only\n' },
      deps: [{ imageName: 'example.com/mid', labels: [{ name: 'version', value: 'v1' }] }],
    });
    await trust(signer, 'example.com');
    const r = await rkt(['fetch', '--full', 'example.com/app:v1']);
    expect(r).toMatchObject({ status: 0, stdout: `${app.id}\n` });
    expect(r.stderr.match(/signature verified:/g)).toHaveLength(3);
    const store = await openStore({ dir: env.dir });
    const tree = (await store.trees()).find((t) => t.imageId === app.id);
    expect(tree?.layers).toEqual([base.id, mid.id, app.id]);
    const read = (p: string) => readFileSync(join(tree!.rootfs, p), 'utf8');
    expect([read('etc/layer'), read('etc/base'), read('etc/mid'), read('etc/app')]).toEqual(['app\n', 'base only\n', 'mid only\n', 'app only\n']);
  });
});

describe('rkt fetch NAME refuses, with one line and nothing stored', () => {
  it('an unsigned image', async () => {
    await publish('example.com/app', 'v1', { key: null });
    await trust(signer, 'example.com/app');
    await expectRefused(await rkt(['fetch', 'example.com/app:v1']),
      /^fetch: example\.com\/app: no signature: https:\/\/example\.com\/images\/example\.com\/app-v1-linux-amd64\.aci\.asc: bad HTTP status code: 404/);
  });

  it('an image signed by a key nobody trusted', async () => {
    await publish('example.com/app', 'v1', { key: stranger });
    await trust(signer, 'example.com/app');
    await expectRefused(await rkt(['fetch', 'example.com/app:v1']), /^fetch: .*(not trusted|rkt trust --prefix)/);
  });

  it('an image signed by a key trusted only for another prefix', async () => {
    await publish('example.com/app', 'v1', { key: stranger });
    await trust(signer, 'example.com/app');
    await trust(stranger, 'example.com/other');
    await expectRefused(await rkt(['fetch', 'example.com/app:v1']), /^fetch: .*(not trusted|rkt trust --prefix)/);
  });

  it('a tampered image (bytes that are not what was signed)', async () => {
    const { body } = await publish('example.com/app', 'v1');
    const res = server.resources.get(aciPath('example.com/app', 'v1'))!;
    const tampered = Buffer.from(body);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 100) ^ 0xff, tampered.length - 100);
    res.body = tampered;
    await trust(signer, 'example.com/app');
    await expectRefused(await rkt(['fetch', 'example.com/app:v1']), /^fetch: .*signature/i);
  });

  it('an image signed by a key since revoked (the revocation trusted over the key): said to be revoked', async () => {
    await publish('example.com/app', 'v1');
    await trust(signer, 'example.com/app');
    // A revoked key is trusted only over a copy already trusted there, which it replaces.
    const { publicKey } = await openpgp.revokeKey({ key: signer.privateKey, format: 'armored' });
    await trust({ ...signer, publicArmored: publicKey }, 'example.com/app');
    await expectRefused(await rkt(['fetch', 'example.com/app:v1']),
      new RegExp(`^fetch: image "example\\.com/app" verification failed: the signing key ${signer.fingerprint} has been revoked`));
  });

  it('an auth.d file that is not an auth configuration (kind "paths", or an array)', async () => {
    await publish('example.com/app', 'v1');
    await trust(signer, 'example.com/app');
    mkdirSync(join(localConfig, 'auth.d'), { recursive: true });
    const file = join(localConfig, 'auth.d', 'paths.json');
    writeFileSync(file, JSON.stringify({ rktKind: 'paths', rktVersion: 'v1', data: '/var/lib/rkt' }));
    await expectRefused(await rkt(['fetch', 'example.com/app:v1']), new RegExp(`^fetch: ${file}: no parser available for configuration of kind "paths"`));
    writeFileSync(file, '[]');
    await expectRefused(await rkt(['fetch', 'example.com/app:v1']), new RegExp(`^fetch: ${file}: not a configuration`));
    expect(aciRequests('example.com/app', 'v1')).toEqual([]);
  });

  it('an image whose manifest does not carry the labels asked for', async () => {
    await publish('example.com/app', 'v1', { manifestVersion: 'v2' });
    await trust(signer, 'example.com/app');
    await expectRefused(await rkt(['fetch', 'example.com/app:v1']),
      /^fetch: .*requested value for label "version": "v1" differs from fetched aci label value: "v2"/);
  });
});

describe('rkt fetch NAME --signature=FILE: the file instead of the discovered .asc, as rkt 1.30', () => {
  it('verifies the discovered image with it (the .asc never asked for); one by a stranger or of other content is refused, nothing stored', async () => {
    // The server's .asc is good: a refusal can only come from the file given. (Absolute paths: nsenter's
    // setns into the mount namespace starts rkt in its root directory.)
    const app = await publish('example.com/app', 'v1');
    await trust(signer, 'example.com/app');
    writeFileSync(join(env.tmp, 'stranger.sig'), await sign(stranger, app.body));
    writeFileSync(join(env.tmp, 'other.sig'), await sign(signer, Buffer.from('another image')));
    writeFileSync(join(env.tmp, 'good.sig'), await sign(signer, app.body));
    await expectRefused(await rkt(['fetch', 'example.com/app:v1', `--signature=${join(env.tmp, 'stranger.sig')}`]), /^fetch: image "example\.com\/app" verification failed: signed by key [0-9a-f]+, which is not trusted for "example\.com\/app"/);
    await expectRefused(await rkt(['fetch', 'example.com/app:v1', `--signature=${join(env.tmp, 'other.sig')}`]), /^fetch: image "example\.com\/app" verification failed: the signature by [0-9a-f]+ does not match the image/);

    const r = await rkt(['fetch', '--full', 'example.com/app:v1', `--signature=${join(env.tmp, 'good.sig')}`]);
    expect(r).toMatchObject({ status: 0, stdout: `${app.id}\n`, stderr: 'signature verified:\n  App Signer <appsigner@example.com>\n' });
    expect(server.log.filter((e) => e.path === `${aciPath('example.com/app', 'v1')}.asc`)).toEqual([]);
  });
});

describe('rkt fetch / prepare NAME whose dependency cannot be fetched: one line naming it, 254, the store as it was', () => {
  const dep = { imageName: 'example.com/base', labels: [{ name: 'version', value: 'v1' }] };
  const DEP = 'dependency example\\.com/base,version=v1 of example\\.com/app';
  const NOT_FOUND = 'https://example\\.com/images/example\\.com/base-v1-linux-amd64\\.aci(\\.asc)?: bad HTTP status code: 404( \\(.*\\))?';

  /**
   * The error is one line, the last; before it only what a fetch says as it goes (the app's own "signature
   * verified:" and its signer, the --insecure-options warning).
   */
  function expectDependencyRefused(r: RktResult, command: string, reason: string): void {
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.at(-1), r.stderr).toMatch(new RegExp(`^${command}: ${DEP}: ${reason}$`));
    for (const l of lines.slice(0, -1)) expect(l, r.stderr).toMatch(/^(signature verified:|  App Signer <appsigner@example\.com>|warning: image signature verification has been disabled \(--insecure-options=image\))$/);
    expect(r).toMatchObject({ status: 254, stdout: '' });
  }

  async function expectNothingStored(): Promise<void> {
    expect(await rkt(['image', 'list', '--no-legend'])).toMatchObject({ status: 0, stdout: '' });
    expect(await (await openStore({ dir: env.dir })).trees()).toEqual([]);
    expect(readdirSync(join(env.dir, 'cas', 'tmp'))).toEqual([]);
  }

  it('missing from the server', async () => {
    await publish('example.com/app', 'v1', { deps: [dep] });
    await trust(signer, 'example.com');
    expectDependencyRefused(await rkt(['fetch', 'example.com/app:v1']), 'fetch', NOT_FOUND);
    // The app was downloaded, and is gone again.
    expect(aciRequests('example.com/app', 'v1').map((e) => e.status)).toEqual([200]);
    await expectNothingStored();
  });

  it('signed by a key not trusted for its name', async () => {
    await publish('example.com/base', 'v1', { key: stranger });
    await publish('example.com/app', 'v1', { deps: [dep] });
    await trust(signer, 'example.com/app');
    expectDependencyRefused(await rkt(['fetch', 'example.com/app:v1']), 'fetch', '.*(not trusted|rkt trust --prefix).*');
    await expectNothingStored();
  });

  it('whose manifest does not carry the labels asked for', async () => {
    await publish('example.com/base', 'v1', { manifestVersion: 'v2' });
    await publish('example.com/app', 'v1', { deps: [dep] });
    await trust(signer, 'example.com');
    expectDependencyRefused(await rkt(['fetch', 'example.com/app:v1']), 'fetch',
      'https://example\\.com/images/example\\.com/base-v1-linux-amd64\\.aci: requested value for label "version": "v1" differs from fetched aci label value: "v2"');
    await expectNothingStored();
  });

  it('rkt fetch keeps the image stored before it; rkt prepare takes out what it fetched and imported, and keeps what was there', async () => {
    await publish('example.com/base', 'v1');
    const app = await publish('example.com/app', 'v1', { deps: [dep] });
    await trust(signer, 'example.com');
    expect((await rkt(['fetch', 'example.com/app:v1'])).status).toBe(0);
    // The dependency goes from the store (with the app's tree), and the server loses it.
    expect((await rkt(['image', 'rm', 'example.com/base'])).status).toBe(0);
    server.resources.delete(aciPath('example.com/base', 'v1'));
    server.resources.delete(`${aciPath('example.com/base', 'v1')}.asc`);
    const listed = async () => (await rkt(['image', 'list', '--no-legend', '--full', '--fields=id'])).stdout.trim();

    // Downloaded again (pull policy update) over the stored copy: the fetch fails, the image stays.
    expectDependencyRefused(await rkt(['fetch', 'example.com/app:v1']), 'fetch', NOT_FOUND);
    expect(aciRequests('example.com/app', 'v1').map((e) => e.status)).toEqual([200, 200]);
    expect(await listed()).toBe(app.id);

    // Not stored: prepare fetches the app through discovery and imports the stage1 from its file; both go again.
    expect((await rkt(['image', 'rm', 'example.com/app'])).status).toBe(0);
    const prepare = ['--insecure-options=image', 'prepare', `--stage1-path=${flyAci}`, 'example.com/app:v1'];
    expectDependencyRefused(await rkt(prepare), 'prepare', NOT_FOUND);
    await expectNothingStored();
    // A stage1 stored before the prepare stays.
    const stage1 = await rkt(['--insecure-options=image', 'fetch', '--full', flyAci]);
    expect(stage1.status, stage1.stderr).toBe(0);
    expectDependencyRefused(await rkt(prepare), 'prepare', NOT_FOUND);
    expect(await listed()).toBe(stage1.stdout.trim());
    const pods = join(env.dir, 'pods');
    expect(existsSync(pods) ? readdirSync(pods).flatMap((s) => readdirSync(join(pods, s))) : []).toEqual([]);
    expect(readdirSync(join(env.dir, 'cas', 'tmp'))).toEqual([]);
  });
});

describe('rkt prepare / run of an image in the store (or a file) whose dependency is not: fetched as rkt did', () => {
  const dep = (name: string) => ({ imageName: name, labels: [{ name: 'version', value: 'v1' }] });
  // The built-in fly stage1, imported from where the build put it: no --insecure-options=image, which would
  // also let an unsigned or untrusted dependency in.
  const STAGE1 = '--stage1-name=coreos.com/rkt/stage1-fly';
  // The published images have no app section: the pod's app needs one (never run here).
  const APP = ['example.com/app:v1', '--exec=/bin/true', '--user=0', '--group=0'];
  const statuses = (name: string) => aciRequests(name, 'v1').map((e) => e.status);
  const ids = async () => (await rkt(['image', 'list', '--no-legend', '--full', '--fields=id'])).stdout.split('\n').filter((l) => l !== '').sort();
  const pods = () => (existsSync(join(env.dir, 'pods')) ? readdirSync(join(env.dir, 'pods')).flatMap((s) => readdirSync(join(env.dir, 'pods', s))) : []);

  /** The images, trees and temp entries of the store, and the pods: what a failed command must leave as it was. */
  async function state(): Promise<unknown> {
    const trees = (await (await openStore({ dir: env.dir })).trees()).map((t) => t.id).sort();
    return { images: await ids(), trees, tmp: readdirSync(join(env.dir, 'cas', 'tmp')), pods: pods() };
  }

  /**
   * bin/rkt in the namespace under a preload that says at exit what was loaded of what only a fetch needs: zod,
   * openpgp (from node_modules, or the CLI's code-cached copies: stage0-cli's src/vendored.ts) and Node's network
   * modules. Its line is taken out of stderr.
   */
  async function probed(args: readonly string[]): Promise<RktResult & { loaded: unknown }> {
    const preload = join(env.tmp, 'report-loaded.cjs');
    writeFileSync(preload, `process.on('exit', () => {
      const builtins = new Set(process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)));
      const vendored = globalThis[Symbol.for('rkt-ts.vendored')].loaded;
      const from = (pkg) => Object.keys(require.cache).some((k) => k.includes('/node_modules/' + pkg + '/')) || vendored.has(pkg);
      process.stderr.write('LOADED ' + JSON.stringify({ zod: from('zod'), openpgp: from('openpgp'), builtins: ['net', 'tls', 'http', 'https'].filter((b) => builtins.has(b)) }) + '\\n');
    });\n`);
    if (ns === undefined) throw new Error('no namespace');
    const r = await ns.run(process.execPath, ['-r', preload, rktBin, `--dir=${env.dir}`, `--local-config=${localConfig}`, ...args], { cwd: env.tmp });
    const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
    expect(line, r.stderr).toBeDefined();
    return { ...r, stderr: r.stderr.replace(`${line}\n`, ''), loaded: JSON.parse(line!.slice(7)) };
  }

  /** The last line is the error (before it only what a fetch says as it goes), exit 254, nothing on stdout. */
  function expectOneLineRefusal(r: RktResult, line: RegExp): void {
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.at(-1), r.stderr).toMatch(line);
    for (const l of lines.slice(0, -1)) expect(l, r.stderr).toMatch(/^(signature verified:|  App Signer <appsigner@example\.com>)$/);
    expect(r).toMatchObject({ status: 254, stdout: '' });
  }

  it('rkt prepare fetches a stored image\'s removed dependency by name, and the pod\'s app is rendered with it', async () => {
    const base = await publish('example.com/base', 'v1', { files: { 'etc/layer': 'base\n', 'etc/base': 'base only\n' }, etag: '"base"' });
    const app = await publish('example.com/app', 'v1', { files: { 'etc/layer': 'app\n', 'etc/app': 'app only\n' }, deps: [dep('example.com/base')], etag: '"app"' });
    await trust(signer, 'example.com');
    expect((await rkt(['fetch', 'example.com/app:v1'])).status).toBe(0);
    // rkt fetch (pull policy update) asks about the dependency again, as about the image: unchanged, a 304 each.
    expect((await rkt(['fetch', 'example.com/app:v1'])).status).toBe(0);
    expect([statuses('example.com/app'), statuses('example.com/base')]).toEqual([[200, 304], [200, 304]]);
    expect((await rkt(['image', 'rm', 'example.com/base'])).status).toBe(0);
    expect(await ids()).toEqual([app.id]);

    const r = await probed(['prepare', STAGE1, ...APP]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('signature verified:\n  App Signer <appsigner@example.com>\n');
    // What the fetch needs was loaded for it (and what the probe below must not see, it can see).
    expect(r.loaded).toMatchObject({ openpgp: true, builtins: expect.arrayContaining(['tls', 'https']) });
    const uuid = r.stdout.trim();
    // The dependency downloaded again (its copy was removed, so no If-None-Match); the stored app not asked about (new).
    expect(aciRequests('example.com/base', 'v1').map((e) => [e.status, e.ifNoneMatch])).toEqual([[200, undefined], [304, '"base"'], [200, undefined]]);
    expect(statuses('example.com/app')).toEqual([200, 304]);
    expect(await ids()).toEqual(expect.arrayContaining([app.id, base.id]));
    // The app's rootfs is made from this tree (appsinfo/app/treeStoreID): the dependency under the app.
    const treeId = readFileSync(join(env.dir, 'pods', 'prepared', uuid, 'appsinfo', 'app', 'treeStoreID'), 'utf8').trim();
    const tree = (await (await openStore({ dir: env.dir })).trees()).find((t) => t.id === treeId);
    expect(tree?.layers).toEqual([base.id, app.id]);
    const read = (p: string) => readFileSync(join(tree!.rootfs, p), 'utf8');
    expect([read('etc/layer'), read('etc/base'), read('etc/app')]).toEqual(['app\n', 'base only\n', 'app only\n']);

    // Now every dependency is stored: the next prepare asks no server, and loads no part of the fetcher (rkt
    // run's fast path: its dependencies checked in the store's snapshot and the manifests on disk).
    const requests = server.log.length;
    const again = await probed(['prepare', STAGE1, ...APP]);
    expect(again).toMatchObject({ status: 0, stderr: '', loaded: { zod: false, openpgp: false, builtins: [] } });
    expect(server.log.length).toBe(requests);
  });

  it('--pull-policy=never: a missing dependency is one line naming it and the image needing it, 254, no request, the store as it was', async () => {
    await publish('example.com/base', 'v1');
    await publish('example.com/app', 'v1', { deps: [dep('example.com/base')] });
    await trust(signer, 'example.com');
    expect((await rkt(['fetch', 'example.com/app:v1'])).status).toBe(0);
    expect((await rkt(['image', 'rm', 'example.com/base'])).status).toBe(0);
    const before = await state();
    const requests = server.log.length;
    expectOneLineRefusal(await rkt(['prepare', '--pull-policy=never', STAGE1, ...APP]),
      /^prepare: dependency example\.com\/base,version=v1 of example\.com\/app is not in the store and the pull policy is "never"$/);
    // A file is imported whatever the policy, then refused the same way, and its import taken out again.
    const file = join(env.tmp, 'local.aci');
    writeFileSync(file, await makeAci(env.tmp, {
      name: 'example.com/local', labels: [{ name: 'version', value: 'v1' }, ...HOST], dependencies: [dep('example.com/base')] as never,
    }, { 'etc/local': 'local\n' }));
    expectOneLineRefusal(await rkt(['--insecure-options=image', 'prepare', '--pull-policy=never', `--stage1-path=${flyAci}`, file, '--exec=/bin/true', '--user=0', '--group=0']),
      /^prepare: dependency example\.com\/base,version=v1 of example\.com\/local is not in the store and the pull policy is "never"$/);
    expect(server.log.length).toBe(requests);
    // The stage1s they imported went again.
    expect(await state()).toEqual(before);
    // A policy rkt does not have, and one beside --pod-manifest (whose images are the store's), before anything is done.
    expect(await rkt(['prepare', '--pull-policy=sometimes', STAGE1, ...APP])).toMatchObject({
      status: 254, stdout: '', stderr: 'prepare: invalid argument "sometimes" for --pull-policy: must be one of new, update, never\n',
    });
    expect(await rkt(['prepare', '--pull-policy=update', `--pod-manifest=${join(env.tmp, 'pod.json')}`])).toMatchObject({
      status: 254, stderr: 'prepare: conflicting flags set with --pod-manifest: --pull-policy=update (the manifest sets the pod\'s apps, volumes and environment)\n',
    });
    expect(await state()).toEqual(before);
  });

  it('--pull-policy=update of an image ID, or of a file (--insecure-options=image), without dependencies: nothing to ask, no fetcher loaded', async () => {
    const base = await publish('example.com/base', 'v1');
    const app = await publish('example.com/app', 'v1', { deps: [dep('example.com/base')] });
    await trust(signer, 'example.com');
    expect((await rkt(['fetch', 'example.com/app:v1'])).status).toBe(0);
    const file = join(env.tmp, 'plain.aci');
    writeFileSync(file, await makeAci(env.tmp, { name: 'example.com/plain', labels: [{ name: 'version', value: 'v1' }, ...HOST] }, { 'etc/plain': 'plain\n' }));
    // Only the fetcher reads auth.d, as it builds its HTTP client: a malformed one fails whatever loads it.
    const authFile = join(localConfig, 'auth.d', 'broken.json');
    mkdirSync(join(localConfig, 'auth.d'));
    writeFileSync(authFile, '{"rktKind": "auth",');
    const requests = server.log.length;
    const update = (image: string, ...flags: string[]) => rkt([...flags, 'prepare', '--quiet', '--pull-policy=update', `--stage1-path=${flyAci}`, image, ...APP.slice(1)]);
    for (const r of [await update(base.id, '--insecure-options=image'), await update(file, '--insecure-options=image')]) {
      expect(r.stderr).toBe('');
      expect(r).toMatchObject({ status: 0, stdout: expect.stringMatching(/^[0-9a-f-]{36}\n$/) });
    }
    expect(server.log.length).toBe(requests);
    // An image with a dependency is what update asks about: the fetcher is loaded for it (and reads auth.d).
    expectOneLineRefusal(await update(app.id, '--insecure-options=image'), new RegExp(`^prepare: ${authFile}: `));
  });

  it('a dependency signed by a key not trusted for it: one line naming it and its parent, 254, and what the prepare fetched taken out', async () => {
    const base = await publish('example.com/base', 'v1');
    await publish('example.com/extra', 'v1', { key: stranger });
    const app = await publish('example.com/app', 'v1', { deps: [dep('example.com/base'), dep('example.com/extra')] });
    // Stored without its checks, then without its dependencies; only the app and the first dependency are trusted.
    expect((await rkt(['--insecure-options=image', 'fetch', 'example.com/app:v1'])).status).toBe(0);
    expect((await rkt(['image', 'rm', 'example.com/base', 'example.com/extra'])).status).toBe(0);
    await trust(signer, 'example.com/app');
    await trust(signer, 'example.com/base');
    const before = await state();
    expect(before).toMatchObject({ images: [app.id] });
    expectOneLineRefusal(await rkt(['prepare', STAGE1, ...APP]),
      /^prepare: dependency example\.com\/extra,version=v1 of example\.com\/app: .*(not trusted|rkt trust --prefix).*$/);
    // The first dependency was downloaded, checked and stored, and went again with the stage1 the prepare imported.
    expect(statuses('example.com/base')).toEqual([200, 200]);
    expect(await ids()).not.toContain(base.id);
    expect(await state()).toEqual(before);
  });

  it('rkt run of a local file (--insecure-options=image) fetches its dependency and runs the app on it', async () => {
    // The dependency is the busybox image the pod tests use, served where discovery sends rkt.
    const busybox = readFileSync(await buildBusyboxAci(env.tmp));
    server.resources.set(aciPath('example.com/busybox', '1.0'), { body: busybox });
    const file = join(env.tmp, 'hello.aci');
    writeFileSync(file, await makeAci(env.tmp, {
      name: 'example.com/hello',
      labels: [{ name: 'version', value: 'v1' }, ...HOST],
      app: { exec: ['/bin/sh', '-c', 'cat /etc/hello; id -u'], user: '0', group: '0' },
      dependencies: [{ imageName: 'example.com/busybox', labels: [{ name: 'version', value: '1.0' }] }] as never,
    }, { 'etc/hello': 'hello from the app\n' }));
    try {
      const r = await rkt(['--insecure-options=image', 'run', `--stage1-path=${flyAci}`, file]);
      expect(r.stdout, r.stderr).toBe('hello from the app\n0\n');
      expect(r.status).toBe(0);
      expect(aciRequests('example.com/busybox', '1.0').map((e) => e.status)).toEqual([200]);
      // The --insecure-options=image warning once, for the command.
      expect(r.stderr).toBe('warning: image signature verification has been disabled (--insecure-options=image)\n');
    } finally {
      expect((await rkt(['gc', '--grace-period=0s'])).status).toBe(0);
    }
    expect(pods()).toEqual([]);
  });
});

describe('rkt trust --prefix NAME (keys found through discovery)', () => {
  it('shows the discovered key for review, trusts it on "yes", and a fetch signed by it then succeeds', async () => {
    const r = await rkt(['trust', '--prefix=example.com/app'], 'yes\n');
    const fp = signer.fingerprint.toUpperCase().match(/.{4}/g)!.join(' ');
    expect(r.stdout).toBe([
      'Prefix: "example.com/app"',
      'Key: "https://keys.example.com/pubkeys.asc"',
      `GPG key fingerprint is: ${fp}`,
      ...r.stdout.split('\n').filter((l) => l.startsWith('\tSubkey fingerprint: ')),
      '\tApp Signer <appsigner@example.com>',
      'Are you sure you want to trust this key (yes/no)?',
      `Added key for prefix "example.com/app" at "${join(localConfig, 'trustedkeys/prefix.d/example.com/app', signer.fingerprint)}"`,
      '',
    ].join('\n'));
    expect(r).toMatchObject({ status: 0, stderr: '' });
    expect(server.log.filter((e) => e.path === '/pubkeys.asc').map((e) => [e.host, e.status])).toEqual([['keys.example.com', 200]]);

    const img = await publish('example.com/app', 'v1');
    expect(await rkt(['fetch', '--full', 'example.com/app:v1'])).toMatchObject({ status: 0, stdout: `${img.id}\n` });
  });

  it('a declined key is not stored, and exits 254', async () => {
    const r = await rkt(['trust', '--prefix=example.com/app'], 'no\n');
    expect(r.status).toBe(254);
    expect(r.stderr).toBe('trust: not trusting "https://keys.example.com/pubkeys.asc"\n');
    await publish('example.com/app', 'v1');
    await expectRefused(await rkt(['fetch', 'example.com/app:v1']), /^fetch: .*(not trusted|rkt trust --prefix)/);
  });
});
