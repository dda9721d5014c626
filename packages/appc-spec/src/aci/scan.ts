import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import type { Writable } from 'node:stream';
import { AppcError } from '../errors.js';
import { parseImageManifest } from '../manifest/image-manifest.js';
import type { ImageManifest } from '../manifest/image-manifest.js';
import { openDecoder } from './codec.js';
import type { Codec } from './codec.js';
import { MAGIC_LENGTH, detectCompression, refuseUnsupportedCompression } from './compression.js';
import type { Compression } from './compression.js';
import { toAppcError } from './io-errors.js';
import { LayoutRules, MANIFEST } from './layout-rules.js';
import { TarReader } from './tar-reader.js';
import type { TarEntry } from './tar-reader.js';

export interface AciScanOptions {
  /** Name used in errors (file path, URL). Defaults to the path, or `<stream>`. */
  source?: string;
  /**
   * Receives every uncompressed byte, with backpressure. It is not ended or destroyed by the scan: the caller
   * closes it (and discards what it holds if the scan rejects).
   */
  sink?: NodeJS.WritableStream;
  /** Exceeding it rejects with `APPC_ACI_TOO_LARGE` as soon as the limit is crossed (gzip bombs). */
  maxUncompressedSize?: number;
  /** Largest manifest accepted; default 1 MiB. Exceeding it is an `APPC_ACI_LAYOUT` error. */
  maxManifestSize?: number;
  signal?: AbortSignal;
}

export interface AciScan {
  manifest: ImageManifest;
  /** The manifest file exactly as stored in the archive. */
  manifestBytes: Uint8Array;
  /** `sha512-` + hex sha512 of the uncompressed tar. */
  imageId: string;
  compression: Compression;
  compressedSize: number;
  uncompressedSize: number;
  /** Archive members, extended headers not counted. */
  entryCount: number;
}

const READ_CHUNK = 1 << 20;
const DEFAULT_MAX_MANIFEST = 1 << 20;

/**
 * Reads an image archive once: detects its compression, hashes the uncompressed tar into the image ID, checks
 * every entry against the layout rules and parses the manifest. Memory stays flat whatever the archive size.
 * Every failure is an `AppcError` whose one-line message names the source and, where there is one, the entry.
 *
 * @example
 * const { imageId, manifest } = await scanAci('busybox.aci');
 */
