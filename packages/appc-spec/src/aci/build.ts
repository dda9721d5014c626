import { createHash } from 'node:crypto';
import { lstat, open, readFile, readdir, realpath, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Readable, pipeline } from 'node:stream';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { AppcError } from '../errors.js';
import { parseImageManifest, serializeImageManifest } from '../manifest/image-manifest.js';
import type { ImageManifest } from '../manifest/image-manifest.js';
import { writeFileAtomically } from './atomic-file.js';
import { openEncoder } from './codec.js';
import type { Codec } from './codec.js';
import type { Compression } from './compression.js';
import { planEntries } from './entries.js';
import type { AciEntry, PlannedEntry } from './entries.js';
import { toAppcError } from './io-errors.js';
import { LayoutRules, MANIFEST, ROOTFS } from './layout-rules.js';
import { END_OF_ARCHIVE, encodeHeader, padding } from './tar-writer.js';
import { walkRootfs } from './walk-layout.js';
import { readXattrTree } from './xattrs.js';

export interface AciBuildOptions {
  /** Default `none`. */
  compression?: Compression;
  /** Replace an existing output file; without it an existing file is an `APPC_EXISTS` error. */
  overwrite?: boolean;
  /** Store extended attributes (read with `getfattr`, Debian package `attr`). Default true for layouts. */
  xattrs?: boolean;
  signal?: AbortSignal;
}

export interface AciBuildResult {
  imageId: string;
  compression: Compression;
  compressedSize: number;
  uncompressedSize: number;
  entryCount: number;
  /** Things left out, one line each (sockets). */
  warnings: string[];
}

const READ_CHUNK = 1 << 20;

/**
 * Builds an ACI from an image layout directory (`manifest` + `rootfs/`), deterministically: the same tree gives
 * the same image ID (sorted entries, numeric owners only, whole-second mtimes, no access or change times). Keeps
 * modes (setuid, setgid and sticky included), owners, mtimes, symlinks, hardlinks, device nodes, fifos and
 * xattrs. The manifest is validated first; the output appears atomically.
 *
 * @example
 * const { imageId } = await buildAciFromLayout('layout', 'busybox.aci', { compression: 'gzip' });
 */
export async function buildAciFromLayout(layoutDir: string, out: string, opts: AciBuildOptions = {}): Promise<AciBuildResult> {
  await refuseOutputInside(resolve(layoutDir), resolve(out), out);
  const layout = await openLayout(layoutDir, opts.xattrs !== false);
  const result = await writeAci(layout.entries(), out, opts);
  return { ...result, warnings: layout.warnings };
}

/**
 * Checks an image layout directory without writing anything: the manifest, that only `manifest` and `rootfs/`
 * are there, and the archive rules every entry of the ACI built from it would have to pass (no symlink out of
 * rootfs). Returns the validated manifest.
 */
export async function checkLayout(layoutDir: string): Promise<ImageManifest> {
  const layout = await openLayout(layoutDir, false);
  const rules = new LayoutRules(layoutDir);
  for await (const e of layout.entries()) {
    rules.check({ name: e.header.name, type: e.header.type, linkname: e.header.linkname ?? '', offset: 0, origin: e.origin });
  }
  rules.finish();
  return layout.manifest;
}

interface OpenLayout {
  manifest: ImageManifest;
  /** Entries in archive order, manifest first. */
  entries(): AsyncGenerator<PlannedEntry>;
  warnings: string[];
}

