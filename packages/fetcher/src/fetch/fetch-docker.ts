import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { uniqueName } from '@rkt/image-store';
import { dockerToAci, readerStopped } from '../docker/convert.js';
import type { DockerRef } from '../docker/docker-ref.js';
import { checkManifest, pullDockerImage } from '../docker/registry.js';
import { readDockerAuthConfig } from '../config/auth.js';
import { FetchError } from '../errors.js';
import { hostLabels } from '../image-string.js';
import { configDirs, type FetchContext } from './context.js';
import type { RemoteResult } from './fetch-remote.js';
import { importChecked } from './import-checked.js';

/**
 * The key of a Docker image's remote record: the reference spelled out in full (registry, repository, tag or
 * digest), so that `docker://busybox` and `docker://registry-1.docker.io/library/busybox:latest` are one image.
 */
export function dockerRemoteKey(ref: DockerRef): string {
  const at = ref.digest !== undefined ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`;
  return `docker://${ref.registry}/${ref.repository}${at}`;
}

/**
 * A Docker image (`docker://...`), as rkt fetched one: pulled from its registry, converted into one squashed ACI
 * (docker2aci's conversion), and imported. Docker images carry no signature rkt could check, so, as rkt, this
 * needs `--insecure-options=image`. The remote record (the manifest's digest as its ETag) lets the `new` policy
 * use the stored image without asking the registry, and `update` skip every layer when the manifest did not change.
 */
export async function fetchDocker(ctx: FetchContext, ref: DockerRef, o: { extract?: boolean } = {}): Promise<RemoteResult> {
  if (!ctx.insecure.skipImageCheck) {
    throw new FetchError('FETCH_SIGNATURE', `${ref.raw}: signature verification for docker images is not supported (try --insecure-options=image)`, { subject: ref.raw });
  }
  ctx.warn('warning: image signature verification has been disabled (--insecure-options=image)');
  const key = dockerRemoteKey(ref);
  const rec = await ctx.store.getRemote(key);
  // Held from here: a registry that confirms the digest must still find the image it confirms.
  const cached = rec !== undefined && (await ctx.hold.addIfStored(rec.imageId)) ? rec : undefined;
  // A digest names one image for good: the stored one is it, whatever the policy.
  if (cached !== undefined && (ctx.pullPolicy !== 'update' || ref.digest !== undefined)) {
    return { id: cached.imageId, downloaded: false, signedBy: undefined };
  }
  if (ctx.pullPolicy === 'never') {
    throw new FetchError('FETCH_NOT_FOUND', `${ref.raw}: not in the store and the pull policy is "never"`, { subject: ref.raw });
  }
  const host = hostLabels();
  // auth.d's dockerAuth files: read only for a docker pull (the HTTP client took the same files' `auth` kind).
  const auth = await readDockerAuthConfig(configDirs(ctx.options));
  const registryOptions = { http: ctx.http, credentials: (registry: string) => auth.forRegistry(registry), os: host.os, arch: host.arch };
  if (cached !== undefined && cached.etag !== undefined) {
    // A HEAD of the manifest when the registry answers one with its digest: no pull counted by a rate limit.
    const check = await checkManifest(ref, registryOptions, cached.etag.split(' '));
    if (check.current) {
      await ctx.store.putRemote({ url: key, imageId: cached.imageId, etag: check.digests.join(' ') });
      return { id: cached.imageId, downloaded: false, signedBy: undefined };
    }
  }
  // In the store's tmp, named after this process: a pull killed part way leaves a directory that image gc
  // removes once its owner is gone (layers can be hundreds of MB).
  const dir = join(ctx.store.layout.tmp, uniqueName('docker'));
  await mkdir(dir, { recursive: true });
  try {
    // Each layer's bytes as served are kept in the store's tmp/partial while they arrive: a pull cut off, stopped
    // or killed is resumed from there by the next one (image gc removes a partial nobody wrote for a week).
    const pulled = await pullDockerImage(ref, {
      ...registryOptions, dir, partialDir: ctx.store.layout.partial, ...(ctx.stderr !== undefined ? { progress: ctx.stderr } : {}),
    });
    // The conversion streams straight into the store's import (hash, layout rules, blob, early extraction):
    // no ACI file written, synced and read back. The bytes are the ones a file would hold, so is the image ID.
    const pass = new PassThrough({ highWaterMark: 4 << 20 });
    // The import reads `pass` once it has loaded its parser; a failure before that (or after it stopped) must
    // not be an uncaught 'error'. Both sides report their failures through their promises.
    pass.on('error', () => undefined);
    let first: 'convert' | 'import' | undefined;
    const importing = importChecked(ctx, pass, ref.raw, {
      // As rkt: the `latest` tag makes the image the latest of its name.
      latest: ref.digest === undefined && (ref.tag ?? 'latest') === 'latest',
      // The digests that name the image: what the reference names (a manifest list's, when it is one), then the
      // platform's manifest; a HEAD of the reference tells the first unchanged without a GET.
      remote: { url: key, etag: [...new Set([pulled.referenceDigest, pulled.manifestDigest])].join(' ') },
      hold: ctx.hold,
      extract: o.extract === true,
    }, async () => undefined).then((r) => {
      // The scan ends at the tar's end-of-archive blocks, which the converter writes last: whatever it still
      // has in flight is read and dropped, so that it never waits for a drain.
      pass.resume();
      return r;
    }, (err: unknown) => {
      first ??= 'import';
      // The converter, waiting for a drain that will not come, fails on the closed stream.
      pass.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    });
    const converting = dockerToAci({
      registry: ref.registry,
      repository: ref.repository,
      ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
      ...(ref.digest !== undefined ? { digest: ref.digest } : {}),
      manifestDigest: pulled.manifestDigest,
      configDigest: pulled.configDigest,
      config: pulled.config,
      layers: pulled.layers,
      originalName: ref.raw.replace(/^docker:\/\//i, ''),
      // Each layer goes once converted: the disk holds less at once.
    }, pass, { removeLayers: true }).catch((err: unknown) => {
      // dockerToAci destroyed `pass` with this error: the import fails too, and stores nothing. Unless the
      // import stopped reading first (it refused the archive): then its failure is the one to tell.
      if (!readerStopped(err)) first ??= 'convert';
      throw err;
    });
    const [converted, imported] = await Promise.allSettled([converting, importing]);
    // The first failure is the story: the other side's is only its consequence (a closed stream).
    if (first === 'convert' && converted.status === 'rejected') throw converted.reason;
    if (imported.status === 'rejected') throw imported.reason;
    if (converted.status === 'rejected') {
      // Cannot be: the import ended the scan only on the tar's end, which the converter writes last. Said all
      // the same, and the image it stored is undone by the fetch's rollback (it is in the hold).
      if (imported.value.extracted !== undefined) await rm(imported.value.extracted, { recursive: true, force: true });
      throw converted.reason;
    }
    return { id: imported.value.id, downloaded: true, signedBy: undefined, extracted: imported.value.extracted };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
