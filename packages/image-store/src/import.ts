import { createHash } from 'node:crypto';
import { mkdir, open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decompress, type AciInput, type Compression } from './aci/decompress.js';
import { EntryRules } from './aci/entries.js';
import { parseStoreManifest, type StoreManifest } from './aci/manifest.js';
import { StoreError, isErrno } from './errors.js';
import { fsyncDir, removeTree } from './fsutil.js';
import { withIndex, type IndexTx } from './index-db.js';
import { imageDir } from './layout.js';
import { uniqueName } from './owner.js';
import type { ImageRecord, Label } from './records.js';
import type { StoreContext } from './context.js';
import { TarParser } from './tar/parser.js';

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
}

interface Scanned {
  id: string;
  size: number;
  manifestBytes: Buffer;
  compression: Compression;
}

/** Hashes, validates and stores the uncompressed archive in one pass over the input. */
async function scanInto(ctx: StoreContext, input: AciInput, blobFile: string, source: string): Promise<Scanned> {
  const { maxUncompressedSize, maxManifestSize } = ctx.options;
  const hash = createHash('sha512');
  const rules = new EntryRules(source);
  const manifestParts: Buffer[] = [];
  let inManifest = false;
  let sawManifest = false;
  const parser = new TarParser({
    entry(e) {
      const name = rules.check(e);
      inManifest = name === 'manifest';
      if (inManifest) {
        sawManifest = true;
        if (e.size > maxManifestSize) {
          throw new StoreError('STORE_ACI_TOO_LARGE', `${source}: manifest is ${e.size} bytes, over the limit of ${maxManifestSize}`, { subject: source });
        }
      }
    },
    data(chunk) {
      if (!inManifest) return;
      manifestParts.push(Buffer.from(chunk));
    },
    end() {},
  }, source);

  let compression: Compression;
  let chunks: AsyncGenerator<Buffer>;
  try {
    ({ compression, chunks } = await decompress(input, source));
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError('STORE_IO', `cannot read ${source}: ${(err as Error).message}`, { subject: source, cause: err });
  }
  const fh = await open(blobFile, 'wx', 0o644);
  let size = 0;
  try {
    try {
      for await (const chunk of chunks) {
        size += chunk.length;
        if (size > maxUncompressedSize) {
          throw new StoreError('STORE_ACI_TOO_LARGE',
            `${source}: uncompressed image exceeds the limit of ${maxUncompressedSize} bytes`, { subject: source });
        }
        hash.update(chunk);
        parser.write(chunk);
        await fh.write(chunk);
      }
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError('STORE_IO', `cannot import ${source}: ${(err as Error).message}`, { subject: source, cause: err });
    } finally {
      await chunks.return(undefined);
    }
    parser.finish();
    if (!sawManifest) throw new StoreError('STORE_MANIFEST', `${source}: the archive has no "manifest" file`, { subject: source });
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { id: `sha512-${hash.digest('hex')}`, size, manifestBytes: Buffer.concat(manifestParts), compression };
}

/**
 * Full appc validation comes from @rkt/appc-spec, loaded only here: it pulls in zod, which `rkt image list`
 * and the render path must not pay for.
 */
async function validateManifest(bytes: Buffer, source: string): Promise<StoreManifest> {
  const { parseImageManifest, AppcError } = await import('@rkt/appc-spec');
  try {
    parseImageManifest(bytes, source);
  } catch (err) {
    if (err instanceof AppcError) throw new StoreError('STORE_MANIFEST', err.message, { subject: source, cause: err });
    throw err;
  }
  return parseStoreManifest(bytes, source);
}

async function publish(ctx: StoreContext, tx: IndexTx, tmpDir: string, rec: ImageRecord): Promise<boolean> {
  const l = ctx.layout;
  const existing = await tx.image(rec.id);
  const dest = imageDir(l, rec.id);
  if (existing !== undefined) {
    const present = await stat(join(dest, 'aci')).then(() => true, () => false);
    if (present) {
      tx.putImage({ ...existing, importedAt: rec.importedAt, lastUsedAt: rec.lastUsedAt, latest: existing.latest || rec.latest });
      return false;
    }
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

export async function importAci(ctx: StoreContext, input: AciInput, opts: ImportOptions = {}): Promise<ImportResult> {
  const l = ctx.layout;
  const source = opts.source ?? (typeof input === 'string' ? input : 'ACI stream');
  const tmpDir = join(l.tmp, uniqueName('import'));
  await mkdir(tmpDir, { mode: 0o755 });
  try {
    const scanned = await scanInto(ctx, input, join(tmpDir, 'aci'), source);
    const manifest = await validateManifest(scanned.manifestBytes, `${source}: manifest`);
    const mf = await open(join(tmpDir, 'manifest'), 'wx', 0o644);
    try {
      await mf.writeFile(scanned.manifestBytes);
      await mf.sync();
    } finally {
      await mf.close();
    }
    await fsyncDir(tmpDir);
    const now = Date.now();
    const rec: ImageRecord = {
      id: scanned.id,
      name: manifest.name,
      labels: manifest.labels,
      importedAt: now,
      lastUsedAt: now,
      blobSize: scanned.size,
      treeSize: 0,
      latest: opts.latest === true,
    };
    const added = await withIndex(l, ctx.options, async (tx) => {
      const isNew = await publish(ctx, tx, tmpDir, rec);
      if (opts.latest === true) {
        for (const other of await tx.images()) {
          if (other.id !== rec.id && other.name === rec.name && other.latest) tx.putImage({ ...other, latest: false });
        }
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
    return { id: rec.id, name: rec.name, labels: rec.labels, compression: scanned.compression, blobSize: rec.blobSize, added };
  } finally {
    await removeTree(tmpDir);
  }
}