async function openLayout(layoutDir: string, withXattrs: boolean): Promise<OpenLayout> {
  const layout = resolve(layoutDir);
  const layoutStat = await lstat(layout).catch((err: unknown) => {
    throw toAppcError(err, layoutDir);
  });
  if (!layoutStat.isDirectory()) throw new AppcError('APPC_ACI_LAYOUT', `${layoutDir}: not a directory`, { source: layoutDir });
  const names = await readdir(layout);
  for (const n of names.sort()) {
    if (n !== MANIFEST && n !== ROOTFS) {
      throw new AppcError('APPC_ACI_LAYOUT', `${join(layoutDir, n)}: an image layout holds only manifest and rootfs/`, { source: layoutDir });
    }
  }
  const manifestPath = join(layout, MANIFEST);
  if (!names.includes(MANIFEST)) throw new AppcError('APPC_ACI_NO_MANIFEST', `${layoutDir}: no manifest in the layout`, { source: layoutDir });
  if (!names.includes(ROOTFS)) throw new AppcError('APPC_ACI_LAYOUT', `${layoutDir}: no rootfs directory in the layout`, { source: layoutDir });
  const mst = await lstat(manifestPath, { bigint: true });
  if (!mst.isFile()) throw new AppcError('APPC_ACI_LAYOUT', `${join(layoutDir, MANIFEST)}: must be a regular file`, { source: layoutDir });
  const manifestBytes = await readFile(manifestPath);
  const manifest = parseImageManifest(manifestBytes, join(layoutDir, MANIFEST));

  const rootfs = join(layout, ROOTFS);
  const xattrs = withXattrs ? await readXattrTree(rootfs) : undefined;
  const warnings: string[] = [];
  const manifestEntry: PlannedEntry = {
    header: {
      name: MANIFEST,
      type: 'file',
      mode: Number(mst.mode & 0o7777n),
      uid: Number(mst.uid),
      gid: Number(mst.gid),
      size: manifestBytes.length,
      mtime: Number(mst.mtimeNs / 1_000_000_000n),
    },
    contents: { data: manifestBytes },
    origin: manifestPath,
  };
  return {
    manifest,
    warnings,
    async *entries() {
      yield manifestEntry;
      yield* walkRootfs(rootfs, xattrs, (w) => warnings.push(w));
    },
  };
}

/**
 * Builds an ACI from a manifest and a list of entries (paths inside rootfs), deterministically: entries are
 * written in path order whatever the list order, missing parent directories are added, and unset metadata
 * takes fixed defaults (root owner, mtime 0). The manifest is validated first.
 *
 * @example
 * await buildAci(manifest, [{ type: 'file', path: 'bin/app', source: './app', mode: 0o755 }], 'app.aci');
 */
export async function buildAci(
  manifest: ImageManifest | string | Uint8Array,
  entries: readonly AciEntry[],
  out: string,
  opts: Omit<AciBuildOptions, 'xattrs'> = {},
): Promise<AciBuildResult> {
  const manifestBytes =
    typeof manifest === 'string' || manifest instanceof Uint8Array
      ? (parseImageManifest(manifest, 'manifest'), Buffer.from(manifest))
      : Buffer.from(serializeImageManifest(manifest));
  const planned = await planEntries(entries, async (file) => {
    const st = await stat(file).catch((err: unknown) => {
      throw toAppcError(err, file);
    });
    if (!st.isFile()) throw new AppcError('APPC_ACI_LAYOUT', `${file}: not a regular file`, { source: file });
    return st.size;
  });
  const all: PlannedEntry[] = [
    { header: { name: MANIFEST, type: 'file', mode: 0o644, uid: 0, gid: 0, size: manifestBytes.length, mtime: 0 }, contents: { data: manifestBytes }, origin: 'manifest' },
    { header: { name: ROOTFS, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 }, origin: 'rootfs' },
    ...planned,
  ];
  const result = await writeAci(all, out, opts);
  return { ...result, warnings: [] };
}

async function refuseOutputInside(layout: string, outPath: string, out: string): Promise<void> {
  // Compare real paths: the layout or the output's directory may be reached through a symlink.
  const realLayout = await realpath(layout).catch(() => layout);
  const realOut = join(await realpath(dirname(outPath)).catch(() => dirname(outPath)), basename(outPath));
  const rel = relative(realLayout, realOut);
  if (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel)) {
    throw new AppcError('APPC_ACI_LAYOUT', `${out}: the output must not be inside the layout it is built from`, { source: out });
  }
}

