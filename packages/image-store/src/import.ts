import { mkdir, open, readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { AciScan, Compression, TarEntry } from '@rkt/appc-spec';
import { readStoreManifest } from './aci/manifest.js';
import { fromAppcError, isErrno } from './errors.js';
import { DirectFileWriter, directWriteStream } from './direct-write.js';
import { EarlyExtraction } from './early-extract.js';
import { fsyncDir, removeTree } from './fsutil.js';
import type { ImageHold } from './hold.js';
import { withIndex, type IndexTx } from './index-db.js';
import { imageDir, type Layout } from './layout.js';
import { ownerAlive, uniqueName } from './owner.js';
import type { ImageRecord, Label } from './records.js';
import type { StoreContext } from './context.js';

/** What `importAci` accepts: a file path, a Node stream, or any async iterable of bytes. */
export type AciInput = string | Readable | AsyncIterable<Uint8Array>;

export interface ImportOptions {
  /** Name of the input in error messages (defaults to the path, or "ACI stream"). */
  readonly source?: string;
  /** Mark the image as the latest of its name (the fetcher sets this when no version was asked for). */
  readonly latest?: boolean;
  /** Record where the image came from, atomically with the image (for the fetcher's cache). */
  readonly remote?: {
    readonly url: string;
    readonly signatureUrl?: string;
    readonly etag?: string;
    readonly cacheMaxAge?: number;
  };
  /** Hold the image for this process in the transaction that stores it (see `Store.hold`). */
  readonly hold?: ImageHold;
  /**
   * Called once the archive is scanned (hashed, validated) and before anything is stored; throwing refuses
   * the import with that error and stores nothing. The fetcher checks the manifest and the signature here,
   * so the archive is read once rather than once to check it and once to import it.
   */
  readonly check?: (scan: { readonly imageId: string; readonly manifest: Uint8Array }) => Promise<void> | void;
  /**
   * Also extract the image's rootfs while importing, for a `render` right after (`rkt fetch`): the result's
   * `extracted` is then handed to `render(id, {extracted})`, which adopts it for a one-layer tree or removes it.
   */
  readonly extract?: boolean;
}

export interface ImportResult {
  readonly id: string;
  readonly name: string;
  readonly labels: readonly Label[];
  readonly compression: Compression;
  /** Bytes of the uncompressed ACI, as stored. */
  readonly blobSize: number;
  /** False when the image was already in the store (its times were refreshed). */
  readonly added: boolean;
  /** With `extract`: the extracted rootfs, a temporary directory for `render(id, {extracted})`. */
  readonly extracted?: string;
}


/**
 * Hashes, validates and stores the uncompressed archive in one pass: appc-spec's `scanAci` (the one set of
 * ACI rules) streams every uncompressed byte into the blob file as it checks it. appc-spec is loaded only
 * here: it pulls in zod, which `rkt image list` and the render path must not pay for.
 */
async function scanInto(ctx: StoreContext, input: AciInput, blobFile: string, source: string, extraction?: EarlyExtraction): Promise<AciScan> {
  const { scanAci, AppcError } = await import('@rkt/appc-spec');
  const stream: NodeJS.ReadableStream = typeof input === 'string' || input instanceof Readable ? (input as NodeJS.ReadableStream) : Readable.from(input);
  // Around the page cache (DirectFileWriter): the blob is read again only to render an image a second time,
  // export or verify it, and an early extraction reads it from the disk the same way. `sync`: the blob is
  // durable before it is published.
  const blob = DirectFileWriter.open(blobFile, { exclusive: true, mode: 0o644 });
  const sink = extraction === undefined ? directWriteStream(blob, { sync: true }) : extraction.tee(blob, blobFile);
  // A failed scan destroys the sink with writes still queued; their errors are expected then.
  sink.on('error', () => undefined);
  try {
    const scan = await scanAci(stream, {
      source,
      sink,
      maxUncompressedSize: ctx.options.maxUncompressedSize,
      maxManifestSize: ctx.options.maxManifestSize,
      // The early extraction's tree is hashed with them (EarlyExtraction.finish).
      fileDigests: extraction !== undefined,
      ...(extraction === undefined ? {} : { onEntry: (name: string, e: TarEntry) => extraction.entry(name, e) }),
    });
    sink.end();
    await finished(sink);
    return scan;
  } catch (err) {
    sink.destroy();
    await finished(sink).catch(() => undefined);
    if (err instanceof AppcError) throw fromAppcError(err, source);
    throw err;
  }
}

/**
 * The image is stored already: its blob and manifest are replaced by the incoming ones, so that importing an
 * image again repairs a stored copy damaged on disk (bytes changed, truncated, deleted). Replacing is the
 * cheap way to be sure: the incoming blob hashed to this very ID in the scan and is on disk and synced
 * already, so swapping it in costs two renames and a directory fsync, where checking the stored one would
 * cost a read of the whole blob (a size check is as cheap but misses bytes changed in place). Each rename
 * is atomic, so a crash leaves the old file or the new one, both complete; a render or export that opened
 * the old blob keeps reading it.
 */
async function replaceFiles(tmpDir: string, dest: string): Promise<void> {
  await rename(join(tmpDir, 'manifest'), join(dest, 'manifest'));
  await rename(join(tmpDir, 'aci'), join(dest, 'aci'));
  await fsyncDir(dest);
}

async function publish(ctx: StoreContext, tx: IndexTx, tmpDir: string, rec: ImageRecord): Promise<boolean> {
  const l = ctx.layout;
  const existing = await tx.image(rec.id);
  const dest = imageDir(l, rec.id);
  if (existing !== undefined && (await stat(dest).then((s) => s.isDirectory(), () => false))) {
    await replaceFiles(tmpDir, dest);
    tx.putImage({ ...existing, importedAt: rec.importedAt, lastUsedAt: rec.lastUsedAt, latest: existing.latest || rec.latest });
    return false;
  }
  try {
    await rename(tmpDir, dest);
  } catch (err) {
    if (!isErrno(err, 'ENOTEMPTY', 'EEXIST')) throw err;
    // A directory without a record is debris of a killed import (we hold the index, so no live importer
    // is between its rename and its record): move it aside and take its place.
    await rename(dest, join(l.trash, uniqueName('image')));
    await rename(tmpDir, dest);
  }
  await fsyncDir(l.images);
  tx.putImage(existing === undefined ? rec : { ...rec, treeSize: existing.treeSize, latest: existing.latest || rec.latest });
  return true;
}

/**
 * Removes what killed imports and renders left in `tmp` (a blob, a half-extracted rootfs: as big as the image),
 * so that an interrupted fetch costs its disk space until the next import, not until someone runs gc. Only
 * entries whose owner (pid and start time, in the name) is gone: a live process's work is never touched. The
 * small files (claims, holds) of dead processes cost nothing and are left to gc.
 */
async function removeDeadWork(l: Layout): Promise<void> {
  const names = await readdir(l.tmp).catch(() => [] as string[]);
  await Promise.all(names
    .filter((n) => (n.startsWith('import-') || n.startsWith('render-')) && !ownerAlive(n))
    .map((n) => removeTree(join(l.tmp, n))));
}

export async function importAci(ctx: StoreContext, input: AciInput, opts: ImportOptions = {}): Promise<ImportResult> {
  const l = ctx.layout;
  const source = opts.source ?? (typeof input === 'string' ? input : 'ACI stream');
  // Alongside the import (it is only disk work), settled before the import returns.
  const sweeping = removeDeadWork(l).catch(() => undefined);
  const tmpDir = join(l.tmp, uniqueName('import'));
  await mkdir(tmpDir, { mode: 0o755 });
  let extraction = opts.extract === true ? await EarlyExtraction.start(ctx) : undefined;
  try {
    const scanned = await scanInto(ctx, input, join(tmpDir, 'aci'), source, extraction);
    // tar finishing its last files overlaps the manifest write and the caller's checks.
    const extracted = extraction?.finish(scanned.manifestBytes, scanned.namesAsIs, scanned.files);
    extracted?.catch(() => undefined);
    const manifest = readStoreManifest(scanned.manifestBytes, `${source}: manifest`);
    const mf = await open(join(tmpDir, 'manifest'), 'wx', 0o644);
    try {
      await mf.writeFile(scanned.manifestBytes);
      await mf.sync();
    } finally {
      await mf.close();
    }
    await fsyncDir(tmpDir);
    if (opts.check !== undefined) await opts.check({ imageId: scanned.imageId, manifest: scanned.manifestBytes });
    const now = Date.now();
    const rec: ImageRecord = {
      id: scanned.imageId,
      name: manifest.name,
      labels: manifest.labels,
      importedAt: now,
      lastUsedAt: now,
      blobSize: scanned.uncompressedSize,
      treeSize: 0,
      latest: opts.latest === true,
    };
    const added = await withIndex(l, ctx.options, async (tx) => {
      // What the import changes, read first: the hold keeps it for a rollback of the command that imports.
      const wasLatest = opts.hold !== undefined && (await tx.image(rec.id))?.latest === true;
      const previousRemote = opts.hold !== undefined && opts.remote !== undefined ? await tx.remote(opts.remote.url) : undefined;
      const isNew = await publish(ctx, tx, tmpDir, rec);
      const unlatest: string[] = [];
      if (opts.latest === true) {
        for (const other of await tx.images()) {
          if (other.id !== rec.id && other.name === rec.name && other.latest) {
            tx.putImage({ ...other, latest: false });
            unlatest.push(other.id);
          }
        }
      }
      if (opts.hold !== undefined) {
        await opts.hold.addLocked([rec.id], {
          id: rec.id,
          added: isNew,
          wasLatest,
          unlatest,
          ...(opts.remote !== undefined ? { remote: { url: opts.remote.url, previous: previousRemote } } : {}),
        });
      }
      if (opts.remote !== undefined) {
        tx.putRemote({
          url: opts.remote.url,
          signatureUrl: opts.remote.signatureUrl,
          etag: opts.remote.etag,
          cacheMaxAge: opts.remote.cacheMaxAge,
          downloadedAt: now,
          imageId: rec.id,
        });
      }
      return isNew;
    });
    const kept = extraction !== undefined && (await extracted) === true ? extraction.dir : undefined;
    if (kept !== undefined) extraction = undefined;
    return { id: rec.id, name: rec.name, labels: rec.labels, compression: scanned.compression, blobSize: rec.blobSize, added, extracted: kept };
  } finally {
    await Promise.all([removeTree(tmpDir), extraction?.discard(), sweeping]);
  }
}

