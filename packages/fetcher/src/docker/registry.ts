import { createHash, randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { z as Zod } from 'zod';
import { FetchError, firstLine, type FetchErrorCode } from '../errors.js';
import { contentLength, type HttpClient, type HttpResponse } from '../http/client.js';
import { eachChunk } from '../http/download.js';
import { bodyFailure, EarlyClose, isTransient, isTransientStatus } from '../http/failures.js';
import { pauseBeforeRetry, retryAfterOf } from '../http/retry.js';
import { createProgressBoard, type Progress, type ProgressSink } from '../progress.js';
import { manifestReference, type DockerRef } from './docker-ref.js';
import { layerFailure } from './layer-stream.js';
import { LayerBody } from './layer-body.js';
import { PartialLayer } from './partial-layer.js';

/**
 * A Docker Registry HTTP API v2 client (the distribution spec, which Docker Hub, quay.io, ghcr.io and the CNCF
 * registry serve): the pull half of what rkt's docker2aci did, on the fetcher's HttpClient (its TLS policy,
 * certs.d CAs, proxies and plain-http rule). It gets an image's manifest for this host's platform, its config
 * and its layers, each checked against its digest; turning them into an ACI is the converter's job.
 */

export interface PulledLayer {
  /** The layer as a plain tar: inflated while it downloaded when the registry served it gzip'd. */
  readonly path: string;
  /** The file's media type: always an uncompressed tar (`application/vnd.oci.image.layer.v1.tar`). */
  readonly mediaType: string;
  /** The manifest's media type for the blob as served (`...tar.gzip`, `...tar+gzip`, `...tar`). */
  readonly servedMediaType: string;
  /** The blob's digest and size as served (the manifest's). */
  readonly digest: string;
  readonly size: number;
  /** sha256 of the tar (the file): the image config's `rootfs.diff_ids` entry, checked. */
  readonly diffId: string;
}

export interface PulledImage {
  readonly ref: DockerRef;
  /** `sha256:...` of the image manifest used (the platform's entry, when the reference names a manifest list or OCI index). */
  readonly manifestDigest: string;
  /** `sha256:...` of what the reference names: the manifest list or index when it is one, else `manifestDigest`. */
  readonly referenceDigest: string;
  readonly configDigest: string;
  /** The image config blob, parsed: architecture, os, config{Entrypoint,Cmd,Env,User,...}, rootfs.diff_ids, history. */
  readonly config: Record<string, unknown>;
  /** Bottom first, each in a file in `dir`, verified against its digest and its diff_id. */
  readonly layers: readonly PulledLayer[];
}

export interface RegistryCredentials {
  readonly user: string;
  readonly password: string;
}

export interface ResolveOptions {
  readonly http: HttpClient;
  /** Credentials for a registry host (auth.d's dockerAuth entries: `DockerAuth.forRegistry`). */
  readonly credentials?: (registry: string) => RegistryCredentials | undefined;
  /** The platform to pick from a manifest list, in appc's or Docker's words (`linux`, `amd64`, `aarch64`/`arm64`, `armv7l`). */
  readonly os: string;
  readonly arch: string;
  readonly signal?: AbortSignal;
}

export interface PullOptions extends ResolveOptions {
  /** Where the layers go (an existing directory; the caller removes it). */
  readonly dir: string;
  /** stderr: one progress bar per layer when it is a terminal. */
  readonly progress?: ProgressSink;
  /** Layers downloaded at once (default 3, docker's `max-concurrent-downloads`). */
  readonly concurrency?: number;
  /**
   * Where a layer's bytes as served are kept while it downloads (the store's `tmp/partial`), so that a pull cut
   * off or killed is resumed by the next one; none kept without it (an interrupted pull starts over).
   */
  readonly partialDir?: string;
}

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** Schema 1 types: asked for only so that such a manifest is recognised and refused by name, not misread. */
const SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+prettyjws', 'application/vnd.docker.distribution.manifest.v1+json'];
const ACCEPT = [MEDIA.dockerManifest, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.ociIndex, ...SCHEMA1].join(', ');
const LAYER_TYPES = new Set<string>([MEDIA.dockerLayer, MEDIA.ociLayer, MEDIA.ociLayerGzip]);
const CONFIG_TYPES = new Set<string>([MEDIA.dockerConfig, MEDIA.ociConfig]);

/** Attempts for a manifest, a token, a config or a layer: a cut connection, a timeout, a 5xx, 408 or 429. */
const ATTEMPTS = 3;
const MAX_MANIFEST = 4 << 20;
const MAX_CONFIG = 8 << 20;
const CONCURRENCY = 3;

function buildSchemas(z: typeof Zod) {
  const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256: followed by 64 hex digits');
  const descriptor = z.object({
    mediaType: z.string(),
    digest,
    size: z.number().int().nonnegative(),
    urls: z.array(z.string()).optional(),
    platform: z.object({ architecture: z.string(), os: z.string(), variant: z.string().optional() }).optional(),
  });
  return {
    index: z.object({ schemaVersion: z.literal(2), mediaType: z.string().optional(), manifests: z.array(descriptor) }),
    manifest: z.object({ schemaVersion: z.literal(2), mediaType: z.string().optional(), config: descriptor, layers: z.array(descriptor) }),
    token: z.object({ token: z.string().min(1).optional(), access_token: z.string().min(1).optional() }),
    errors: z.object({ errors: z.array(z.object({ code: z.string(), message: z.string().optional() })).min(1) }),
  };
}

type Schemas = ReturnType<typeof buildSchemas>;
type Descriptor = Zod.infer<Schemas['manifest']>['config'];
// zod is loaded when a docker image is pulled (about 70 ms), not when the fetcher is.
let schemas: Schemas | undefined;
async function loadSchemas(): Promise<Schemas> {
  schemas ??= buildSchemas((await import('zod')).z);
  return schemas;
}

/** appc's architecture names (and Docker's own) as a manifest list's `platform` says them. */
const ARCH: Record<string, { architecture: string; variant?: string }> = {
  amd64: { architecture: 'amd64' }, x86_64: { architecture: 'amd64' },
  i386: { architecture: '386' }, 386: { architecture: '386' },
  aarch64: { architecture: 'arm64' }, arm64: { architecture: 'arm64' },
  armv7l: { architecture: 'arm', variant: 'v7' }, armv6l: { architecture: 'arm', variant: 'v6' }, arm: { architecture: 'arm' },
  ppc64le: { architecture: 'ppc64le' }, ppc64: { architecture: 'ppc64' }, s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' }, mips64le: { architecture: 'mips64le' },
};

interface Doc {
  readonly status: number;
  readonly headers: HttpResponse['headers'];
  readonly url: URL;
  readonly body: Buffer;
}

interface Manifest {
  readonly digest: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** One pull's conversation with one registry: its base URL (https, or http when allowed and https fails) and authorization. */
class Session {
  private base: URL | undefined;
  private authorization: string | undefined;
  private credentialsUsed = false;
  /** The registry's bearer challenge and the credentials sent for it: what a token is renewed with. */
  private bearer: { params: Readonly<Record<string, string>>; creds: RegistryCredentials | undefined } | undefined;

  constructor(readonly ref: DockerRef, private readonly o: ResolveOptions, private readonly s: Schemas) {}

  private fail(code: FetchErrorCode, why: string, extra: { cause?: unknown; transient?: boolean } = {}): FetchError {
    return new FetchError(code, `${this.ref.raw}: ${why}`, { subject: this.ref.raw, ...extra });
  }

  private url(path: string): URL {
    if (this.base === undefined) throw new Error('registry session not started');
    return new URL(path, this.base);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.authorization === undefined ? {} : { authorization: this.authorization }), ...extra };
  }

  /**
   * `GET /v2/`, then what its 401 asks for: a bearer token from the realm (with auth.d's credentials for the
   * registry when it has some, anonymous otherwise), or basic credentials. https unless it fails and plain http
   * is allowed (`--insecure-options=http`), as docker treats an insecure registry.
   */
  async start(): Promise<void> {
    const allowHttp = this.o.http.options.allowHttp === true;
    let ping: Doc | undefined;
    let httpsError: unknown;
    for (const scheme of allowHttp ? ['https', 'http'] : ['https']) {
      this.base = new URL(`${scheme}://${this.ref.registry}/v2/`);
      try {
        ping = await this.get(this.base);
      } catch (err) {
        this.o.signal?.throwIfAborted();
        if (scheme === 'https' && allowHttp && codeOf(err) === 'FETCH_HTTP') {
          httpsError = err;
          continue;
        }
        const hint = scheme === 'https' && !allowHttp && /wrong version number|EPROTO|packet length too long/i.test(firstLine(err))
          ? ' (the registry may speak plain http: --insecure-options=http allows it)' : '';
        const attempts = isTransient(err) ? ` (after ${ATTEMPTS} attempts)` : '';
        // Over http too: both failures, the https one first (a certificate problem is the likelier story).
        const before = httpsError === undefined ? '' : `${firstLine(httpsError)}; over plain http: `;
        throw this.fail(codeOf(err), `${before}${firstLine(err)}${hint}${attempts}`, { cause: err, transient: isTransient(err) });
      }
      // An https server asked in plain http says so with a 400: its https failure is the one to report.
      if (scheme === 'http' && httpsError !== undefined && ping.status === 400) {
        throw this.fail(codeOf(httpsError), firstLine(httpsError), { cause: httpsError });
      }
      break;
    }
    if (ping === undefined) throw this.fail('FETCH_HTTP', `${this.ref.registry} answers neither https nor http`);
    if (ping.status === 200) return;
    if (ping.status === 404) throw this.fail('FETCH_REGISTRY', `${ping.url.href} answered 404: ${this.ref.registry} does not serve the Docker registry API v2`);
    if (ping.status !== 401) throw this.statusError(ping);
    const challenge = parseChallenge(ping.headers['www-authenticate']);
    const creds = this.o.credentials?.(this.ref.registry);
    if (challenge?.scheme === 'basic') {
      if (creds === undefined) {
        throw this.fail('FETCH_AUTH', `${this.ref.registry} requires a user name and password: none configured (add a dockerAuth entry for ${this.ref.registry} in auth.d)`);
      }
      this.authorization = basic(creds);
      this.credentialsUsed = true;
      return;
    }
    if (challenge?.scheme !== 'bearer' || challenge.params.realm === undefined) {
      throw this.fail('FETCH_AUTH', `${ping.url.href} answered 401 with no usable WWW-Authenticate (${JSON.stringify(ping.headers['www-authenticate'] ?? '')})`);
    }
    this.bearer = { params: challenge.params, creds };
    await this.token(challenge.params, creds);
  }

  /**
   * After a 401 with a bearer token: a new token, once per request. Tokens are short-lived (Docker Hub's last
   * 5 minutes) and a pull of large layers outlasts one. False when there is nothing to renew.
   */
  private async renewToken(): Promise<boolean> {
    if (this.bearer === undefined) return false;
    await this.token(this.bearer.params, this.bearer.creds);
    return true;
  }

  /** A bearer token for pulling this repository, from the realm the registry named (OAuth2 "token" or "access_token"). */
  private async token(params: Readonly<Record<string, string>>, creds: RegistryCredentials | undefined): Promise<void> {
    let realm: URL;
    try {
      realm = new URL(params.realm ?? '');
    } catch {
      throw this.fail('FETCH_AUTH', `the registry's token realm ${JSON.stringify(params.realm)} is not a URL`);
    }
    if (params.service !== undefined) realm.searchParams.set('service', params.service);
    realm.searchParams.append('scope', `repository:${this.ref.repository}:pull`);
    if (params.scope !== undefined && params.scope !== `repository:${this.ref.repository}:pull`) realm.searchParams.append('scope', params.scope);
    let doc: Doc;
    try {
      doc = await this.get(realm, creds === undefined ? {} : { authorization: basic(creds) }, 1 << 20);
    } catch (err) {
      this.o.signal?.throwIfAborted();
      const code = codeOf(err);
      throw this.fail(code === 'FETCH_HTTP' ? 'FETCH_AUTH' : code, `token server: ${firstLine(err)}`, { cause: err, transient: isTransient(err) });
    }
    if (doc.status === 401 || doc.status === 403) {
      throw this.fail('FETCH_AUTH', creds === undefined
        ? `the token server ${realm.origin}${realm.pathname} refused an anonymous token (${doc.status}): ${this.ref.registry} needs credentials (add a dockerAuth entry for it in auth.d)`
        : `the token server ${realm.origin}${realm.pathname} refused the credentials auth.d gives for ${this.ref.registry} (${doc.status})`);
    }
    if (doc.status !== 200) throw this.statusError(doc, `token server ${realm.origin}${realm.pathname}`);
    let parsed: ReturnType<Schemas['token']['safeParse']>;
    try {
      parsed = this.s.token.safeParse(JSON.parse(doc.body.toString('utf8')));
    } catch {
      throw this.fail('FETCH_AUTH', `the token server ${realm.origin}${realm.pathname} answered something other than JSON`);
    }
    const token = parsed.success ? (parsed.data.token ?? parsed.data.access_token) : undefined;
    if (token === undefined) throw this.fail('FETCH_AUTH', `the token server ${realm.origin}${realm.pathname} answered no token`);
    this.authorization = `Bearer ${token}`;
    this.credentialsUsed = creds !== undefined;
  }

  /**
   * GET a small document (up to `maxBytes`), asking again after what could change (a cut, a timeout, a 5xx,
   * 408 or 429, after its Retry-After). Other statuses are the caller's to judge.
   */
  private async get(url: URL, headers: Record<string, string> = this.headers(), maxBytes = MAX_MANIFEST): Promise<Doc> {
    for (let attempt = 1; ; attempt++) {
      this.o.signal?.throwIfAborted();
      let doc: Doc;
      try {
        doc = await this.getOnce(url, headers, maxBytes);
      } catch (err) {
        // Aborted while waiting for the response or reading it: the pull ends with the signal's reason.
        this.o.signal?.throwIfAborted();
        if (!isTransient(err) || attempt >= ATTEMPTS) throw err;
        await pauseBeforeRetry(attempt, ATTEMPTS);
        continue;
      }
      if (!isTransientStatus(doc.status) || attempt >= ATTEMPTS) return doc;
      await pauseBeforeRetry(attempt, ATTEMPTS, retryAfterOf(doc, doc.url));
    }
  }

  private async getOnce(url: URL, headers: Record<string, string>, maxBytes: number): Promise<Doc> {
    const res = await this.o.http.get(url, headers, this.o.signal);
    const chunks: Buffer[] = [];
    let size = 0;
    const abort = () => res.body.destroy(new Error('aborted by the caller'));
    this.o.signal?.addEventListener('abort', abort);
    try {
      await eachChunk(res.body, (chunk) => {
        size += chunk.length;
        if (size > maxBytes) throw new FetchError('FETCH_HTTP', `${res.url.href}: response larger than ${maxBytes} bytes`, { subject: url.href });
        chunks.push(chunk);
        return undefined;
      });
    } catch (err) {
      res.body.destroy();
      this.o.signal?.throwIfAborted();
      const why = bodyFailure(err, size, undefined);
      if (why instanceof FetchError) throw why;
      throw new FetchError('FETCH_HTTP', `${res.url.href}: ${firstLine(why)}`, { subject: url.href, cause: err, transient: isTransient(why) });
    } finally {
      this.o.signal?.removeEventListener('abort', abort);
    }
    return { status: res.status, headers: res.headers, url: res.url, body: Buffer.concat(chunks) };
  }

  /** A non-2xx answer in one line: the registry's own error codes when its body has them. */
  statusError(doc: Doc, what?: string, about?: string): FetchError {
    let said: string | undefined;
    try {
      const parsed = this.s.errors.safeParse(JSON.parse(doc.body.toString('utf8')));
      // One line, whatever the registry's messages hold.
      if (parsed.success) said = parsed.data.errors.map((e) => `${e.code}${e.message === undefined ? '' : `: ${e.message}`}`).join('; ').replace(/\s+/g, ' ').slice(0, 500);
    } catch {
      // Not JSON: the status says it.
    }
    const base = (about === undefined ? '' : `${about}: `) + (said === undefined
      ? `${what ?? doc.url.href}: bad HTTP status code: ${doc.status}`
      : `${what === undefined ? 'the registry' : what} says ${said}`);
    if (doc.status === 401 || doc.status === 403) {
      return this.fail('FETCH_AUTH', `${base} (${this.credentialsUsed
        ? `${this.ref.registry} refused the credentials auth.d gives for it`
        : `the repository does not exist, or ${this.ref.registry} needs credentials: add a dockerAuth entry for it in auth.d`})`);
    }
    if (doc.status === 429) return this.fail('FETCH_REGISTRY', `${base} (too many requests: the registry's rate limit; try again later)`, { transient: true });
    return this.fail(doc.status >= 500 ? 'FETCH_HTTP' : 'FETCH_REGISTRY', base, { transient: isTransientStatus(doc.status) });
  }

  /** A manifest or index by tag or digest, parsed; one fetched by digest must have that digest. */
  async manifestOrIndex(reference: string): Promise<{ digest: string; index?: Zod.infer<Schemas['index']>; manifest?: Manifest }> {
    const doc = await this.getMapped(this.url(`${this.ref.repository}/manifests/${reference}`), { accept: ACCEPT });
    if (doc.status !== 200) throw this.statusError(doc);
    const digest = sha256(doc.body);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw this.fail('FETCH_MISMATCH', `manifest ${reference} does not match its digest (the registry sent one with digest ${digest})`);
    }
    // By tag, the registry's own word for the digest is all there is to check against.
    const said = doc.headers['docker-content-digest'];
    if (typeof said === 'string' && said.startsWith('sha256:') && said !== digest) {
      throw this.fail('FETCH_MISMATCH', `the manifest for ${reference} does not match the digest the registry gives for it (${said}; the bytes sent have ${digest})`);
    }
    let json: unknown;
    try {
      json = JSON.parse(doc.body.toString('utf8'));
    } catch {
      throw this.fail('FETCH_REGISTRY', `the manifest for ${reference} is not JSON`);
    }
    const header = String(doc.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
    const obj = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
    const mediaType = typeof obj.mediaType === 'string' ? obj.mediaType : header;
    if (obj.schemaVersion === 1 || SCHEMA1.includes(mediaType)) {
      throw this.fail('FETCH_UNSUPPORTED', `${reference} has a Docker schema 1 manifest, obsolete since 2017 and not supported: push the image again with a current docker`);
    }
    const isIndex = mediaType === MEDIA.dockerList || mediaType === MEDIA.ociIndex || (mediaType === '' && Array.isArray(obj.manifests));
    const isManifest = mediaType === MEDIA.dockerManifest || mediaType === MEDIA.ociManifest || (mediaType === '' && obj.config !== undefined);
    if (!isIndex && !isManifest) throw this.fail('FETCH_UNSUPPORTED', `${reference} is not a container image manifest (media type ${JSON.stringify(mediaType)})`);
    const parsed = (isIndex ? this.s.index : this.s.manifest).safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw this.fail('FETCH_REGISTRY', `the ${isIndex ? 'manifest list' : 'manifest'} for ${reference} is malformed: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
    }
    if (isIndex) return { digest, index: parsed.data as Zod.infer<Schemas['index']> };
    const m = parsed.data as Zod.infer<Schemas['manifest']>;
    return { digest, manifest: { digest, config: m.config, layers: m.layers } };
  }

  /** A request whose transport failure is said with the image it was for. */
  private async getMapped(url: URL, extra: Record<string, string>, maxBytes = MAX_MANIFEST): Promise<Doc> {
    try {
      const doc = await this.get(url, this.headers(extra), maxBytes);
      if (doc.status !== 401 || !(await this.renewToken())) return doc;
      return await this.get(url, this.headers(extra), maxBytes);
    } catch (err) {
      if (err instanceof FetchError && err.subject === this.ref.raw) throw err;
      if (this.o.signal?.aborted === true) throw err;
      // get() asked again after a transient failure: that one failed every time.
      throw this.fail(codeOf(err), `${firstLine(err)}${isTransient(err) ? ` (after ${ATTEMPTS} attempts)` : ''}`, { cause: err, transient: isTransient(err) });
    }
  }

  /**
   * The image manifest for the wanted platform: the reference's own, or its entry in a manifest list;
   * `referenceDigest` is the digest of what the reference names (the list's, when it is one).
   */
  async platformManifest(): Promise<{ digest: string; referenceDigest: string; manifest?: Manifest }> {
    const first = await this.manifestOrIndex(manifestReference(this.ref));
    if (first.index === undefined) return { ...first, referenceDigest: first.digest };
    return { digest: this.choose(first.index.manifests), referenceDigest: first.digest };
  }

  /**
   * The digest the registry gives in answer to a HEAD of the manifest `reference` (`Docker-Content-Digest`), and
   * its media type; undefined when it answers HEAD with anything else (405 or 501 from a registry without HEAD,
   * a 200 without the header, a failure): the caller then GETs it, as containerd's resolver does. Docker Hub
   * counts a manifest's GET against its pull rate limit, not its HEAD.
   */
  async headManifest(reference: string): Promise<{ digest: string; mediaType: string } | undefined> {
    const url = this.url(`${this.ref.repository}/manifests/${reference}`);
    for (let renewed = false; ; renewed = true) {
      this.o.signal?.throwIfAborted();
      let res: HttpResponse;
      try {
        res = await this.o.http.head(url, this.headers({ accept: ACCEPT }), this.o.signal);
      } catch {
        // The GET, with its attempts, says what is wrong if anything still is.
        this.o.signal?.throwIfAborted();
        return undefined;
      }
      if (res.status === 401 && !renewed && (await this.renewToken())) continue;
      const said = res.headers['docker-content-digest'];
      if (res.status !== 200 || typeof said !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(said)) return undefined;
      return { digest: said, mediaType: String(res.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '' };
    }
  }

  choose(entries: readonly Descriptor[]): string {
    const want = ARCH[this.o.arch] ?? { architecture: this.o.arch };
    const candidates = entries.filter((e) => e.platform !== undefined && e.platform.os === this.o.os && e.platform.architecture === want.architecture
      && (e.mediaType === MEDIA.dockerManifest || e.mediaType === MEDIA.ociManifest));
    // An exact variant first; then one with no variant said (or arm64's only one, v8).
    const pick = candidates.find((e) => want.variant !== undefined && e.platform?.variant === want.variant)
      ?? candidates.find((e) => e.platform?.variant === undefined || (want.architecture === 'arm64' && e.platform.variant === 'v8'));
    if (pick !== undefined) return pick.digest;
    // Attestations and other artifacts in an index are "unknown/unknown": not images anyone could run.
    const has = entries.filter((e) => e.platform !== undefined && e.platform.os !== 'unknown')
      .map((e) => [e.platform?.os, e.platform?.architecture, e.platform?.variant].filter((x) => x !== undefined).join('/'));
    const wanted = [this.o.os, want.architecture, want.variant].filter((x) => x !== undefined).join('/');
    throw this.fail('FETCH_REGISTRY', `the manifest list has no image for ${wanted} (it has ${has.length === 0 ? 'no platforms' : has.join(', ')})`);
  }

  async configBlob(d: Descriptor): Promise<Record<string, unknown>> {
    if (!CONFIG_TYPES.has(d.mediaType)) {
      throw this.fail('FETCH_UNSUPPORTED', `not a container image: its config has media type ${JSON.stringify(d.mediaType)}`);
    }
    const doc = await this.getMapped(this.url(`${this.ref.repository}/blobs/${d.digest}`), {}, MAX_CONFIG);
    if (doc.status !== 200) throw this.statusError(doc, undefined, `image config ${d.digest}`);
    const got = sha256(doc.body);
    if (got !== d.digest) throw this.fail('FETCH_MISMATCH', `image config ${d.digest} does not match its digest (got ${got})`);
    let json: unknown;
    try {
      json = JSON.parse(doc.body.toString('utf8'));
    } catch {
      throw this.fail('FETCH_REGISTRY', `image config ${d.digest} is not JSON`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw this.fail('FETCH_REGISTRY', `image config ${d.digest} is not a JSON object`);
    return json as Record<string, unknown>;
  }

  /**
   * Streams a layer to `dir` as a plain tar (a temp name, renamed once its size and sha256 match), following
   * redirects to the registry's storage; the tar's sha256 (its diff_id) is returned for the caller to check. A
   * cut, a stall or a 5xx is asked again, up to ATTEMPTS in all: a body cut after some bytes continues with
   * `Range: bytes=N-` when the registry answered with the blob's length and does not refuse ranges, the rest
   * going through the same digest and inflate (a 206 whose Content-Range starts at N and names the blob's size;
   * anything else starts over). `signal`: the pull's, or a sibling layer's failure.
   */
  async layerBlob(d: Descriptor, dir: string, bar: () => Progress, signal: AbortSignal, partialDir?: string): Promise<{ path: string; diffId: string }> {
    const hex = d.digest.slice('sha256:'.length);
    const final = join(dir, `sha256-${hex}.tar`);
    const url = this.url(`${this.ref.repository}/blobs/${d.digest}`);
    const refuse = (compression: string) =>
      this.fail('FETCH_UNSUPPORTED', `layer ${d.digest} is ${compression}-compressed: not supported (gzip or uncompressed layers are)`);
    // The blob's bytes as served, kept for a later process when this one is cut off or killed.
    const part = partialDir === undefined ? undefined : await PartialLayer.claim(partialDir, d.digest);
    const fresh = () => LayerBody.open(join(dir, `.sha256-${hex}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`), refuse,
      part === undefined ? undefined : (chunk) => part.write(chunk));
    let body: LayerBody | undefined;
    /** What arrived so far goes: the next response starts from the blob's first byte. */
    const startOver = async () => {
      await body?.close(true);
      body = undefined;
      await part?.truncate();
    };
    /** Whether what `body` holds may be continued: the last answer gave the blob's length and did not refuse ranges. */
    let resumable = false;
    /** Bytes an earlier process left: if the blob then fails its digest, they may be the damaged part (once). */
    let fromPart = 0;
    let renewed = false;
    let progress: Progress | undefined;
    let done = false;
    let failure: unknown;
    try {
      if (part !== undefined && part.size > 0 && part.size < d.size) {
        body = await fresh();
        for await (const chunk of part.read()) await body.write(chunk, false);
        fromPart = body.received;
        resumable = true;
      } else if (part !== undefined && part.size > 0) {
        await part.truncate();
      }
      for (let attempt = 1; ; attempt++) {
        signal.throwIfAborted();
        if (body !== undefined && (!resumable || body.received === 0)) await startOver();
        const at = body?.received ?? 0;
        let res: HttpResponse | undefined;
        try {
          res = await this.o.http.get(url, this.headers(at > 0 ? { range: `bytes=${at}-` } : {}), signal);
          if (res.status !== 200 && res.status !== 206) {
            const small = await readSmall(res);
            const doc = { status: res.status, headers: res.headers, url: res.url, body: small };
            if (res.status === 401 && !renewed && (await this.renewToken())) {
              renewed = true;
              attempt--;
              continue;
            }
            if (res.status === 416 && at > 0) {
              // The range does not fit the blob as served now: from the start.
              resumable = false;
              continue;
            }
            if (isTransientStatus(res.status) && attempt < ATTEMPTS) {
              await pauseBeforeRetry(attempt, ATTEMPTS, retryAfterOf(doc, res.url));
              continue;
            }
            throw this.statusError(doc, undefined, `layer ${d.digest}`);
          }
          const length = contentLength(res.headers);
          const range = res.status === 206 ? contentRange(res.headers['content-range']) : undefined;
          if (at > 0 && (res.status !== 206 || range?.start !== at || range.total !== d.size)) {
            // Not the rest asked for (a 200 with the whole blob, another range): what arrived so far is dropped.
            await startOver();
            fromPart = 0;
            if (res.status !== 200) {
              res.body.destroy();
              resumable = false;
              continue;
            }
          }
          resumable = res.headers['accept-ranges'] !== 'none' && length === d.size - (body?.received ?? 0);
          body ??= await fresh();
          progress ??= bar();
          const diffId = await this.stream(res, d, body, progress, signal);
          await rename(body.tmp, final);
          done = true;
          return { path: final, diffId };
        } catch (err) {
          res?.body.destroy();
          signal.throwIfAborted();
          if (fromPart > 0 && err instanceof FetchError && err.code === 'FETCH_MISMATCH') {
            // The bytes an earlier process left may be what is wrong (a part is not synced: a power cut can
            // damage it): the blob once more from its start before saying the registry's copy is bad.
            fromPart = 0;
            resumable = false;
            attempt--;
            continue;
          }
          if (err instanceof FetchError && err.subject === this.ref.raw) throw err;
          if (isTransient(err) && attempt < ATTEMPTS) {
            await pauseBeforeRetry(attempt, ATTEMPTS);
            continue;
          }
          const reason = firstLine(err);
          throw this.fail(codeOf(err),
            `layer ${d.digest}: ${reason}${isTransient(err) ? ` (after ${ATTEMPTS} attempts)` : ''}`, { cause: err, transient: isTransient(err) });
        }
      }
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      progress?.done();
      // An interrupted download (a cut or stall every time, Ctrl-C, a sibling layer's failure) is worth resuming;
      // a refused or corrupt one is not.
      const keep = !done && (body?.received ?? 0) > 0 && (signal.aborted || isTransient(failure));
      await body?.close(!done);
      await part?.release(keep);
    }
  }

  /**
   * One response's body into `body`: the blob's size and, at its end, its digest checked; then the tar's sha256
   * (its diff_id), once the file has every byte.
   */
  private async stream(res: HttpResponse, d: Descriptor, body: LayerBody, progress: Progress, signal: AbortSignal): Promise<string> {
    // The response may have come after a sibling layer failed: its abort event is gone.
    signal.throwIfAborted();
    const abort = () => res.body.destroy(new Error('aborted by the caller'));
    signal.addEventListener('abort', abort);
    const file = { path: body.tmp, digest: d.digest, mediaType: d.mediaType };
    try {
      try {
        await eachChunk(res.body, (chunk) => {
          if (body.received + chunk.length > d.size) throw this.fail('FETCH_MISMATCH', `layer ${d.digest}: the registry sent more than its ${d.size} bytes`);
          const wait = body.write(chunk);
          progress.update(body.received);
          return wait;
        });
      } catch (err) {
        throw bodyFailure(err, body.received, d.size);
      }
      if (body.received < d.size) throw new EarlyClose(body.received, d.size);
      const got = body.digest();
      if (got !== d.digest) {
        throw this.fail('FETCH_MISMATCH', `layer ${d.digest} does not match its digest (the registry sent ${d.size} bytes with digest ${got}): its copy is corrupt or was tampered with`);
      }
    } finally {
      signal.removeEventListener('abort', abort);
    }
    try {
      return await body.end();
    } catch (err) {
      if (err instanceof FetchError && err.subject === this.ref.raw) throw err;
      // The blob is the one the manifest names, yet not a gzip'd tar: no retry would change that.
      const failure = layerFailure(file, err);
      throw failure instanceof FetchError ? this.fail(failure.code, failure.message) : failure;
    }
  }
}

/** `bytes START-END/TOTAL` (TOTAL may be `*`): where a 206's body starts and the whole blob's size. */
function contentRange(v: string | undefined): { start: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v ?? '');
  if (m === null) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

async function readSmall(res: HttpResponse, max = 64 << 10): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of res.body) {
      const b = c as Buffer;
      if (size + b.length > max) break;
      size += b.length;
      chunks.push(b);
    }
  } catch {
    // What arrived is enough to say the status.
  }
  res.body.destroy();
  return Buffer.concat(chunks);
}

/** A client's error keeps its code (FETCH_INSECURE for plain http refused, FETCH_IO); anything else is FETCH_HTTP. */
function codeOf(err: unknown): FetchErrorCode {
  return err instanceof FetchError ? err.code : 'FETCH_HTTP';
}

function basic(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;
}

/** `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`: the scheme (lowercase) and its parameters. */
export function parseChallenge(header: string | string[] | undefined): { scheme: string; params: Record<string, string> } | undefined {
  const value = Array.isArray(header) ? header.find((h) => /^bearer\s/i.test(h)) ?? header[0] : header;
  if (value === undefined) return undefined;
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/.exec(value);
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2] ?? '';
  let p: RegExpExecArray | null;
  while ((p = re.exec(rest)) !== null && p[0] !== '') {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/**
 * The digest of the image manifest a pull of `ref` would use, from one manifest request (after the ping and
 * token): with it, `--pull-policy=update` can tell an unchanged image without downloading a layer.
 */
export async function resolveManifestDigest(ref: DockerRef, o: ResolveOptions): Promise<string> {
  const session = new Session(ref, o, await loadSchemas());
  await session.start();
  return (await session.platformManifest()).digest;
}

export interface ManifestCheck {
  /** Whether one of the digests known still names the image for this platform. */
  readonly current: boolean;
  /**
   * The digests that name it now, for the record: the reference's, and its platform entry's when it is a manifest
   * list (the known ones again when the HEAD matched one). After a HEAD alone (a changed image manifest), its digest.
   */
  readonly digests: readonly string[];
  /** How the registry was asked: a HEAD alone, or a GET (HEAD refused, without a digest, or a list to look into). */
  readonly asked: 'HEAD' | 'GET';
}

/**
 * Whether `ref` still names the image pulled when it had one of the digests `known` (`PulledImage.referenceDigest`
 * and `manifestDigest`; an earlier build recorded the latter alone): for `--pull-policy=update`. A HEAD of the
 * manifest first, its `Docker-Content-Digest` compared (no GET, so no pull counted by Docker Hub's rate limit);
 * a registry that refuses HEAD or answers it without the digest is asked with a GET, as is a manifest list the
 * HEAD does not match (its platform entry may still be the one known).
 */
export async function checkManifest(ref: DockerRef, o: ResolveOptions, known: readonly string[]): Promise<ManifestCheck> {
  const session = new Session(ref, o, await loadSchemas());
  await session.start();
  const reference = manifestReference(ref);
  const head = await session.headManifest(reference);
  if (head !== undefined && known.includes(head.digest)) return { current: true, digests: known, asked: 'HEAD' };
  if (head !== undefined && head.mediaType !== MEDIA.dockerList && head.mediaType !== MEDIA.ociIndex) {
    return { current: false, digests: [head.digest], asked: 'HEAD' };
  }
  const first = await session.manifestOrIndex(reference);
  const platform = first.index === undefined ? first.digest : session.choose(first.index.manifests);
  const digests = platform === first.digest ? [first.digest] : [first.digest, platform];
  return { current: digests.some((d) => known.includes(d)), digests, asked: 'GET' };
}

/**
 * Pulls `ref` for `o.os`/`o.arch`: its image manifest (chosen from a manifest list or OCI index), its config
 * and its layers into `o.dir` as plain tars (up to `o.concurrency` at once), every one checked against its digest
 * and its diff_id. On failure the files it wrote are removed.
 */
export async function pullDockerImage(ref: DockerRef, o: PullOptions): Promise<PulledImage> {
  const session = new Session(ref, o, await loadSchemas());
  await session.start();
  const chosen = await session.platformManifest();
  const manifest = chosen.manifest ?? (await session.manifestOrIndex(chosen.digest)).manifest;
  if (manifest === undefined) {
    throw new FetchError('FETCH_UNSUPPORTED', `${ref.raw}: the manifest list's entry ${chosen.digest} is itself a manifest list`, { subject: ref.raw });
  }
  // Every layer is judged before any is downloaded.
  for (const l of manifest.layers) {
    const why = l.mediaType.includes('foreign') || l.mediaType.includes('nondistributable')
      ? 'a non-distributable (foreign) layer, served from elsewhere than the registry (Windows base layers): not supported'
      : l.mediaType.endsWith('+zstd') ? 'a zstd-compressed layer: not supported (gzip or uncompressed layers are)'
        : LAYER_TYPES.has(l.mediaType) ? undefined : `a layer of unsupported media type ${JSON.stringify(l.mediaType)}`;
    if (why !== undefined) throw new FetchError('FETCH_UNSUPPORTED', `${ref.raw}: layer ${l.digest} is ${why}`, { subject: ref.raw });
  }
  const config = await session.configBlob(manifest.config);
  const diffIds = configDiffIds(ref, manifest.config.digest, config, manifest.layers.length);
  // A blob named twice in the manifest is downloaded once.
  const unique = manifest.layers.filter((l, i) => manifest.layers.findIndex((m) => m.digest === l.digest) === i);
  const got = new Map<string, { path: string; diffId: string }>();
  const written: string[] = [];
  // A failed layer stops its siblings: their downloads are cut and their files removed.
  const stop = new AbortController();
  const signal = o.signal === undefined ? stop.signal : AbortSignal.any([o.signal, stop.signal]);
  const board = createProgressBoard(o.progress);
  let failure: { err: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (failure === undefined && next < unique.length) {
      const l = unique[next++]!;
      const i = manifest.layers.indexOf(l);
      let bar: Progress | undefined;
      const label = `Downloading layer ${i + 1}/${manifest.layers.length} ${l.digest.slice(7, 19)}`;
      try {
        const layer = await session.layerBlob(l, o.dir, () => (bar ??= board.line(label, l.size, i)), signal, o.partialDir);
        written.push(layer.path);
        manifest.layers.forEach((m, j) => {
          if (m.digest === l.digest && diffIds[j] !== layer.diffId) {
            throw new FetchError('FETCH_MISMATCH', `${ref.raw}: layer ${l.digest} does not match the image config's diff_id ${diffIds[j]} (its uncompressed tar has digest ${layer.diffId})`, { subject: ref.raw });
          }
        });
        got.set(l.digest, layer);
      } catch (err) {
        if (failure === undefined) {
          failure = { err };
          stop.abort(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency ?? CONCURRENCY, unique.length)) }, worker));
  if (failure !== undefined) {
    await Promise.all(written.map((p) => rm(p, { force: true })));
    throw failure.err;
  }
  const layers = manifest.layers.map((l, i): PulledLayer => ({
    path: got.get(l.digest)!.path, mediaType: MEDIA.ociLayer, servedMediaType: l.mediaType, digest: l.digest, size: l.size, diffId: diffIds[i]!,
  }));
  return { ref, manifestDigest: manifest.digest, referenceDigest: chosen.referenceDigest, configDigest: manifest.config.digest, config, layers };
}

/** The config's `rootfs.diff_ids`, one per layer, as docker requires before it downloads anything. */
function configDiffIds(ref: DockerRef, digest: string, config: Record<string, unknown>, layers: number): readonly string[] {
  const rootfs = config.rootfs as { diff_ids?: unknown } | undefined;
  const ids = typeof rootfs === 'object' && rootfs !== null && Array.isArray(rootfs.diff_ids) ? (rootfs.diff_ids as unknown[]) : undefined;
  const bad = ids?.findIndex((x) => typeof x !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(x));
  if (ids === undefined || bad !== -1 || ids.length !== layers) {
    const why = ids === undefined ? 'has no rootfs.diff_ids'
      : bad !== -1 ? `has a malformed rootfs.diff_ids[${bad}] (${JSON.stringify(ids[bad!])})`
        : `has ${ids.length} rootfs.diff_ids for the manifest's ${layers} layers`;
    throw new FetchError('FETCH_REGISTRY', `${ref.raw}: image config ${digest} ${why}`, { subject: ref.raw });
  }
  return ids as string[];
}