/** Writes the planned entries as one tar (compressed as asked) to `out`, checking the layout rules as it goes. */
async function writeAci(
  entries: AsyncIterable<PlannedEntry> | Iterable<PlannedEntry>,
  out: string,
  opts: Omit<AciBuildOptions, 'xattrs'>,
): Promise<Omit<AciBuildResult, 'warnings'>> {
  const compression = opts.compression ?? 'none';
  const { signal } = opts;
  if (signal?.aborted) throw new AppcError('APPC_ABORTED', `${out}: aborted`, { source: out, cause: signal.reason });
  const hash = createHash('sha512');
  let uncompressedSize = 0;
  let entryCount = 0;
  const rules = new LayoutRules(out);

  async function* tar(): AsyncGenerator<Buffer> {
    for await (const e of entries) {
      if (signal?.aborted) throw new AppcError('APPC_ABORTED', `${out}: aborted`, { source: out, cause: signal.reason });
      // Errors name the file the user can fix, not an archive offset.
      rules.check({ name: e.header.name, type: e.header.type, linkname: e.header.linkname ?? '', offset: uncompressedSize, origin: e.origin });
      entryCount++;
      yield* counted(encodeHeader(e.header));
      const c = e.contents;
      if (c === undefined) continue;
      if ('data' in c) {
        yield* counted(Buffer.from(c.data));
      } else {
        for await (const chunk of readExactly(c.file, e.header.size)) yield* counted(chunk);
      }
      const pad = padding(e.header.size);
      if (pad > 0) yield* counted(Buffer.alloc(pad));
    }
    rules.finish();
    yield* counted(END_OF_ARCHIVE);
  }
  function* counted(b: Buffer): Generator<Buffer> {
    hash.update(b);
    uncompressedSize += b.length;
    yield b;
  }

  const compressedSize = await writeFileAtomically(out, opts.overwrite === true, async (fh) => {
    const source = Readable.from(tar(), { objectMode: false, highWaterMark: READ_CHUNK });
    const onAbort = () => source.destroy(new AppcError('APPC_ABORTED', `${out}: aborted`, { source: out, cause: signal?.reason }));
    signal?.addEventListener('abort', onAbort, { once: true });
    let codec: Codec | undefined;
    try {
      if (compression === 'none') return await writeAll(source, fh);
      codec = openEncoder(compression, out);
      const c = codec;
      const [fed, written] = await Promise.allSettled([pipe(source, c.writable), writeAll(c.readable, fh)]);
      if (fed.status === 'rejected') throw fed.reason;
      await c.finished();
      if (written.status === 'rejected') throw written.reason;
      return written.value;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      source.destroy();
      await codec?.destroy();
    }
  });
  return { imageId: `sha512-${hash.digest('hex')}`, compression, compressedSize, uncompressedSize, entryCount };
}

function pipe(from: NodeJS.ReadableStream, to: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    pipeline(from, to, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Plain writes on the handle: a FileHandle write stream that is not allowed to close the handle keeps a
 * reference that makes the later `close()` wait forever.
 */
async function writeAll(from: AsyncIterable<Buffer> | Readable, fh: FileHandle): Promise<number> {
  let n = 0;
  for await (const chunk of from as AsyncIterable<Buffer>) {
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
      off += bytesWritten;
    }
    n += chunk.length;
  }
  return n;
}

/** Reads exactly `size` bytes of `file`, failing if it changed size since it was listed. */
async function* readExactly(file: string, size: number): AsyncGenerator<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw toAppcError(err, file);
  }
  try {
    let pos = 0;
    while (pos < size) {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) throw new AppcError('APPC_IO', `${file}: file shrank while the image was being built`, { source: file });
      pos += bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
    const probe = Buffer.alloc(1);
    const { bytesRead } = await fh.read(probe, 0, 1, size);
    if (bytesRead !== 0) throw new AppcError('APPC_IO', `${file}: file grew while the image was being built`, { source: file });
  } finally {
    await fh.close();
  }
}
