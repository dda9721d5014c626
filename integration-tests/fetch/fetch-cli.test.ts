// `rkt trust` and `rkt fetch` through the BUILT bin/rkt against a real HTTPS server on 127.0.0.1, as a user runs
// them: the test CA reaches rkt only through `<local-config>/certs.d/`, the key only through `rkt trust`.
// Images are fetched by https://127.0.0.1:PORT/ URLs here; fetches by name through discovery, in a private
// network namespace where the names resolve to the test's server, are in fetch-by-name.test.ts.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { unmountTree } from '@rkt/rootfs-overlay';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeAci, makeKey, makeTestCa, sign, TestServer, type TestCa, type TestKey } from '../../packages/fetcher/test/helpers.js';
import { ensureBuilt, rktBin, sha512Id, StoreEnv, type RktResult } from '../store/harness.js';

let env: StoreEnv;
let server: TestServer;
let ca: TestCa;
let key: TestKey;
let localConfig: string;

beforeAll(async () => {
  ensureBuilt();
  // One CA and one signing key for the file: openssl and key generation are the slow part, not what is tested.
  const caDir = mkdtempSync(join(tmpdir(), 'rkt-fetch-ca-'));
  try {
    ca = await makeTestCa(caDir);
  } finally {
    rmSync(caDir, { recursive: true, force: true });
  }
  key = await makeKey('App Signer');
}, 600_000);

beforeEach(async () => {
  env = new StoreEnv();
  localConfig = join(env.tmp, 'etc');
  mkdirSync(join(localConfig, 'certs.d'), { recursive: true });
  writeFileSync(join(localConfig, 'certs.d', 'test-ca.pem'), ca.caPem);
  server = new TestServer();
  await server.start(ca);
});

afterEach(async () => {
  // Both, even when the first throws: a leaked server or temp dir outlives the test run.
  try {
    await server.stop();
  } finally {
    // A prepared pod may hold overlay mounts under the data dir: lazily unmounted before the dir goes.
    await unmountTree(env.tmp, { lazy: true }).catch(() => {});
    env.cleanup();
  }
});

/** bin/rkt with this test's data dir and local config, as a child process: the server answers meanwhile. */
function rkt(args: readonly string[]): Promise<RktResult> {
  return env.start([`--local-config=${localConfig}`, ...args]);
}

/** Serves a signed (or unsigned) gzip ACI named example.com/app at `/<file>`; returns its image ID. */
async function serveApp(file: string, opts: { signer?: TestKey; content: string }): Promise<string> {
  const body = await makeAci(env.tmp, {
    name: 'example.com/app',
    labels: [{ name: 'version', value: '1.0' }],
    // An app section, so that `rkt prepare` can make a pod of it (nothing here runs it).
    app: { exec: ['/bin/app'], user: '0', group: '0' },
  }, { 'bin/app': opts.content });
  server.resources.set(`/${file}`, { body, etag: `"${file}-1"` });
  if (opts.signer !== undefined) server.resources.set(`/${file}.asc`, { body: await sign(opts.signer, body), contentType: 'text/plain' });
  return sha512Id(gunzipSync(body));
}

async function trustAppKey(): Promise<void> {
  const keyFile = join(env.tmp, 'app-signer.asc');
  writeFileSync(keyFile, key.publicArmored);
  const r = await rkt(['trust', '--prefix=example.com/app', '--skip-fingerprint-review', keyFile]);
  // rkt shows the key it trusts even without review, on stderr.
  expect(r.stderr).toContain(`Trusting "${keyFile}" for prefix "example.com/app" without fingerprint review.`);
  expect(r.stdout).toBe(`Added key for prefix "example.com/app" at "${join(localConfig, 'trustedkeys/prefix.d/example.com/app', key.fingerprint)}"\n`);
  expect(r.status).toBe(0);
}

/** tar processes whose command line names `dir` (an extraction of a fetch into it). */
function tarsIn(dir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => /\btar\b/.test(l) && l.includes(dir));
}

/** One line on stderr, exit 254, nothing on stdout, and nothing in the store. */
async function expectRefused(r: RktResult, message: RegExp): Promise<void> {
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stdout).toBe('');
  expect(r.status).toBe(254);
  const list = await rkt(['image', 'list', '--no-legend']);
  expect(list).toMatchObject({ status: 0, stdout: '' });
}

