import { afterAll, beforeAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LookupFunction } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { buildAci, type ImageManifest } from '@rkt/appc-spec';

const run = promisify(execFile);

/** Every name resolves to 127.0.0.1: the tests' servers are local, whatever host a URL names. */
export const loopback: LookupFunction = (_hostname, options, callback) => {
  if (options.all === true) {
    (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  } else {
    callback(null, '127.0.0.1', 4);
  }
};

export interface TestCa {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** A CA and a server certificate for example.com, *.example.com, other.com and localhost, made with openssl. */
export async function makeTestCa(dir: string): Promise<TestCa> {
  const p = (n: string) => join(dir, n);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('ca.key'),
    '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=rkt-ts fetcher test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('srv.key'),
    '-out', p('srv.csr'), '-subj', '/CN=example.com']);
  await writeFile(p('ext.cnf'), 'subjectAltName=DNS:example.com,DNS:*.example.com,DNS:other.com,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['x509', '-req', '-in', p('srv.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-out', p('srv.pem'), '-days', '2', '-extfile', p('ext.cnf')]);
  return {
    caPem: await readFile(p('ca.pem'), 'utf8'),
    certPem: await readFile(p('srv.pem'), 'utf8'),
    keyPem: await readFile(p('srv.key'), 'utf8'),
  };
}

export interface LogEntry {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly range: string | undefined;
  readonly ifNoneMatch: string | undefined;
  readonly authorization: string | undefined;
  readonly host: string | undefined;
  /** When the request arrived (`performance.now()`, ms). */
  readonly at: number;
}

export interface Resource {
  body: Buffer;
  etag?: string;
  cacheControl?: string;
  contentType?: string;
  /** Answer 302 to this location. */
  redirect?: string;
  /** Answer 401 unless this exact Authorization header is sent. */
  requireAuth?: string;
  /** Close the connection after this many body bytes, for the next `cutOffTimes` full responses. */
  cutOffAfter?: number;
  cutOffTimes?: number;
  /** Send the headers and this many body bytes, then nothing more (the connection stays open), for the next `stallTimes` full responses. */
  stallAfter?: number;
  stallTimes?: number;
  /** Answer this status (with an empty body) to the next `statusTimes` requests. */
  status?: number;
  statusTimes?: number;
  /** Sent as `Retry-After` with those statuses. */
  retryAfter?: string;
}

/** A real HTTPS server on 127.0.0.1 serving `resources` by path (query included), logging every request. */
export class TestServer {
  readonly resources = new Map<string, Resource>();
  readonly log: LogEntry[] = [];
  private server: Server | undefined;
  port = 0;
  /** TLS handshakes begun, completed or refused by the client: how many connections a client made. */
  handshakes = 0;

  /** Listens on 127.0.0.1 (a free port), or on the unix socket `opts.path` (for a forwarder in another network namespace). */
  async start(ca: TestCa, opts: { path?: string } = {}): Promise<void> {
    this.server = createServer({ cert: ca.certPem, key: ca.keyPem }, (req, res) => this.handle(req, res));
    const s = this.server;
    s.on('secureConnection', () => { this.handshakes++; });
    s.on('tlsClientError', () => { this.handshakes++; });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      if (opts.path !== undefined) s.listen(opts.path, resolve);
      else s.listen(0, '127.0.0.1', resolve);
    });
    if (opts.path === undefined) this.port = (s.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (s === undefined) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Requests whose path starts with `prefix`, answered with `status`. */
  requests(prefix: string, status?: number): LogEntry[] {
    return this.log.filter((e) => e.path.startsWith(prefix) && (status === undefined || e.status === status));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    const r = this.resources.get(path);
    const entry = (status: number) => this.log.push({
      method: req.method ?? '', path, status, range: req.headers.range, ifNoneMatch: req.headers['if-none-match'], authorization: req.headers.authorization, host: req.headers.host, at: performance.now(),
    });
    if (r === undefined) {
      entry(404);
      res.writeHead(404).end('not found');
      return;
    }
    if (r.status !== undefined && (r.statusTimes ?? 0) > 0) {
      r.statusTimes = (r.statusTimes ?? 0) - 1;
      entry(r.status);
      res.writeHead(r.status, r.retryAfter === undefined ? {} : { 'retry-after': r.retryAfter }).end();
      return;
    }
    if (r.redirect !== undefined) {
      entry(302);
      res.writeHead(302, { location: r.redirect }).end();
      return;
    }
    if (r.requireAuth !== undefined && req.headers.authorization !== r.requireAuth) {
      entry(401);
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end();
      return;
    }
    const headers: Record<string, string> = { 'content-type': r.contentType ?? 'application/octet-stream' };
    if (r.etag !== undefined) headers.etag = r.etag;
    if (r.cacheControl !== undefined) headers['cache-control'] = r.cacheControl;
    if (r.etag !== undefined && req.headers['if-none-match'] === r.etag) {
      entry(304);
      res.writeHead(304, headers).end();
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (range !== null && (ifRange === undefined || ifRange === r.etag)) {
      const start = Number(range[1]);
      if (start >= r.body.length) {
        entry(416);
        res.writeHead(416, { 'content-range': `bytes */${r.body.length}` }).end();
        return;
      }
      entry(206);
      res.writeHead(206, { ...headers, 'content-length': String(r.body.length - start), 'content-range': `bytes ${start}-${r.body.length - 1}/${r.body.length}` });
      res.end(r.body.subarray(start));
      return;
    }
    entry(200);
    res.writeHead(200, { ...headers, 'content-length': String(r.body.length) });
    if (r.stallAfter !== undefined && (r.stallTimes ?? 0) > 0) {
      r.stallTimes = (r.stallTimes ?? 0) - 1;
      res.write(r.body.subarray(0, r.stallAfter));
      return;
    }
    if (r.cutOffAfter !== undefined && (r.cutOffTimes ?? 0) > 0) {
      r.cutOffTimes = (r.cutOffTimes ?? 0) - 1;
      res.write(r.body.subarray(0, r.cutOffAfter), () => {
        // Give the bytes time to leave, then drop the connection mid-body.
        setTimeout(() => req.socket.destroy(), 20);
      });
      return;
    }
    res.end(r.body);
  }
}

export interface TestKey {
  readonly publicArmored: string;
  readonly privateKey: openpgp.PrivateKey;
  readonly fingerprint: string;
}

export async function makeKey(name: string): Promise<TestKey> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name, email: `${name.toLowerCase().replace(/\W/g, '')}@example.com` }], format: 'armored',
  });
  const priv = await openpgp.readPrivateKey({ armoredKey: privateKey });
  return { publicArmored: publicKey, privateKey: priv, fingerprint: priv.getFingerprint().toLowerCase() };
}

