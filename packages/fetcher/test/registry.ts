/**
 * A real Docker registry for tests: the CNCF distribution registry (Debian's `docker-registry`, 2.8) on
 * 127.0.0.1 with its storage in a temp dir, over http or https (the test CA), optionally behind htpasswd basic
 * auth or token auth (a small Node token server issuing ES256 JWTs), plus helpers to build and push images.
 * Integration tests import it as they import helpers.ts.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, sign as cryptoSign, X509Certificate } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import type { TestCa } from './helpers.js';

const run = promisify(execFile);

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export const MT = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  list: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface User {
  readonly user: string;
  readonly password: string;
}

export interface RegistryOptions {
  /** Serve https with this CA's server certificate (valid for 127.0.0.1 and localhost). */
  readonly tls?: TestCa;
  /** htpasswd basic auth with this one user. */
  readonly htpasswd?: User;
  /** Token auth: the token server gives push and pull to `user`, and pull to anyone when `anonymousPull`. */
  readonly token?: { readonly user: User; readonly anonymousPull?: boolean };
  /** The registry's own access log, read by `requests()`. */
  readonly accessLog?: boolean;
}

export interface TokenRequest {
  readonly authorization: string | undefined;
  readonly service: string | null;
  readonly scopes: readonly string[];
  readonly status: number;
}

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

export class TestRegistry {
  /** `127.0.0.1:PORT`: what a `docker://` reference names. */
  host = '';
  port = 0;
  /** Requests the token server answered, in order. */
  readonly tokenRequests: TokenRequest[] = [];
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private tokenServer: Server | undefined;
  private output = '';
  private tokenKey: { pem: string; x5c: string } | undefined;

  private constructor(readonly dir: string, readonly opts: RegistryOptions) {}

  get scheme(): 'http' | 'https' {
    return this.opts.tls === undefined ? 'http' : 'https';
  }

