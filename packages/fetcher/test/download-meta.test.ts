// The part file of a download and the ETag beside it (`<part>.json`), as a kill -9 would leave them at any
// moment: the next process resumes the part's bytes under that ETag, so the two must always agree.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../src/index.js';
import { download } from '../src/http/download.js';
import { loopback, makeDirs, makeTestCa, TestServer } from './helpers.js';

let dirs: Awaited<ReturnType<typeof makeDirs>>;
let server: TestServer;
let http: HttpClient;

beforeAll(async () => {
  dirs = await makeDirs();
  const ca = await makeTestCa(dirs.root);
  server = new TestServer();
  await server.start(ca);
  http = new HttpClient({ ca: [ca.caPem], lookup: loopback });
});

afterAll(async () => {
  await server?.stop();
  await dirs?.cleanup();
});

describe("a download's part and its ETag", () => {
  it('a new body (200: the ETag changed) gets its ETag only beside an emptied part, never beside the old bytes', async () => {
    const url = new URL(`https://example.com:${server.port}/app.aci`);
    const fresh = Buffer.alloc(300_000, 0x42);
    server.resources.set('/app.aci', { body: fresh, etag: '"new"' });
    const dir = join(dirs.data, 'tmp', 'fetch');
    await mkdir(dir, { recursive: true });
    // What a process killed mid-download left: a prefix of the old version, under its ETag.
    const key = createHash('sha256').update(url.href).digest('hex').slice(0, 32);
    const left = join(dir, `${key}-${spawnSync('true').pid}-abcd.part`);
    await writeFile(left, Buffer.alloc(100_000, 0x41));
    await writeFile(`${left}.json`, JSON.stringify({ url: url.href, etag: '"old"' }));
    // The stream callback runs between the ETag's write and the body's: what a kill -9 there leaves on disk.
    const seen: Array<{ etag: string; bytes: number; oldBytes: boolean }> = [];
    const result = await download(http, url, {
      partialDir: dir,
      stream: async () => {
        for (const name of (await readdir(dir)).filter((n) => n.endsWith('.part.json'))) {
          const part = join(dir, name.slice(0, -'.json'.length));
          const { etag } = JSON.parse(await readFile(join(dir, name), 'utf8')) as { etag: string };
          const bytes = (await stat(part)).size;
          seen.push({ etag, bytes, oldBytes: bytes > 0 && (await readFile(part))[0] === 0x41 });
        }
        return undefined;
      },
    });
    expect(server.requests('/app.aci').map((e) => [e.status, e.range])).toEqual([[200, 'bytes=100000-']]);
    // Before, the new ETag stood beside the 100,000 old bytes: the next process asked for the rest of the new version.
    expect(seen).toEqual([{ etag: '"new"', bytes: 0, oldBytes: false }]);
    if (result.status !== 'downloaded') throw new Error(`not downloaded: ${result.status}`);
    expect(await readFile(result.file)).toEqual(fresh);
    await rm(result.file);
    expect(await readdir(dir)).toEqual([]);
  });
});