export async function sign(key: TestKey, data: Uint8Array): Promise<Buffer> {
  const message = await openpgp.createMessage({ binary: data });
  const armored = await openpgp.sign({ message, signingKeys: key.privateKey, detached: true, format: 'armored' });
  return Buffer.from(armored as string);
}

/**
 * A text-mode detached signature (type 0x01) over `data` made by openpgp, in RFC 9580's canonical form (each
 * LF not after CR hashed as CRLF). openpgp signs in text mode a literal packet that holds text; the packet
 * here holds `data`'s bytes as they are, so any bytes, an image's too, can be signed that way.
 */
export async function signText(key: TestKey, data: Uint8Array): Promise<Buffer> {
  const message = await openpgp.createMessage({ binary: data });
  const literal = message.packets.findPacket(openpgp.enums.packet.literalData);
  if (literal === undefined) throw new Error('no literal packet');
  Object.assign(literal, { text: '' });
  const armored = await openpgp.sign({ message, signingKeys: key.privateKey, detached: true, format: 'armored' });
  return Buffer.from(armored);
}

/** Whether `gpg` runs here (the tests that need it say so when skipped). */
export const hasGpg = (() => {
  try {
    return execFileSync('gpg', ['--version'], { stdio: 'ignore' }) !== undefined;
  } catch {
    return false;
  }
})();

/**
 * `gpg --textmode --detach-sign --armor` of `data` with `key`, in a GnuPG home made under `dir` for the
 * purpose, whose gpg-agent is stopped before returning.
 */
