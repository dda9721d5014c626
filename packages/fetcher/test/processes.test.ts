import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '@rkt/image-store';
import { fetchImage, Keystore } from '../src/index.js';
import { discoveryPage, HOST_LABELS, loopback, makeAci, makeDirs, makeKey, makeTestCa, sign, TestServer } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const PKG = dirname(here);

let out: string | undefined;
let bundle: string;
let server: TestServer | undefined;
let dirs: Awaited<ReturnType<typeof makeDirs>> | undefined;

/** The fetcher and the store built to JS for worker processes, inside the package so node_modules resolve. */
beforeAll(async () => {
  out = await mkdtemp(join(PKG, '.test-dist-'));
  const { build } = await import('tsup');
  await build({
    config: false,
    entry: [join(here, 'workers', 'entry.ts')],
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    outDir: out,
    silent: true,
    splitting: true,
    noExternal: ['@rkt/appc-spec', '@rkt/image-store'],
    external: ['classic-level', 'openpgp', 'zod', 'tar'],
    esbuildOptions(o) {
      o.conditions = ['rkt-source', 'import', 'node'];
    },
  });
  bundle = join(out, 'entry.js');
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await dirs?.cleanup();
  if (out !== undefined) await rm(out, { recursive: true, force: true });
});

function runWorker(args: string[]): Promise<{ code: number | null; result: Record<string, unknown>; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'workers', 'fetch-worker.mjs'), bundle, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve({ code, result: JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>, stderr });
      } catch {
        reject(new Error(`worker printed no result (exit ${code}): ${stderr}`));
      }
    });
  });
}

describe('two processes', () => {
  it('fetching the same image at once both succeed with one stored copy', async () => {
    dirs = await makeDirs();
    const ca = await makeTestCa(dirs.root);
    server = new TestServer();
    await server.start(ca);
    const base = `https://example.com:${server.port}`;
    await mkdir(join(dirs.local, 'certs.d'));
    await writeFile(join(dirs.local, 'certs.d', 'ca.pem'), ca.caPem);
    const key = await makeKey('Signer');
    await new Keystore({ localConfigDir: dirs.local, systemConfigDir: dirs.system }).store(key.publicArmored, 'example.com');
    const aci = await makeAci(dirs.root, { name: 'example.com/app', labels: [{ name: 'version', value: 'v1' }, ...HOST_LABELS] }, { 'etc/x': 'x\n' }, 2 << 20);
    server.resources.set('/?ac-discovery=1', { body: discoveryPage('example.com', [`${base}/i/{name}-{version}.{ext}`]) });
    server.resources.set('/i/example.com/app-v1.aci', { body: aci, etag: '"a"' });
    server.resources.set('/i/example.com/app-v1.aci.asc', { body: await sign(key, aci) });
    const args = [dirs.data, dirs.local, dirs.system, String(server.port), 'example.com/app:v1'];
    const [a, b] = await Promise.all([runWorker(args), runWorker(args)]);
    expect(a.result).toMatchObject({ ok: true });
    expect(b.result).toMatchObject({ ok: true });
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(a.result.id).toBe(b.result.id);
    expect(a.result.downloaded === true || b.result.downloaded === true).toBe(true);
    expect(server.requests('/i/example.com/app-v1.aci', 200).length).toBeGreaterThanOrEqual(2); // the .asc at least once, the ACI at least once
    const store = await openStore({ dir: dirs.data });
    const images = await store.list();
    expect(images.map((i) => i.id)).toEqual([a.result.id]);
    expect((await store.trees()).length).toBe(1);
  });
});

describe('an interrupted fetch', () => {
  it("leaves import and render debris that the next fetch's import removes, never a live process's", async () => {
    const d = await makeDirs();
    const ca = await makeTestCa(d.root);
    const srv = new TestServer();
    await srv.start(ca);
    try {
      const base = `https://example.com:${srv.port}`;
      await mkdir(join(d.local, 'certs.d'));
      await writeFile(join(d.local, 'certs.d', 'ca.pem'), ca.caPem);
      const key = await makeKey('Signer');
      await new Keystore({ localConfigDir: d.local, systemConfigDir: d.system }).store(key.publicArmored, 'example.com');
      const aci = await makeAci(d.root, { name: 'example.com/app', labels: [{ name: 'version', value: 'v1' }, ...HOST_LABELS] }, { 'etc/x': 'x\n' }, 3 << 20);
      srv.resources.set('/?ac-discovery=1', { body: discoveryPage('example.com', [`${base}/i/{name}-{version}.{ext}`]) });
      // The first download stops after 2 MB and waits: the worker is mid-import and mid-extraction when interrupted.
      srv.resources.set('/i/example.com/app-v1.aci', { body: aci, etag: '"a"', stallAfter: 2 << 20, stallTimes: 1 });
      srv.resources.set('/i/example.com/app-v1.aci.asc', { body: await sign(key, aci) });
      const tmp = join(d.data, 'cas', 'tmp');
      const work = async () => (await readdir(tmp).catch(() => [] as string[])).filter((n) => /^(import|render)-/.test(n)).sort();
      const killed = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
        const child = spawn(process.execPath, [join(here, 'workers', 'fetch-worker.mjs'), bundle, d.data, d.local, d.system, String(srv.port), 'example.com/app:v1'], { stdio: 'ignore' });
        const poll = setInterval(() => {
          void work().then((w) => {
            if (w.some((n) => n.startsWith('import-')) && w.some((n) => n.startsWith('render-'))) {
              clearInterval(poll);
              child.kill('SIGINT');
            }
          });
        }, 50);
        child.on('error', reject);
        child.on('close', (_code, signal) => {
          clearInterval(poll);
          resolve(signal);
        });
      });
      expect(killed).toBe('SIGINT'); // ended by the signal, as by Ctrl-C
      const debris = await work();
      expect(debris.filter((n) => n.startsWith('import-'))).toHaveLength(1);
      expect(debris.filter((n) => n.startsWith('render-'))).toHaveLength(1);
      // A live process's work in progress, named as the store names it (pid and start time): it must stay.
      const stat = await readFile('/proc/self/stat', 'latin1');
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      const live = `render-${process.pid}.${start}.livework`;
      await mkdir(join(tmp, live, 'rootfs'), { recursive: true });

      const store = await openStore({ dir: d.data });
      const r = await fetchImage('example.com/app:v1', { store, localConfigDir: d.local, systemConfigDir: d.system, network: { lookup: loopback, discoveryPort: srv.port } });
      expect(r.downloaded).toBe(true);
      expect(await work()).toEqual([live]);
      // The interrupted download's part was taken over and resumed, by design, and is gone once imported.
      expect(srv.requests('/i/example.com/app-v1.aci', 206)).toHaveLength(1);
      expect(await readdir(join(d.data, 'tmp', 'fetch'))).toEqual([]);
    } finally {
      await srv.stop();
      await d.cleanup();
    }
  }, 60_000);
});
