import { request as httpRequest } from 'node:http';
import type { LookupFunction, Socket } from 'node:net';
import { FetchError, firstLine } from '../errors.js';
import { HttpTimeout, isTransient, isTransientStatus } from './failures.js';

/**
 * The proxy for a URL from the environment, as Go's ProxyFromEnvironment (which rkt used) reads it:
 * HTTPS_PROXY for https, HTTP_PROXY for http (lower-case names too), none for hosts NO_PROXY lists
 * (`*`, exact names, or domain suffixes with or without a leading dot, optionally with a port) and none
 * for localhost and loopback addresses.
 */
export function proxyFor(url: URL, env: Readonly<Record<string, string | undefined>>): URL | undefined {
  const raw = url.protocol === 'https:' ? env.HTTPS_PROXY ?? env.https_proxy : env.HTTP_PROXY ?? env.http_proxy;
  if (raw === undefined || raw === '') return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === '::1' || /^127\./.test(host)) return undefined;
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  for (const entry of noProxy) {
    if (entry === '*') return undefined;
    const [name, port] = entry.split(':') as [string, string | undefined];
    if (port !== undefined && port !== (url.port || (url.protocol === 'https:' ? '443' : '80'))) continue;
    const bare = name.replace(/^\./, '');
    if (host === bare || host.endsWith(`.${bare}`)) return undefined;
  }
  try {
    return new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new FetchError('FETCH_CONFIG', `invalid proxy URL ${JSON.stringify(raw)} in the environment`, { subject: raw });
  }
}

/** `Proxy-Authorization` from the proxy URL's user info, if any. */
export function proxyAuthorization(proxy: URL): Record<string, string> {
  if (proxy.username === '') return {};
  const creds = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(creds).toString('base64')}` };
}

/** Opens a tunnel to `url`'s host through an http proxy (CONNECT); TLS then runs inside it, end to end. */
export function connectTunnel(proxy: URL, url: URL, opts: { lookup?: LookupFunction; timeoutMs: number }): Promise<Socket> {
  const target = `${url.hostname}:${url.port || '443'}`;
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: proxy.hostname,
      port: proxy.port || 80,
      method: 'CONNECT',
      path: target,
      headers: { host: target, ...proxyAuthorization(proxy) },
      lookup: opts.lookup,
      timeout: opts.timeoutMs,
    });
    req.on('timeout', () => req.destroy(new HttpTimeout(opts.timeoutMs)));
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new FetchError('FETCH_HTTP', `${url.href}: proxy ${proxy.host} refused the tunnel: HTTP ${res.statusCode}`, { subject: url.href, transient: isTransientStatus(res.statusCode ?? 0) }));
        return;
      }
      resolve(socket);
    });
    req.on('error', (err) => reject(new FetchError('FETCH_HTTP', `${url.href}: proxy ${proxy.host}: ${firstLine(err)}`, { subject: url.href, cause: err, transient: isTransient(err) })));
    req.end();
  });
}