export async function gpgSignText(key: TestKey, data: Uint8Array, dir: string): Promise<Buffer> {
  const home = await mkdtemp(join(dir, 'gnupg-'));
  try {
    await writeFile(join(home, 'key.asc'), key.privateKey.armor());
    await writeFile(join(home, 'data'), data);
    await run('gpg', ['--homedir', home, '--batch', '--import', join(home, 'key.asc')]);
    await run('gpg', ['--homedir', home, '--batch', '--yes', '--textmode', '--detach-sign', '--armor', '-o', join(home, 'data.asc'), join(home, 'data')]);
    return await readFile(join(home, 'data.asc'));
  } finally {
    await run('gpgconf', ['--homedir', home, '--kill', 'all']).catch(() => undefined);
    await rm(home, { recursive: true, force: true });
  }
}

/** Builds a gzip ACI whose rootfs holds `files`, and returns its bytes. */
export async function makeAci(dir: string, manifest: Partial<ImageManifest> & { name: string }, files: Record<string, string>, extraBytes = 0): Promise<Buffer> {
  const out = join(dir, `${manifest.name.replace(/\W/g, '_')}-${Math.random().toString(16).slice(2)}.aci`);
  const entries = Object.entries(files).map(([path, data]) => ({ type: 'file' as const, path, data }));
  if (extraBytes > 0) {
    // Random data does not compress, so the download is really that large (for resume tests).
    const { randomBytes } = await import('node:crypto');
    entries.push({ type: 'file' as const, path: 'blob', data: randomBytes(extraBytes).toString('base64') });
  }
  await buildAci({ acKind: 'ImageManifest', acVersion: '0.8.11', ...manifest } as ImageManifest, entries, out, { compression: 'gzip' });
  return readFile(out);
}

export const HOST_LABELS = [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }];

/** A temp dir with `data/`, `etc/` (local config) and `lib/` (system config); removed by `cleanup`. */
export async function makeDirs(): Promise<{ root: string; data: string; local: string; system: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'rkt-fetcher-'));
  const dirs = { root, data: join(root, 'data'), local: join(root, 'etc'), system: join(root, 'lib') };
  await Promise.all([mkdir(dirs.data), mkdir(dirs.local), mkdir(dirs.system)]);
  return { ...dirs, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** A discovery page: one `ac-discovery` template per entry, and optional pubkeys. */
export function discoveryPage(prefix: string, templates: readonly string[], pubkeys: readonly string[] = []): Buffer {
  const metas = [
    ...templates.map((t) => `<meta name="ac-discovery" content="${prefix} ${t}">`),
    ...pubkeys.map((k) => `<meta name="ac-discovery-pubkeys" content="${prefix} ${k}">`),
  ];
  return Buffer.from(`<!DOCTYPE html>\n<html><head>\n${metas.join('\n')}\n</head><body></body></html>\n`);
}

/**
 * What most fetcher test files start with, made once for the file (openssl and key generation are the slow
 * part) and removed after it: temp dirs holding a test CA, an HTTPS server with that CA, and a signing key.
 * Call at the top level of a test file; the fields are set once its `beforeAll` hooks have run.
 */
export function useSignedServer(keyName = 'Signer'): { ca: TestCa; server: TestServer; key: TestKey } {
  const fixture = {} as { ca: TestCa; server: TestServer; key: TestKey };
  let caDirs: Awaited<ReturnType<typeof makeDirs>> | undefined;
  beforeAll(async () => {
    caDirs = await makeDirs();
    fixture.ca = await makeTestCa(caDirs.root);
    fixture.server = new TestServer();
    await fixture.server.start(fixture.ca);
    fixture.key = await makeKey(keyName);
  });
  afterAll(async () => {
    await fixture.server?.stop();
    await caDirs?.cleanup();
  });
  return fixture;
}

/**
 * A test's own directories, with the file's test CA in `certs.d` (as a private registry's CA reaches rkt-ts),
 * and the file's server with nothing served and nothing logged yet. The caller opens its store in `dirs.data`.
 */
export async function freshDirs(fixture: { ca: TestCa; server: TestServer }): Promise<Awaited<ReturnType<typeof makeDirs>>> {
  fixture.server.resources.clear();
  fixture.server.log.length = 0;
  const dirs = await makeDirs();
  await mkdir(join(dirs.local, 'certs.d'));
  await writeFile(join(dirs.local, 'certs.d', 'test-ca.pem'), fixture.ca.caPem);
  return dirs;
}
