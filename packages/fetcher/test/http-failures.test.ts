import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '@rkt/image-store';
import { fetchImage, FetchError, Keystore, trustKeys, type FetchOptions } from '../src/index.js';
import { parseRetryAfter } from '../src/http/retry.js';
import { discoveryPage, freshDirs, HOST_LABELS, loopback, makeAci, makeDirs, makeTestCa, sign, useSignedServer, type TestCa, type TestKey, type TestServer } from './helpers.js';

const fixture = useSignedServer();
let ca: TestCa;
let server: TestServer;
let key: TestKey;
beforeAll(() => void ({ ca, server, key } = fixture));

let dirs: Awaited<ReturnType<typeof makeDirs>>;
let store: Store;

beforeEach(async () => {
  dirs = await freshDirs(fixture);
  store = await openStore({ dir: dirs.data });
});

afterEach(async () => {
  await dirs.cleanup();
});

const base = () => `https://example.com:${server.port}`;

function options(network: FetchOptions['network'] = {}): FetchOptions {
  return {
    store, localConfigDir: dirs.local, systemConfigDir: dirs.system,
    network: { lookup: loopback, discoveryPort: server.port, maxAttempts: 3, ...network },
  };
}

/** Serves a signed image at /app.aci, trusted for its name; returns its bytes. */
async function publish(): Promise<Buffer> {
  const aci = await makeAci(dirs.root, { name: 'example.com/app', labels: [{ name: 'version', value: 'v1' }, ...HOST_LABELS] }, { 'etc/app': 'app\n' }, 100_000);
  server.resources.set('/app.aci', { body: aci });
  server.resources.set('/app.aci.asc', { body: await sign(key, aci) });
  await new Keystore({ localConfigDir: dirs.local, systemConfigDir: dirs.system }).store(key.publicArmored, 'example.com/app');
  return aci;
}

/** Requests for exactly `path` (`server.requests` matches a prefix: the image's would count its signature's). */
const hits = (path: string, status?: number) => server.log.filter((e) => e.path === path && (status === undefined || e.status === status));

async function failure(p: Promise<unknown>, pattern: RegExp): Promise<FetchError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(FetchError);
  expect((err as FetchError).code).toBe('FETCH_HTTP');
  expect((err as FetchError).message).toMatch(pattern);
  expect((err as FetchError).message).not.toContain('\n');
  return err as FetchError;
}