  /** Where the registry keeps a blob: tests corrupt it to play a tampered registry. */
  blobFile(digest: string): string {
    const hex = digest.replace(/^sha256:/, '');
    return join(this.dir, 'storage', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  }

  static async start(opts: RegistryOptions = {}): Promise<TestRegistry> {
    const dir = await mkdtemp(join(tmpdir(), 'rkt-registry-'));
    const r = new TestRegistry(dir, opts);
    try {
      await r.launch();
    } catch (err) {
      await r.stop();
      throw err;
    }
    return r;
  }

  private async launch(): Promise<void> {
    const { dir, opts } = this;
    await mkdir(join(dir, 'storage'));
    const lines = ['version: 0.1', 'log:', '  level: error', '  accesslog:', `    disabled: ${opts.accessLog !== true}`, 'storage:',
      '  filesystem:', `    rootdirectory: ${join(dir, 'storage')}`, '  delete:', '    enabled: true', 'http:', '  addr: ADDR', '  secret: rkt-ts-test'];
    if (opts.tls !== undefined) {
      await writeFile(join(dir, 'srv.pem'), opts.tls.certPem);
      await writeFile(join(dir, 'srv.key'), opts.tls.keyPem, { mode: 0o600 });
      lines.push('  tls:', `    certificate: ${join(dir, 'srv.pem')}`, `    key: ${join(dir, 'srv.key')}`);
    }
    if (opts.htpasswd !== undefined) {
      // bcrypt, as the registry requires: Debian's htpasswd (apache2-utils), at the lowest cost for speed.
      const { stdout } = await run('htpasswd', ['-nbB', '-C', '4', opts.htpasswd.user, opts.htpasswd.password]);
      await writeFile(join(dir, 'htpasswd'), stdout.trim() + '\n');
      lines.push('auth:', '  htpasswd:', '    realm: rkt-ts-test', `    path: ${join(dir, 'htpasswd')}`);
    }
    if (opts.token !== undefined) {
      await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'token.key'),
        '-out', join(dir, 'token.pem'), '-days', '2', '-subj', '/CN=rkt-ts test token issuer']);
      const cert = new X509Certificate(await readFile(join(dir, 'token.pem')));
      this.tokenKey = { pem: await readFile(join(dir, 'token.key'), 'utf8'), x5c: cert.raw.toString('base64') };
      const tokenPort = await this.startTokenServer();
      lines.push('auth:', '  token:', `    realm: http://127.0.0.1:${tokenPort}/token`, '    service: rkt-ts-registry', '    issuer: rkt-ts-token-issuer',
        `    rootcertbundle: ${join(dir, 'token.pem')}`);
    }
    // A port that was free a moment ago may be taken by another test's server in between: try a few.
    for (let attempt = 1; ; attempt++) {
      this.port = await freePort();
      this.host = `127.0.0.1:${this.port}`;
      await writeFile(join(dir, 'config.yml'), lines.join('\n').replace('ADDR', this.host) + '\n');
      this.output = '';
      const proc = spawn(REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
      this.proc = proc;
      proc.stdout?.on('data', (d: Buffer) => { this.output += d.toString(); });
      proc.stderr?.on('data', (d: Buffer) => { this.output += d.toString(); });
      let gone = false;
      this.exited = new Promise<void>((resolve) => proc.once('exit', () => { gone = true; resolve(); }));
      const deadline = Date.now() + 15_000;
      while (!gone && Date.now() < deadline) {
        if (await this.answers()) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      await this.stopProcess();
      if (attempt >= 3 || !/address already in use/.test(this.output)) {
        throw new Error(`docker-registry did not start on ${this.host}: ${this.output.trim().split('\n').slice(-3).join(' | ')}`);
      }
    }
  }

  /** The requests the registry logged (with `accessLog`), in order: method, path, status and the body's size. */
  requests(): { method: string; path: string; status: number; bytes: number }[] {
    const out: { method: string; path: string; status: number; bytes: number }[] = [];
    for (const m of this.output.matchAll(/"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-)/g)) {
      out.push({ method: m[1]!, path: m[2]!, status: Number(m[3]), bytes: m[4] === '-' ? 0 : Number(m[4]) });
    }
    return out;
  }

  private async answers(): Promise<boolean> {
    try {
      const res = await this.raw('GET', '/v2/');
      return res.status === 200 || res.status === 401;
    } catch {
      return false;
    }
  }

  private async startTokenServer(): Promise<number> {
    const token = this.opts.token!;
    const server = createHttpServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const scopes = url.searchParams.getAll('scope');
      const authorization = req.headers.authorization;
      const answer = (status: number, body: unknown) => {
        this.tokenRequests.push({ authorization, service: url.searchParams.get('service'), scopes, status });
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      let subject = '';
      if (authorization !== undefined) {
        const expected = `Basic ${Buffer.from(`${token.user.user}:${token.user.password}`).toString('base64')}`;
        if (authorization !== expected) return answer(401, { details: 'incorrect username or password' });
        subject = token.user.user;
      } else if (token.anonymousPull !== true) {
        return answer(401, { details: 'authentication required' });
      }
      const access = scopes.map((s) => {
        const [type, name, actions] = [s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 1, s.lastIndexOf(':')), s.slice(s.lastIndexOf(':') + 1)];
        const allowed = actions.split(',').filter((a) => subject !== '' || a === 'pull');
        return { type, name, actions: allowed };
      });
      const t = this.jwt({ sub: subject, aud: url.searchParams.get('service') ?? '', access });
      // Docker Hub answers both names; the client takes either.
      return answer(200, { token: t, access_token: t, expires_in: 300 });
    });
    this.tokenServer = server;
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  /** An ES256 JWT the registry accepts: its signing certificate in `x5c`, chained to the rootcertbundle (itself). */
  private jwt(claims: { sub: string; aud: string; access: unknown }): string {
    const key = this.tokenKey!;
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [key.x5c] }));
    const payload = b64url(JSON.stringify({ iss: 'rkt-ts-token-issuer', nbf: now - 60, iat: now, exp: now + 300, jti: `${now}-${Math.random()}`, ...claims }));
    const sig = cryptoSign('sha256', Buffer.from(`${header}.${payload}`), { key: createPrivateKey(key.pem), dsaEncoding: 'ieee-p1363' });
    return `${header}.${payload}.${b64url(sig)}`;
  }

  private async stopProcess(): Promise<void> {
    const proc = this.proc;
    if (proc === undefined) return;
    this.proc = undefined;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  /** Stops the registry and the token server and removes the registry's directory (storage included). */
  async stop(): Promise<void> {
    await this.stopProcess();
    const ts = this.tokenServer;
    if (ts !== undefined) {
      ts.closeAllConnections();
      await new Promise<void>((resolve) => ts.close(() => resolve()));
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  /** One request to the registry (Authorization as given), its status, headers and body. */
  async raw(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
    const url = new URL(path, `${this.scheme}://${this.host}`);
    const request = this.scheme === 'https' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(body.length) }) }, ...(this.opts.tls === undefined ? {} : { ca: this.opts.tls.caPem }) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The Authorization a pusher of `repo` sends: the htpasswd user's, or a push token for the token user. */
  private async pushAuth(repo: string): Promise<Record<string, string>> {
    if (this.opts.htpasswd !== undefined) {
      return { authorization: `Basic ${Buffer.from(`${this.opts.htpasswd.user}:${this.opts.htpasswd.password}`).toString('base64')}` };
    }
    if (this.opts.token !== undefined) {
      const t = this.jwt({ sub: this.opts.token.user.user, aud: 'rkt-ts-registry', access: [{ type: 'repository', name: repo, actions: ['pull', 'push'] }] });
      return { authorization: `Bearer ${t}` };
    }
    return {};
  }

  /** Uploads a blob (POST an upload, then PUT it whole with its digest); returns the digest. */
  async pushBlob(repo: string, data: Buffer): Promise<string> {
    const auth = await this.pushAuth(repo);
    const digest = sha256(data);
    const start = await this.raw('POST', `/v2/${repo}/blobs/uploads/`, auth);
    if (start.status !== 202) throw new Error(`blob upload to ${repo}: ${start.status} ${start.body.toString()}`);
    const location = new URL(String(start.headers.location), `${this.scheme}://${this.host}`);
    location.searchParams.set('digest', digest);
    const put = await this.raw('PUT', location.pathname + location.search, { ...auth, 'content-type': 'application/octet-stream' }, data);
    if (put.status !== 201) throw new Error(`blob ${digest} to ${repo}: ${put.status} ${put.body.toString()}`);
    return digest;
  }

  /** Puts a manifest (or list) under `reference` (a tag or its digest); returns its digest. */
  async pushManifest(repo: string, reference: string, manifest: unknown, mediaType: string): Promise<string> {
    const body = Buffer.from(JSON.stringify(manifest));
    const put = await this.raw('PUT', `/v2/${repo}/manifests/${reference}`, { ...(await this.pushAuth(repo)), 'content-type': mediaType }, body);
    if (put.status !== 201) throw new Error(`manifest ${repo}:${reference}: ${put.status} ${put.body.toString()}`);
    return sha256(body);
  }

  /** Pushes an image: its layers and config as blobs, then a schema 2 manifest under `tag` (when given). */
  async pushImage(repo: string, tag: string | undefined, image: BuiltImage): Promise<PushedImage> {
    const layerDigests: string[] = [];
    for (const l of image.layers) layerDigests.push(await this.pushBlob(repo, l.gz));
    const configBytes = Buffer.from(JSON.stringify(image.config));
    const configDigest = await this.pushBlob(repo, configBytes);
    const manifest = {
      schemaVersion: 2,
      mediaType: MT.manifest,
      config: { mediaType: MT.config, size: configBytes.length, digest: configDigest },
      layers: image.layers.map((l, i) => ({ mediaType: MT.layer, size: l.gz.length, digest: layerDigests[i]! })),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = await this.pushManifest(repo, tag ?? sha256(manifestBytes), manifest, MT.manifest);
    return { manifestDigest, configDigest, layerDigests, manifestSize: manifestBytes.length };
  }

  /** Pushes a manifest list under `tag` whose entries are already-pushed images with their platforms. */
  async pushList(repo: string, tag: string, entries: ReadonlyArray<{ image: PushedImage; os: string; architecture: string; variant?: string }>): Promise<string> {
    return this.pushManifest(repo, tag, {
      schemaVersion: 2,
      mediaType: MT.list,
      manifests: entries.map((e) => ({
        mediaType: MT.manifest, size: e.image.manifestSize, digest: e.image.manifestDigest,
        platform: { architecture: e.architecture, os: e.os, ...(e.variant === undefined ? {} : { variant: e.variant }) },
      })),
    }, MT.list);
  }
}

export interface PushedImage {
  readonly manifestDigest: string;
  readonly manifestSize: number;
  readonly configDigest: string;
  readonly layerDigests: readonly string[];
}

export interface BuiltLayer {
  /** The gzip'd tar as pushed. */
  readonly gz: Buffer;
  /** sha256 of the uncompressed tar: the config's rootfs.diff_ids entry. */
  readonly diffId: string;
}

export interface BuiltImage {
  readonly layers: readonly BuiltLayer[];
  readonly config: Record<string, unknown>;
}

/** A layer of `files` (path -> content), made with GNU tar and gzip as docker's would be. */
export async function makeLayer(files: Record<string, string>): Promise<BuiltLayer> {
  const dir = await mkdtemp(join(tmpdir(), 'rkt-layer-'));
  try {
    const root = join(dir, 'root');
    await mkdir(root);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(root, path, '..'), { recursive: true });
      await writeFile(join(root, path), content);
    }
    const tarFile = join(dir, 'layer.tar');
    await run('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', tarFile, '-C', root, '.']);
    await run('gzip', ['-n', tarFile]);
    const tar = await run('gzip', ['-dc', `${tarFile}.gz`], { encoding: 'buffer', maxBuffer: 1 << 30 });
    return { gz: await readFile(`${tarFile}.gz`), diffId: sha256(tar.stdout) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** An image of these layers with a docker image config (`config` merged into its `config` section). */
export function makeImage(layers: readonly BuiltLayer[], o: { arch?: string; os?: string; config?: Record<string, unknown> } = {}): BuiltImage {
  return {
    layers,
    config: {
      architecture: o.arch ?? 'amd64',
      os: o.os ?? 'linux',
      created: '2026-01-01T00:00:00Z',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'], ...o.config },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created: '2026-01-01T00:00:00Z', created_by: `layer ${i}` })),
    },
  };
}

/**
 * A registry for the whole test file (started in beforeAll, stopped and removed in afterAll, even when a test
 * failed). Call at the top level of a test file; `fixture.registry` is set once its beforeAll has run.
 */
export function useRegistry(opts: RegistryOptions | (() => RegistryOptions) = {}): { registry: TestRegistry } {
  const fixture = {} as { registry: TestRegistry };
  beforeAll(async () => {
    fixture.registry = await TestRegistry.start(typeof opts === 'function' ? opts() : opts);
  }, 30_000);
  afterAll(async () => {
    await fixture.registry?.stop();
  });
  return fixture;
}