export async function scanAci(input: string | NodeJS.ReadableStream, opts: AciScanOptions = {}): Promise<AciScan> {
  const source = opts.source ?? (typeof input === 'string' ? input : '<stream>');
  const maxSize = opts.maxUncompressedSize ?? Number.POSITIVE_INFINITY;
  const maxManifest = opts.maxManifestSize ?? DEFAULT_MAX_MANIFEST;
  const { signal, sink } = opts;
  if (signal?.aborted) throw aborted(source, signal);

  const raw: NodeJS.ReadableStream = typeof input === 'string' ? createReadStream(input, { highWaterMark: READ_CHUNK }) : input;
  const rawIter = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  let compressedSize = 0;
  let codec: Codec | undefined;
  let feed: Promise<void> | undefined;
  let feedError: unknown;
  let compressed: Readable | undefined;
  let uncompressed: Readable | undefined;
  let sinkError: unknown;
  const onSinkError = (err: unknown) => {
    sinkError ??= err;
  };
  sink?.on('error', onSinkError);
  let abortError: AppcError | undefined;
  const onAbort = () => {
    abortError = aborted(source, signal!);
    const err = abortError;
    destroyInput(raw, err);
    compressed?.destroy(err);
    uncompressed?.destroy(err);
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  try {
    // The head decides the decoder; the rest follows it through the same iterator.
    const head: Buffer[] = [];
    let headLen = 0;
    let done = false;
    while (headLen < MAGIC_LENGTH) {
      const r = await rawIter.next();
      if (r.done === true) {
        done = true;
        break;
      }
      const b = toBuffer(r.value);
      head.push(b);
      headLen += b.length;
    }
    const first = Buffer.concat(head, headLen);
    refuseUnsupportedCompression(first, source);
    const compression = detectCompression(first);

    async function* compressedChunks(): AsyncGenerator<Buffer> {
      compressedSize += first.length;
      if (first.length > 0) yield first;
      if (done) return;
      for (;;) {
        const r = await rawIter.next();
        if (r.done === true) return;
        const b = toBuffer(r.value);
        compressedSize += b.length;
        yield b;
      }
    }
    compressed = Readable.from(compressedChunks(), { objectMode: false, highWaterMark: READ_CHUNK });
    // Errors reach us through the iteration; these keep a late one (an abort after the last chunk) from
    // becoming an uncaught 'error' event.
    compressed.on('error', ignore);
    if (compression === 'none') {
      uncompressed = compressed;
    } else {
      codec = openDecoder(compression, source);
      const c = codec;
      feed = new Promise<void>((resolve) => {
        pipeline(compressed!, c.writable, (err) => {
          if (err) feedError ??= err;
          resolve();
        });
      });
      uncompressed = codec.readable;
      uncompressed.on('error', ignore);
    }

    const hash = createHash('sha512');
    let size = 0;
    let manifestParts: Buffer[] | undefined;
    let manifestLen = 0;
    let manifest: ImageManifest | undefined;
    let manifestBytes: Uint8Array | undefined;
    const rules = new LayoutRules(source);
    const reader = new TarReader(
      {
        entry(e: TarEntry) {
          const name = rules.check(e);
          if (name !== MANIFEST) return false;
          if (e.size > maxManifest) {
            throw new AppcError('APPC_ACI_LAYOUT', `${source}: manifest is ${e.size} bytes, over the ${maxManifest}-byte limit`, { source });
          }
          manifestParts = [];
          return true;
        },
        data(chunk) {
          manifestParts!.push(Buffer.from(chunk));
          manifestLen += chunk.length;
        },
        end() {
          manifestBytes = Buffer.concat(manifestParts!, manifestLen);
          manifestParts = undefined;
          // Parsed as soon as it is complete, so a bad manifest fails before the rest is read.
          manifest = parseImageManifest(manifestBytes, `${source}:manifest`);
        },
      },
      source,
    );

    for await (const chunk of uncompressed as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxSize) {
        throw new AppcError('APPC_ACI_TOO_LARGE', `${source}: uncompressed archive exceeds the ${maxSize}-byte limit`, { source });
      }
      hash.update(chunk);
      reader.push(chunk);
      if (sink !== undefined) await writeToSink(sink, chunk, () => sinkError, source);
    }
    // A decoder's complaint explains a short output better than the tar reader's "truncated".
    if (feed !== undefined) await feed;
    if (feedError !== undefined && !isBrokenPipe(feedError)) throw feedError;
    await codec?.finished();
    reader.end();
    rules.finish();
    if (sinkError !== undefined) throw sinkError;
    if (manifest === undefined || manifestBytes === undefined) {
      throw new AppcError('APPC_ACI_NO_MANIFEST', `${source}: no manifest in the archive`, { source });
    }
    return {
      manifest,
      manifestBytes,
      imageId: `sha512-${hash.digest('hex')}`,
      compression,
      compressedSize,
      uncompressedSize: size,
      entryCount: reader.entries,
    };
  } catch (err) {
    if (abortError !== undefined) throw abortError;
    let e = toAppcError(err, source);
    // A decoder that failed on its own (corrupt input, missing tool) explains the short or garbled output the
    // tar reader choked on better than the reader can.
    if (codec !== undefined && e.code !== 'APPC_ACI_TOO_LARGE' && e.code !== 'APPC_ACI_LAYOUT' && e.code !== 'APPC_VALIDATION') {
      await codec.destroy();
      const own = await codec.outcome();
      if (own !== undefined) e = own;
    }
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    sink?.removeListener('error', onSinkError);
    // On success everything has ended already; on failure this frees the file, the pipes and the child.
    destroyInput(raw);
    uncompressed?.destroy();
    compressed?.destroy();
    await codec?.destroy();
  }
}

function destroyInput(raw: NodeJS.ReadableStream, err?: Error): void {
  const r = raw as Partial<Readable>;
  // An input read to its end is left alone: destroying it with an error nobody listens for would crash.
  if (typeof r.destroy === 'function' && r.destroyed !== true && r.readableEnded !== true) r.destroy(err);
}

function ignore(): void {}

function toBuffer(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : v;
}

function isBrokenPipe(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED';
}

function aborted(source: string, signal: AbortSignal): AppcError {
  return new AppcError('APPC_ABORTED', `${source}: aborted`, { source, cause: signal.reason });
}

async function writeToSink(sink: NodeJS.WritableStream, chunk: Buffer, failed: () => unknown, source: string): Promise<void> {
  const err = failed();
  if (err !== undefined) throw err;
  const w = sink as Partial<Writable>;
  if (w.destroyed === true || w.writableEnded === true) {
    throw new AppcError('APPC_IO', `${source}: the sink was closed before the archive was read`, { source });
  }
  if (sink.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = () => {
      sink.removeListener('drain', done);
      sink.removeListener('error', done);
      sink.removeListener('close', done);
      const e = failed();
      if (e !== undefined) reject(e);
      else resolve();
    };
    sink.on('drain', done);
    sink.on('error', done);
    sink.on('close', done);
  });
}