describe('what a download retries', () => {
  it('a redirect loop fails at once: eleven requests, not eleven per attempt', async () => {
    server.resources.set('/loop.aci', { body: Buffer.alloc(0), redirect: '/loop.aci' });
    await failure(fetchImage(`${base()}/loop.aci`, options()), /^https:\/\/example\.com:\d+\/loop\.aci: more than 10 redirects$/);
    expect(hits('/loop.aci')).toHaveLength(11);
    expect(await store.list()).toEqual([]);
  });

  it('a 4xx is final, a 5xx, 408 or 429 is asked again', async () => {
    await publish();
    server.resources.get('/app.aci')!.status = 403;
    server.resources.get('/app.aci')!.statusTimes = 10;
    await failure(fetchImage(`${base()}/app.aci`, options()), /app\.aci: bad HTTP status code: 403$/);
    expect(hits('/app.aci', 403)).toHaveLength(1);
    for (const status of [503, 408, 429]) {
      server.log.length = 0;
      Object.assign(server.resources.get('/app.aci')!, { status, statusTimes: 2 });
      const r = await fetchImage(`${base()}/app.aci`, options());
      expect(r.downloaded).toBe(true);
      expect(hits('/app.aci', status)).toHaveLength(2);
      expect(hits('/app.aci', 200)).toHaveLength(1);
      await store.removeRemote(`${base()}/app.aci`);
    }
    // Still failing after every attempt: the last status, said once.
    Object.assign(server.resources.get('/app.aci')!, { status: 502, statusTimes: 10 });
    await failure(fetchImage(`${base()}/app.aci`, options()), /^https:\/\/example\.com:\d+\/app\.aci: download failed after 3 attempts: bad HTTP status code: 502$/);
  });

  it('a 503 or 429 with Retry-After (seconds or an HTTP-date) is asked again after that long, not the usual backoff', async () => {
    await publish();
    Object.assign(server.resources.get('/app.aci')!, { status: 503, statusTimes: 1, retryAfter: '1' });
    expect((await fetchImage(`${base()}/app.aci`, options())).downloaded).toBe(true);
    const [first, second] = hits('/app.aci');
    expect([first?.status, second?.status]).toEqual([503, 200]);
    // The usual first backoff is 100 ms.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
    await store.removeRemote(`${base()}/app.aci`);
    server.log.length = 0;
    // An HTTP-date has whole seconds: two seconds ahead is at least one second away.
    Object.assign(server.resources.get('/app.aci')!, { status: 429, statusTimes: 1, retryAfter: new Date(Date.now() + 2000).toUTCString() });
    expect((await fetchImage(`${base()}/app.aci`, options())).downloaded).toBe(true);
    const [a, b] = hits('/app.aci');
    expect([a?.status, b?.status]).toEqual([429, 200]);
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(950);
  });

  it('Retry-After is read as delta-seconds or an HTTP-date; a past date is now, anything else the usual backoff', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('-1', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('a Retry-After longer than 30 s fails at once, saying what the server asked', async () => {
    await publish();
    Object.assign(server.resources.get('/app.aci')!, { status: 503, statusTimes: 10, retryAfter: '120' });
    const started = performance.now();
    await failure(fetchImage(`${base()}/app.aci`, options()),
      /^https:\/\/example\.com:\d+\/app\.aci: bad HTTP status code: 503, and the server asked to retry after 120 s \(more than the 30 s we wait\)$/);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(hits('/app.aci')).toHaveLength(1);
    expect(await store.list()).toEqual([]);
  });

  it('a certificate that fails verification is not asked again', async () => {
    await publish();
    await writeFile(join(dirs.local, 'certs.d', 'test-ca.pem'), (await makeTestCa(dirs.root)).caPem);
    server.handshakes = 0;
    await failure(fetchImage(`${base()}/app.aci`, options()), /app\.aci: .*certificate/);
    // The signature's request and the image's: one connection each.
    expect(server.handshakes).toBeLessThanOrEqual(2);
  });
});

describe('what a discovery page, signature or key retries', () => {
  it('a discovery page and a signature answering 503 once are asked again, and the fetch by name succeeds', async () => {
    await publish();
    server.resources.set('/app?ac-discovery=1', { body: discoveryPage('example.com/app', [`${base()}/app.{ext}`]), status: 503, statusTimes: 1 });
    Object.assign(server.resources.get('/app.aci.asc')!, { status: 503, statusTimes: 1 });
    const r = await fetchImage('example.com/app:v1', options());
    expect(r.signedBy).toBe(key.fingerprint);
    expect(hits('/app?ac-discovery=1').map((e) => e.status)).toEqual([503, 200]);
    expect(hits('/app.aci.asc').map((e) => e.status)).toEqual([503, 200]);
    // Not the parent's page: the name's own page answered the second time.
    expect(hits('/?ac-discovery=1')).toEqual([]);
  });

  it('a key cut off once (rkt trust by URL), and a discovered key and its page answering 429 and 503 once, are asked again', async () => {
    const body = Buffer.from(key.publicArmored);
    server.resources.set('/key.asc', { body, cutOffAfter: 100, cutOffTimes: 1 });
    const trust = (locations: string[]) => trustKeys({ localConfigDir: dirs.local, systemConfigDir: dirs.system, prefix: 'example.com/app', locations,
      network: { lookup: loopback, discoveryPort: server.port, ca: [ca.caPem] }, skipFingerprintReview: true });
    expect((await trust([`${base()}/key.asc`]))[0]?.fingerprint).toBe(key.fingerprint);
    expect(hits('/key.asc')).toHaveLength(2);
    server.log.length = 0;
    server.resources.set('/app?ac-discovery=1', { body: discoveryPage('example.com/app', [], [`${base()}/key.asc`]), status: 503, statusTimes: 1 });
    Object.assign(server.resources.get('/key.asc')!, { status: 429, statusTimes: 1 });
    expect((await trust([]))[0]?.fingerprint).toBe(key.fingerprint);
    expect(hits('/app?ac-discovery=1').map((e) => e.status)).toEqual([503, 200]);
    expect(hits('/key.asc').map((e) => e.status)).toEqual([429, 200]);
  });

  it('what is not transient is asked once: a missing signature, a 403 key; a signature failing every time says so once', async () => {
    await publish();
    server.resources.delete('/app.aci.asc');
    await expect(fetchImage(`${base()}/app.aci`, options())).rejects.toThrow(/no signature: .*app\.aci\.asc: bad HTTP status code: 404/);
    expect(hits('/app.aci.asc')).toHaveLength(1);
    server.resources.set('/key.asc', { body: Buffer.from(key.publicArmored), status: 403, statusTimes: 10 });
    await failure(trustKeys({ localConfigDir: dirs.local, systemConfigDir: dirs.system, prefix: 'example.com/app', locations: [`${base()}/key.asc`],
      network: { lookup: loopback, ca: [ca.caPem] }, skipFingerprintReview: true }), /key\.asc: bad HTTP status code: 403$/);
    expect(hits('/key.asc')).toHaveLength(1);
    server.resources.set('/app.aci.asc', { body: Buffer.alloc(0), status: 502, statusTimes: 10 });
    await failure(fetchImage(`${base()}/app.aci`, options()), /^https:\/\/example\.com:\d+\/app\.aci\.asc: failed after 3 attempts: bad HTTP status code: 502$/);
    expect(hits('/app.aci.asc', 502)).toHaveLength(3);
    expect(await store.list()).toEqual([]);
  });
});

describe('what a failure says', () => {
  it('a body that stalls after the headers: timed out, with no data, after N s', async () => {
    const aci = await publish();
    Object.assign(server.resources.get('/app.aci')!, { stallAfter: 1000, stallTimes: 10 });
    const err = await failure(fetchImage(`${base()}/app.aci`, options({ timeoutMs: 300, maxAttempts: 2 })),
      /^https:\/\/example\.com:\d+\/app\.aci: download failed after 2 attempts: timed out after 0\.3 s with no data$/);
    expect(err.message).not.toContain('aborted');
    expect(hits('/app.aci', 200)).toHaveLength(2);
    expect(aci.length).toBeGreaterThan(1000);
    expect(await store.list()).toEqual([]);
    expect(await readdir(join(dirs.data, 'tmp', 'fetch'))).toEqual([]);
  });

  it('a signature that stalls: timed out', async () => {
    await publish();
    Object.assign(server.resources.get('/app.aci.asc')!, { stallAfter: 10, stallTimes: 10 });
    await failure(fetchImage(`${base()}/app.aci`, options({ timeoutMs: 300 })),
      /^https:\/\/example\.com:\d+\/app\.aci\.asc: failed after 3 attempts: timed out after 0\.3 s with no data$/);
    expect(hits('/app.aci.asc')).toHaveLength(3);
  });

  it('an image cut off on every attempt: the server closed the connection after N of M bytes', async () => {
    const aci = await publish();
    Object.assign(server.resources.get('/app.aci')!, { cutOffAfter: 5000, cutOffTimes: 10 });
    // N is what the download had read when the connection went: up to the 5000 bytes sent, fewer (even 0) when
    // a loaded machine had not read them yet (the socket's close drops what the response had not handed on).
    const err = await failure(fetchImage(`${base()}/app.aci`, options({ maxAttempts: 2 })),
      new RegExp(`app\\.aci: download failed after 2 attempts: the server closed the connection after (\\d+) of ${aci.length} bytes$`));
    expect(Number(/after (\d+) of/.exec(err.message)?.[1])).toBeLessThanOrEqual(5000);
  });

  it('rkt trust of a key cut off before its Content-Length', async () => {
    const body = Buffer.from(key.publicArmored);
    server.resources.set('/key.asc', { body, cutOffAfter: 100, cutOffTimes: 10 });
    await failure(trustKeys({ localConfigDir: dirs.local, systemConfigDir: dirs.system, prefix: 'example.com/app', locations: [`${base()}/key.asc`],
      network: { lookup: loopback, ca: [ca.caPem] }, confirm: async () => true }),
    new RegExp(`^https://example\\.com:\\d+/key\\.asc: failed after 3 attempts: the server closed the connection after (100|[1-9]?[0-9]) of ${body.length} bytes$`));
    expect(hits('/key.asc')).toHaveLength(3);
  });
});
