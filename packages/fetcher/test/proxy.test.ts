import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '@rkt/image-store';
import { fetchImage, FetchError, Keystore } from '../src/index.js';
import { proxyFor } from '../src/http/proxy.js';
import { discoveryPage, HOST_LABELS, loopback, makeAci, makeDirs, makeKey, makeTestCa, sign, TestServer } from './helpers.js';

describe('proxyFor', () => {
  const u = (s: string) => new URL(s);
  it('reads HTTPS_PROXY / HTTP_PROXY and honours NO_PROXY and loopback as Go does', () => {
    const env = { HTTPS_PROXY: 'http://p:3128', http_proxy: 'p2:8080', NO_PROXY: '.internal.example, exact.com, other.com:8443' };
    expect(proxyFor(u('https://example.com/x'), env)?.href).toBe('http://p:3128/');
    expect(proxyFor(u('http://example.com/x'), env)?.href).toBe('http://p2:8080/');
    expect(proxyFor(u('https://a.internal.example/x'), env)).toBeUndefined();
    expect(proxyFor(u('https://internal.example/x'), env)).toBeUndefined();
    expect(proxyFor(u('https://exact.com/x'), env)).toBeUndefined();
    expect(proxyFor(u('https://notexact.com/x'), env)?.host).toBe('p:3128');
    expect(proxyFor(u('https://other.com:8443/x'), env)).toBeUndefined();
    expect(proxyFor(u('https://other.com/x'), env)?.host).toBe('p:3128');
    expect(proxyFor(u('https://localhost/x'), env)).toBeUndefined();
    expect(proxyFor(u('https://127.0.0.1/x'), env)).toBeUndefined();
    expect(proxyFor(u('https://example.com/x'), { ...env, NO_PROXY: '*' })).toBeUndefined();
    expect(proxyFor(u('https://example.com/x'), {})).toBeUndefined();
  });
});

describe('fetch through an https proxy (CONNECT)', () => {
  let dirs: Awaited<ReturnType<typeof makeDirs>>;
  let server: TestServer;
  let proxy: Server;
  const tunnels: string[] = [];
  // CONNECT sockets leave the http server's bookkeeping: closeAllConnections cannot end them.
  const sockets = new Set<{ destroy(): void }>();
  const proxyAuth = `Basic ${Buffer.from('pu:pp').toString('base64')}`;

  beforeAll(async () => {
    dirs = await makeDirs();
    const ca = await makeTestCa(dirs.root);
    server = new TestServer();
    await server.start(ca);
    // A CONNECT proxy that only reaches the test server, and only with the right credentials.
    proxy = createHttpServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req, client) => {
      sockets.add(client);
      if (req.headers['proxy-authorization'] !== proxyAuth) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
        return;
      }
      tunnels.push(req.url ?? '');
      const upstream = connect(server.port, '127.0.0.1', () => {
        sockets.add(upstream);
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    await mkdir(join(dirs.local, 'certs.d'));
    await writeFile(join(dirs.local, 'certs.d', 'ca.pem'), ca.caPem);
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    proxy?.closeAllConnections();
    await new Promise<void>((resolve) => (proxy === undefined ? resolve() : proxy.close(() => resolve())));
    await server?.stop();
    await dirs?.cleanup();
  });

  it('tunnels discovery, signature and image through the proxy, TLS end to end', async () => {
    const key = await makeKey('Signer');
    await new Keystore({ localConfigDir: dirs.local, systemConfigDir: dirs.system }).store(key.publicArmored, 'example.com');
    const aci = await makeAci(dirs.root, { name: 'example.com/app', labels: [{ name: 'version', value: 'v1' }, ...HOST_LABELS] }, { 'etc/x': 'x\n' });
    const base = `https://example.com:${server.port}`;
    server.resources.set('/?ac-discovery=1', { body: discoveryPage('example.com', [`${base}/i/{name}-{version}.{ext}`]) });
    server.resources.set('/i/example.com/app-v1.aci', { body: aci });
    server.resources.set('/i/example.com/app-v1.aci.asc', { body: await sign(key, aci) });
    const store = await openStore({ dir: dirs.data });
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const opts = (env: Record<string, string>) => ({
      store, localConfigDir: dirs.local, systemConfigDir: dirs.system,
      network: { lookup: loopback, discoveryPort: server.port, env },
    });
    const denied = await fetchImage('example.com/app:v1', opts({ HTTPS_PROXY: proxyUrl })).catch((e: unknown) => e);
    expect((denied as FetchError).code).toBe('FETCH_DISCOVERY');
    expect((denied as FetchError).message).toMatch(/proxy 127\.0\.0\.1:\d+ refused the tunnel: HTTP 407/);
    const r = await fetchImage('example.com/app:v1', opts({ HTTPS_PROXY: `http://pu:pp@127.0.0.1:${(proxy.address() as AddressInfo).port}` }));
    expect(r.signedBy).toBe(key.fingerprint);
    expect(tunnels.length).toBeGreaterThanOrEqual(3);
    expect(new Set(tunnels)).toEqual(new Set([`example.com:${server.port}`]));
    // NO_PROXY sends the same fetch straight to the server.
    const before = tunnels.length;
    await fetchImage('example.com/app:v1', opts({ HTTPS_PROXY: proxyUrl, NO_PROXY: 'example.com' }));
    expect(tunnels.length).toBe(before);
  });

  it('sends plain http requests to an http proxy with the absolute URL and the proxy credentials', async () => {
    const aci = await makeAci(dirs.root, { name: 'example.com/plain', labels: HOST_LABELS }, { 'etc/p': 'p\n' });
    const seen: Array<{ url: string | undefined; auth: string | undefined; host: string | undefined }> = [];
    const plainProxy = createHttpServer((req, res) => {
      seen.push({ url: req.url, auth: req.headers['proxy-authorization'], host: req.headers.host });
      res.writeHead(200, { 'content-length': String(aci.length) }).end(aci);
    });
    await new Promise<void>((resolve) => plainProxy.listen(0, '127.0.0.1', resolve));
    try {
      const store = await openStore({ dir: join(dirs.root, 'data-plain') });
      const port = (plainProxy.address() as AddressInfo).port;
      const r = await fetchImage('http://example.com/app.aci', {
        store, localConfigDir: dirs.local, systemConfigDir: dirs.system,
        insecure: { allowHttp: true, skipImageCheck: true },
        network: { lookup: loopback, env: { HTTP_PROXY: `http://pu:pp@127.0.0.1:${port}` } },
      });
      expect((await store.get(r.id))?.name).toBe('example.com/plain');
      expect(seen).toEqual([{ url: 'http://example.com/app.aci', auth: proxyAuth, host: 'example.com' }]);
    } finally {
      plainProxy.closeAllConnections();
      await new Promise<void>((resolve) => plainProxy.close(() => resolve()));
    }
  });
});
