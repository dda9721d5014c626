import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { connect as tlsConnect, createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { FetchError, firstLine } from '../errors.js';
import type { AuthHeaders } from '../config/auth.js';
import { bodyFailure, EarlyClose, HttpTimeout, isTransient, isTransientStatus } from './failures.js';
import { pauseBeforeRetry, retryAfterOf } from './retry.js';
import { connectTunnel, proxyAuthorization, proxyFor } from './proxy.js';

export interface HttpOptions {
  /** Extra CA certificates (PEM), trusted in addition to Node's bundled roots (e.g. from `certs.d`). */
  readonly ca?: readonly string[];
  /** `--insecure-options=tls`: accept any certificate and host name. */
  readonly insecureTls?: boolean;
  /** `--insecure-options=http`: allow plain http URLs (and redirects to them). */
  readonly allowHttp?: boolean;
  /** Headers (Authorization) per host, from auth.d. */
  readonly auth?: AuthHeaders;
  /** Host name resolution; tests point names at 127.0.0.1 with it. Default: the system resolver. */
  readonly lookup?: LookupFunction;
  /** Idle socket timeout per request (default 30 s). */
  readonly timeoutMs?: number;
  /** Where HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  readonly url: URL;
  readonly body: IncomingMessage;
}

const MAX_REDIRECTS = 10;

/** Attempts for a small document: a few, as a discovery miss or a missing signature must not take long to say. */
const DOCUMENT_ATTEMPTS = 3;

/** The last attempt's failure, said once with the count: `URL: failed after 3 attempts: timed out ...`. */
function afterAttempts(url: URL, attempts: number, err: unknown): FetchError {
  const line = firstLine(err);
  const reason = line.startsWith(`${url.href}: `) ? line.slice(url.href.length + 2) : line;
  return new FetchError('FETCH_HTTP', `${url.href}: failed after ${attempts} attempts: ${reason}`, { subject: url.href, cause: err, transient: true });
}

/** The body's declared length, when it has one. */
export function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const n = Number(headers['content-length'] ?? NaN);
  return Number.isFinite(n) ? n : undefined;
}

/** One HTTP(S) client for discovery, signatures, keys and images: TLS policy, auth and redirects in one place. */
export class HttpClient {
  private readonly ca: string[] | undefined;
  private context: SecureContext | undefined;

  constructor(readonly options: HttpOptions = {}) {
    this.ca = options.ca !== undefined && options.ca.length > 0 ? [...options.ca] : undefined;
  }

  /**
   * One TLS context for every connection (given `ca`, each connection would build its own), trusting Node's
   * bundled roots and the extra CAs. Node parses the bundled roots once per process into a shared store; a
   * context made without `ca` uses that store, and the native context's `addCACert` then copies it and adds
   * a certificate. Passing the roots' PEM text as `ca` along with the extras parsed all ~140 of them a second
   * time: 57-87 ms of every fetch here, against 30.
   */
  private secureContext(): SecureContext | undefined {
    if (this.ca === undefined) return undefined;
    this.context ??= contextWithExtraCas(this.ca);
    return this.context;
  }

  /** Refuses plain http unless allowed, naming the URL and the option that would allow it. */
  checkScheme(url: URL): void {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:') {
      if (this.options.allowHttp === true) return;
      throw new FetchError('FETCH_INSECURE',
        `${url.href}: plain http is not allowed; use https or --insecure-options=http`, { subject: url.href });
    }
    throw new FetchError('FETCH_HTTP', `${url.href}: unsupported URL scheme ${url.protocol}`, { subject: url.href });
  }

  /**
   * GET `url`, following up to 10 redirects. The caller owns (and must consume or destroy) the body.
   * Authorization headers go only to hosts auth.d names, so a redirect elsewhere does not leak them.
   */
  async get(url: URL, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<HttpResponse> {
    return this.request('GET', url, headers, signal);
  }

  /**
   * HEAD `url`: what `get` does (TLS, CAs, proxies, auth, redirects, the caller's Authorization kept from other
   * hosts), for the status and headers alone. A registry counts a manifest's GET against its pull rate limit and
   * not its HEAD. The body is empty; it has been read already.
   */
  async head(url: URL, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<HttpResponse> {
    const res = await this.request('HEAD', url, headers, signal);
    res.body.resume();
    return res;
  }

  /**
   * `signal` ends a request still waiting for its response (connecting, or sent and unanswered): its socket is
   * destroyed and the promise rejects with a FetchError whose cause is the signal's reason. Once the response
   * has started, its body is the caller's to destroy.
   */
  private async request(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<HttpResponse> {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      this.checkScheme(current);
      if (signal?.aborted === true) throw abortedRequest(current, signal);
      // A caller's own Authorization (a registry's token) is for the host asked: a redirect elsewhere (a
      // registry sending a blob to its storage's signed URL) must not carry it, and storage refuses it anyway.
      const res = await this.once(method, current, current.host === url.host ? headers : withoutAuthorization(headers), signal);
      const location = res.headers.location;
      if (res.statusCode !== undefined && [301, 302, 303, 307, 308].includes(res.statusCode) && location !== undefined) {
        res.resume();
        try {
          current = new URL(location, current);
        } catch {
          throw new FetchError('FETCH_HTTP', `${current.href}: bad redirect location ${JSON.stringify(location)}`, { subject: url.href });
        }
        continue;
      }
      return { status: res.statusCode ?? 0, headers: res.headers, url: current, body: res };
    }
    throw new FetchError('FETCH_HTTP', `${url.href}: more than ${MAX_REDIRECTS} redirects`, { subject: url.href });
  }

  /**
   * GET a small document (discovery page, signature, key), refusing more than `maxBytes`. What could go
   * differently next time (a connection refused or cut, a timeout, a 5xx, 408 or 429) is asked again, up to
   * DOCUMENT_ATTEMPTS in all, as a download is; a 429 or 503 after its `Retry-After`. Any other status is the
   * caller's to judge (a 404 is a missing signature, or a discovery miss), so it is returned at once.
   */
  async getBytes(url: URL, maxBytes = 1 << 20): Promise<{ status: number; body: Buffer; url: URL }> {
    for (let attempt = 1; ; attempt++) {
      let res: { status: number; body: Buffer; url: URL; headers: IncomingHttpHeaders };
      try {
        res = await this.getBytesOnce(url, maxBytes);
      } catch (err) {
        if (!isTransient(err)) throw err;
        if (attempt >= DOCUMENT_ATTEMPTS) throw afterAttempts(url, attempt, err);
        await pauseBeforeRetry(attempt, DOCUMENT_ATTEMPTS);
        continue;
      }
      if (!isTransientStatus(res.status)) return { status: res.status, body: res.body, url: res.url };
      const wait = retryAfterOf(res, res.url);
      const err = new FetchError('FETCH_HTTP', `${res.url.href}: bad HTTP status code: ${res.status}`, { subject: url.href, transient: true });
      if (attempt >= DOCUMENT_ATTEMPTS) throw afterAttempts(url, attempt, err);
      await pauseBeforeRetry(attempt, DOCUMENT_ATTEMPTS, wait);
    }
  }

  private async getBytesOnce(url: URL, maxBytes: number): Promise<{ status: number; body: Buffer; url: URL; headers: IncomingHttpHeaders }> {
    const res = await this.get(url);
    const chunks: Buffer[] = [];
    let size = 0;
    const total = contentLength(res.headers);
    try {
      for await (const chunk of res.body) {
        const b = chunk as Buffer;
        size += b.length;
        if (size > maxBytes) {
          throw new FetchError('FETCH_HTTP', `${res.url.href}: response larger than ${maxBytes} bytes`, { subject: url.href });
        }
        chunks.push(b);
      }
      if (total !== undefined && size < total) throw new EarlyClose(size, total);
    } catch (err) {
      res.body.destroy();
      if (err instanceof FetchError) throw err;
      const why = bodyFailure(err, size, total);
      throw new FetchError('FETCH_HTTP', `${res.url.href}: ${firstLine(why)}`, { subject: url.href, cause: err, transient: isTransient(why) });
    }
    return { status: res.status, body: Buffer.concat(chunks), url: res.url, headers: res.headers };
  }

  private async once(method: 'GET' | 'HEAD', url: URL, extra: Record<string, string>, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    const headers: Record<string, string> = {
      'user-agent': 'rkt-ts',
      ...this.options.auth?.forHost(url),
      ...extra,
    };
    const https = url.protocol === 'https:';
    const timeout = this.options.timeoutMs ?? 30_000;
    const proxy = proxyFor(url, this.options.env ?? process.env);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    // SNI carries host names only (RFC 6066; Node warns DEP0123 for an IP): for an address, the certificate
    // is still checked against `host`, as an IP SAN.
    // `ca` (the extra CAs) stays for the agent, which keys its kept-alive sockets by it: no socket is reused
    // across CA sets. The connection itself uses `secureContext`.
    const tls = { ca: this.ca, secureContext: https ? this.secureContext() : undefined, rejectUnauthorized: this.options.insecureTls !== true, ...(isIP(host) === 0 ? { servername: host } : { host }) };
    let extraOptions: Record<string, unknown> = https ? tls : {};
    if (proxy !== undefined && https) {
      // CONNECT, then TLS to the origin inside the tunnel: the proxy sees neither the data nor our credentials.
      const socket = await connectTunnel(proxy, url, { lookup: this.options.lookup, timeoutMs: timeout });
      if (signal?.aborted === true) {
        socket.destroy();
        throw abortedRequest(url, signal);
      }
      extraOptions = { ...tls, agent: false, createConnection: () => tlsConnect({ ...tls, socket }) };
    } else if (proxy !== undefined) {
      // Plain http through a proxy: the request line carries the absolute URL.
      Object.assign(headers, { host: url.host }, proxyAuthorization(proxy));
      extraOptions = { host: proxy.hostname, port: proxy.port || 80, path: url.href };
    }
    return new Promise((resolve, reject) => {
      const options = { method, headers, lookup: this.options.lookup, timeout, ...extraOptions };
      const req = proxy !== undefined && !https
        ? httpRequest(options)
        : (https ? httpsRequest : httpRequest)(url, options);
      let response: IncomingMessage | undefined;
      // Until the response starts: a pull's abort (Ctrl-C, a sibling layer's failure) must not wait for a server
      // that never answers, and the connection must not stay open behind it.
      const onAbort = () => req.destroy(abortedRequest(url, signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      // The socket's idle timer also runs while the body is read: a stalled body gets the timeout as its
      // error (destroying the request instead leaves the body only "aborted").
      req.on('timeout', () => {
        const err = new HttpTimeout(timeout);
        if (response !== undefined) response.destroy(err);
        else req.destroy(err);
      });
      req.on('response', (res: IncomingMessage) => {
        signal?.removeEventListener('abort', onAbort);
        response = res;
        resolve(res);
      });
      req.on('error', (err) => {
        signal?.removeEventListener('abort', onAbort);
        if (err instanceof FetchError) return reject(err);
        reject(new FetchError('FETCH_HTTP', `${url.href}: ${firstLine(err)}`, { subject: url.href, cause: err, transient: isTransient(err) }));
      });
      req.end();
    });
  }
}

/** A request ended by the caller's signal: the fetcher's error, the signal's reason as its cause. */
function abortedRequest(url: URL, signal: AbortSignal): FetchError {
  return new FetchError('FETCH_HTTP', `${url.href}: request aborted: ${firstLine(signal.reason)}`, { subject: url.href, cause: signal.reason });
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
}

/** What Node's SecureContext holds beyond its published type: the native context it configures. */
interface NativeContextHolder {
  readonly context?: { addCACert?: (pem: string) => void };
}

function contextWithExtraCas(extra: readonly string[]): SecureContext {
  const ctx = createSecureContext();
  const native = (ctx as unknown as NativeContextHolder).context;
  const add = native?.addCACert;
  // A Node without the native method gets the documented way: the roots' PEM text along with the extras.
  if (native === undefined || typeof add !== 'function') return createSecureContext({ ca: [...rootCertificates, ...extra] });
  for (const pem of extra) add.call(native, pem);
  return ctx;
}