describe('rkt fetch https://', () => {
  it('fetches an image signed by a trusted key and prints its ID; fetching it again downloads nothing', async () => {
    const id = await serveApp('app.aci', { signer: key, content: 'signed app\n' });
    await trustAppKey();
    const url = `https://127.0.0.1:${server.port}/app.aci`;

    const first = await rkt(['fetch', url]);
    expect(first.stdout).toBe(`${id.slice(0, 19)}\n`);
    expect(first.stderr).toMatch(/^signature verified:\n {2}App Signer <appsigner@example\.com>\n$/);
    expect(first.status).toBe(0);
    const full = await rkt(['image', 'list', '--no-legend', '--full', '--fields=id,name']);
    expect(full.stdout.trim().split(/\t+/)).toEqual([id, 'example.com/app:1.0']);

    // The same image again (pull policy update): the server is asked, answers 304, and nothing is downloaded.
    const second = await rkt(['fetch', '--full', url]);
    expect(second).toMatchObject({ status: 0, stdout: `${id}\n` });
    const aciRequests = server.log.filter((e) => e.path === '/app.aci');
    expect(aciRequests.map((e) => e.status)).toEqual([200, 304]);
    expect(aciRequests[1]?.ifNoneMatch).toBe('"app.aci-1"');

    // --pull-policy=new: the stored URL record is enough, the server is not asked at all.
    const before = server.log.length;
    expect(await rkt(['fetch', '--pull-policy=new', url])).toMatchObject({ status: 0, stdout: `${id.slice(0, 19)}\n` });
    expect(server.log.length).toBe(before);
  });

  it('draws its progress bar on stderr when that is a terminal (and, above, not on a pipe)', async () => {
    const id = await serveApp('app.aci', { signer: key, content: 'signed app\n' });
    await trustAppKey();
    const words = [rktBin, `--dir=${env.dir}`, `--local-config=${localConfig}`, 'fetch', `https://127.0.0.1:${server.port}/app.aci`];
    // script(1) runs rkt on a terminal of its own and copies what the terminal showed. Not spawnSync: the
    // server answers from this process.
    const shown = await new Promise<{ status: number | null; out: string }>((resolve) => {
      const child = spawn('script', ['-qfec', words.map((w) => `'${w}'`).join(' '), '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.once('close', (status) => resolve({ status, out }));
    });
    expect(shown.status, shown.out).toBe(0);
    expect(shown.out).toMatch(/\rDownloading ACI: \[=+\] [0-9.]+ [KM]?i?B \/ [0-9.]+ [KM]?i?B/);
    expect(shown.out).toContain(id.slice(0, 19));
  });

  it('killed while its thread writes the large files of the image: gc leaves no extraction, and the next fetch works', async () => {
    // Base64 of random bytes: no better than 4:3 for gzip, so the image is large on the wire too. 'a-lead'
    // first (names are sorted): the feed passes to the thread after 8 MiB, and the 'b-big' files are its own.
    const files: Record<string, string> = { 'a-lead': randomBytes(7 << 20).toString('base64') };
    for (let i = 1; i <= 6; i++) files[`b-big${i}`] = randomBytes(3 << 20).toString('base64');
    const body = await makeAci(env.tmp, { name: 'example.com/app', labels: [{ name: 'version', value: '1.0' }] }, files);
    server.resources.set('/large.aci', { body, etag: '"large-1"' });
    server.resources.set('/large.aci.asc', { body: await sign(key, body), contentType: 'text/plain' });
    const id = sha512Id(gunzipSync(body));
    await trustAppKey();
    const url = `https://127.0.0.1:${server.port}/large.aci`;

    const tmp = join(env.dir, 'cas', 'tmp');
    const extracting = (): string | undefined => {
      const dirs = existsSync(tmp) ? readdirSync(tmp).filter((n) => n.startsWith('render-')) : [];
      return dirs.map((d) => join(tmp, d, 'rootfs', 'b-big2')).find((f) => existsSync(f));
    };
    const child = spawn(rktBin, [`--dir=${env.dir}`, `--local-config=${localConfig}`, 'fetch', url], { stdio: 'ignore' });
    const closed = new Promise((resolve) => child.once('close', resolve));
    let seen: string | undefined;
    for (const deadline = Date.now() + 60_000; seen === undefined && child.exitCode === null && Date.now() < deadline; ) {
      seen = extracting();
      if (seen === undefined) await new Promise((r) => setTimeout(r, 2));
    }
    child.kill('SIGKILL');
    await closed;
    expect(seen, 'the fetch ended before its thread wrote b-big2').toBeDefined();

    // What a user would do after: the store lists nothing or the whole image, gc and image gc leave no import
    // or extraction behind, and no tar of the killed fetch runs on.
    const list = await rkt(['image', 'list', '--no-legend', '--full', '--fields=id']);
    expect(list.status, list.stderr).toBe(0);
    expect(['', `${id}\n`]).toContain(list.stdout);
    expect((await rkt(['gc', '--grace-period=0s'])).status).toBe(0);
    expect((await rkt(['image', 'gc'])).status).toBe(0);
    for (let i = 0; i < 100 && tarsIn(env.dir).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(tarsIn(env.dir)).toEqual([]);

    const again = await rkt(['fetch', '--full', url]);
    expect(again, again.stderr).toMatchObject({ status: 0, stdout: `${id}\n` });
    expect(readdirSync(tmp).filter((n) => n.startsWith('render-') || n.startsWith('import-'))).toEqual([]);
    const verify = await rkt(['image', 'verify', id]);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
  }, 120_000);

  it('refuses an unsigned image with one line and exit 254, and stores nothing', async () => {
    await serveApp('unsigned.aci', { content: 'unsigned app\n' });
    await trustAppKey();
    const r = await rkt(['fetch', `https://127.0.0.1:${server.port}/unsigned.aci`]);
    await expectRefused(r, /^fetch: .*unsigned\.aci\.asc: bad HTTP status code: 404/);
  });

  it('fetches several unsigned images with --insecure-options=image, warning once for the command', async () => {
    const ids = [await serveApp('one.aci', { content: 'one\n' }), await serveApp('two.aci', { content: 'two\n' })];
    const r = await rkt(['--insecure-options=image', 'fetch', `https://127.0.0.1:${server.port}/one.aci`, `https://127.0.0.1:${server.port}/two.aci`]);
    expect(r).toMatchObject({
      status: 0,
      stdout: ids.map((id) => `${id.slice(0, 19)}\n`).join(''),
      stderr: 'warning: image signature verification has been disabled (--insecure-options=image)\n',
    });
  });

  it('refuses an image signed by a key not trusted for its name, and stores nothing', async () => {
    const other = await makeKey('Someone Else');
    await serveApp('other.aci', { signer: other, content: 'other app\n' });
    await trustAppKey();
    const r = await rkt(['fetch', `https://127.0.0.1:${server.port}/other.aci`]);
    await expectRefused(r, /^fetch: .*(not trusted|rkt trust --prefix)/);
  });

  it('refuses the server without the test CA in certs.d (TLS is checked), and stores nothing', async () => {
    await serveApp('app.aci', { signer: key, content: 'signed app\n' });
    await trustAppKey();
    rmSync(join(localConfig, 'certs.d'), { recursive: true });
    const r = await rkt(['fetch', `https://127.0.0.1:${server.port}/app.aci`]);
    await expectRefused(r, /^fetch: https:\/\/127\.0\.0\.1:\d+\/app\.aci.*certificate/);
  });
});

describe('rkt fetch / prepare https:// --signature=FILE: a local signature instead of the URL\'s .asc, as rkt 1.30', () => {
  /**
   * The image served with a good .asc beside it, so that a refusal below can only come from the file given; and
   * signatures of it by the trusted key, by a key not trusted for its name, and of other content, in cwd.
   */
  async function signedImage(): Promise<{ url: string; id: string }> {
    const id = await serveApp('app.aci', { signer: key, content: 'signed app\n' });
    const body = (server.resources.get('/app.aci') as { body: Buffer }).body;
    writeFileSync(join(env.tmp, 'good.sig'), await sign(key, body));
    writeFileSync(join(env.tmp, 'untrusted.sig'), await sign(await makeKey('Someone Else'), body));
    writeFileSync(join(env.tmp, 'other.sig'), await sign(key, Buffer.from('another image')));
    await trustAppKey();
    return { url: `https://127.0.0.1:${server.port}/app.aci`, id };
  }
  const ascRequests = () => server.log.filter((e) => e.path === '/app.aci.asc');

  it('refuses a signature by a key not trusted for the image\'s name, or of other content: one line, 254, nothing stored, no .asc asked for', async () => {
    const { url } = await signedImage();
    await expectRefused(await rkt(['fetch', url, '--signature=untrusted.sig']), /^fetch: image "example\.com\/app" verification failed: signed by key [0-9a-f]+, which is not trusted for "example\.com\/app"/);
    await expectRefused(await rkt(['fetch', url, '--signature=other.sig']), /^fetch: image "example\.com\/app" verification failed: the signature by [0-9a-f]+ does not match the image/);
    await expectRefused(await rkt(['prepare', '--quiet', url, '--signature=other.sig']), /^prepare: image "example\.com\/app" verification failed: the signature by [0-9a-f]+ does not match the image/);
    await expectRefused(await rkt(['fetch', url, '--signature=nowhere.sig']), /^fetch: --signature=nowhere\.sig: no such file \(\/.*\/nowhere\.sig\)$/m);
    expect(ascRequests()).toEqual([]);
  });

  it('fetches and stores the image with a good one, and rkt prepare makes a pod of it, never asking for the .asc', async () => {
    const { url, id } = await signedImage();
    const fetched = await rkt(['fetch', '--full', url, '--signature=good.sig']);
    expect(fetched.stderr).toMatch(/^signature verified:\n {2}App Signer <appsigner@example\.com>\n$/);
    expect(fetched).toMatchObject({ status: 0, stdout: `${id}\n` });
    expect((await rkt(['image', 'list', '--no-legend', '--full', '--fields=id,name'])).stdout.trim().split(/\t+/)).toEqual([id, 'example.com/app:1.0']);
    expect(await rkt(['image', 'rm', id])).toMatchObject({ status: 0 });

    const prepared = await rkt(['prepare', '--quiet', url, '--signature=good.sig']);
    try {
      expect(prepared.stderr).toMatch(/^signature verified:\n/);
      expect(prepared.status).toBe(0);
      expect(prepared.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    } finally {
      if (prepared.status === 0) await rkt(['rm', prepared.stdout.trim()]);
    }
    expect(server.log.filter((e) => e.path === '/app.aci').map((e) => e.status)).toEqual([200, 200]);
    expect(ascRequests()).toEqual([]);
  });

  it('is refused for an image ID (a stored image is not verified again), in one line, 254', async () => {
    const { url, id } = await signedImage();
    expect(await rkt(['fetch', url])).toMatchObject({ status: 0 });
    const sig = join(env.tmp, 'good.sig');
    const line = `${id}: a signature file (${sig}) is for an image to fetch, not an image ID (a stored image was verified when it was fetched)`;
    for (const cmd of ['fetch', 'prepare']) {
      const r = await rkt([cmd, id, '--signature=good.sig']);
      expect([r.status, r.stdout, r.stderr]).toEqual([254, '', `${cmd}: ${line}\n`]);
    }
  });
});

describe('rkt prepare https://', () => {
  it('fetches a signed image by URL with pull policy new: a second prepare asks no server; unsigned is refused', async () => {
    await serveApp('app.aci', { signer: key, content: 'signed app\n' });
    await serveApp('unsigned.aci', { content: 'unsigned app\n' });
    await trustAppKey();
    const url = `https://127.0.0.1:${server.port}/app.aci`;
    const uuids: string[] = [];
    try {
      const first = await rkt(['prepare', '--quiet', url]);
      expect(first.stderr).toMatch(/^signature verified:\n/);
      expect(first.status).toBe(0);
      expect(first.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
      uuids.push(first.stdout.trim());
      expect(server.log.filter((e) => e.path === '/app.aci').map((e) => e.status)).toEqual([200]);

      const before = server.log.length;
      const second = await rkt(['prepare', '--quiet', url]);
      expect(second).toMatchObject({ status: 0, stderr: '' });
      uuids.push(second.stdout.trim());
      expect(server.log.length).toBe(before);

      const unsigned = await rkt(['prepare', '--quiet', `https://127.0.0.1:${server.port}/unsigned.aci`]);
      expect(unsigned.stderr).toMatch(/^prepare: .*unsigned\.aci\.asc: bad HTTP status code: 404/);
      expect(unsigned.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(unsigned).toMatchObject({ status: 254, stdout: '' });
      const names = await rkt(['image', 'list', '--no-legend', '--fields=name']);
      expect(names.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '' && l.startsWith('example.com/'))).toEqual(['example.com/app:1.0']);
    } finally {
      if (uuids.length > 0) await rkt(['rm', ...uuids]);
    }
  });
});
