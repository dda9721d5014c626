import { closeSync, openSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable, pipeline } from 'node:stream';
import { AppcError } from '../errors.js';
import { writeFileAtomically } from './atomic-file.js';
import { openEncoder } from './codec.js';
import type { Codec } from './codec.js';
import type { Compression } from './compression.js';
import type { PlannedEntry } from './entries.js';
import { toAppcError } from './io-errors.js';
import { LayoutRules } from './layout-rules.js';
import { END_OF_ARCHIVE, encodeHeader, padding } from './tar-writer.js';
import { createHash } from '../lazy-crypto.js';

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
/** Shared padding source: only ever read (copied by Buffer.concat or written out as is). */
const ZEROS = Buffer.alloc(512);

/** Writes the planned entries as one tar (compressed as asked) to `out`, checking the layout rules as it goes. */
export async function writeAci(
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

  // Headers and small files are joined into writes of about READ_CHUNK bytes: handing each 512-byte header
  // through the streams, the hash and the file on its own cost more than the data.
  let parts: Buffer[] = [];
  let partsLength = 0;
  function take(b: Buffer): Buffer | undefined {
    parts.push(b);
    partsLength += b.length;
    return partsLength >= READ_CHUNK ? flush() : undefined;
  }
  function flush(): Buffer {
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts, partsLength);
    parts = [];
    partsLength = 0;
    hash.update(out);
    uncompressedSize += out.length;
    return out;
  }

  async function* tar(): AsyncGenerator<Buffer> {
    let full: Buffer | undefined;
    for await (const e of entries) {
      if (signal?.aborted) throw new AppcError('APPC_ABORTED', `${out}: aborted`, { source: out, cause: signal.reason });
      // Errors name the file the user can fix, not an archive offset.
      rules.check({ name: e.header.name, type: e.header.type, linkname: e.header.linkname ?? '', offset: 0, origin: e.origin });
      entryCount++;
      if ((full = take(encodeHeader(e.header)))) yield full;
      const c = e.contents;
      if (c === undefined) continue;
      if ('data' in c) {
        if ((full = take(Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength)))) yield full;
      } else {
        for (const chunk of readExactly(c.file, e.header.size)) if ((full = take(chunk))) yield full;
      }
      const pad = padding(e.header.size);
      if (pad > 0 && (full = take(ZEROS.subarray(0, pad)))) yield full;
    }
    rules.finish();
    take(END_OF_ARCHIVE);
    yield flush();
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

/**
 * Reads exactly `size` bytes of `file`, failing if it changed size since it was listed. Synchronous on purpose:
 * an image holds many small files, and a thread-pool round trip per open, read and close cost more than the
 * reads themselves (50,000 files: 9 s async).
 */
function* readExactly(file: string, size: number): Generator<Buffer> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw toAppcError(err, file);
  }
  try {
    let pos = 0;
    while (pos < size) {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - pos));
      const bytesRead = readSync(fd, buf, 0, buf.length, pos);
      if (bytesRead === 0) throw new AppcError('APPC_IO', `${file}: file shrank while the image was being built`, { source: file });
      pos += bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
    if (readSync(fd, Buffer.alloc(1), 0, 1, size) !== 0) {
      throw new AppcError('APPC_IO', `${file}: file grew while the image was being built`, { source: file });
    }
  } catch (err) {
    throw toAppcError(err, file);
  } finally {
    closeSync(fd);
  }
}
