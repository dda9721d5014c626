import { createReadStream } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { AppcError } from '../errors.js';
import type { ImageManifest } from '../manifest/image-manifest.js';
import { openDecoder } from './codec.js';
import type { Codec } from './codec.js';
import { MAGIC_LENGTH, detectCompression, refuseUnsupportedCompression } from './compression.js';
import type { Compression } from './compression.js';
import { toAppcError } from './io-errors.js';
import { ManifestCollector } from './manifest-entry.js';
import { FileRanges, type FileDigest } from './file-digests.js';
import { OffloadedHash } from './offloaded-hash.js';
import { peek } from './peek.js';
import { SinkWriter } from './sink.js';
import { TarReader, type TarEntry } from './tar-reader.js';

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
  /**
   * Also the SHA-256 of every regular file under rootfs (and of every hard link to one), taken from the bytes
   * as they pass, in `AciScan.files`: the store hashes a tree extracted from the archive with them instead of
   * reading its files back.
   */
  fileDigests?: boolean;
  /**
   * Sees every entry that passed the layout rules, with its normal name, before any byte of the chunk that
   * holds its header reaches `sink`.
   */
  onEntry?: (name: string, entry: TarEntry) => void;
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
  /**
   * Every entry's name and hard link target is already in the normal form the layout rules checked (no `./`,
   * no `a//b`), so GNU tar extracting the archive as it is creates exactly the checked names.
   */
  namesAsIs: boolean;
  /** With `fileDigests`: normal name -> digest of the rootfs files. */
  files?: ReadonlyMap<string, FileDigest>;
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
  const { signal } = opts;
  if (signal?.aborted) throw aborted(source, signal);

  const raw: NodeJS.ReadableStream = typeof input === 'string' ? createReadStream(input, { highWaterMark: READ_CHUNK }) : input;
  let bytesRead = () => 0;
  let codec: Codec | undefined;
  let feed: Promise<void> | undefined;
  let feedError: unknown;
  let compressed: Readable | undefined;
  let uncompressed: Readable | undefined;
  const sink = opts.sink === undefined ? undefined : new SinkWriter(opts.sink, source);
  // The image ID's SHA-512 runs on a worker thread: on this thread it was about a third of the scan's CPU.
  // The files' own digests ride along on the same thread and bytes.
  const hash = new OffloadedHash('sha512', opts.fileDigests === true ? { ranges: 'sha256' } : {});
  const files = opts.fileDigests === true ? new FileRanges((id, start, end) => hash.markRange(id, start, end)) : undefined;
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
    const input = await peek(raw, MAGIC_LENGTH);
    refuseUnsupportedCompression(input.head, source);
    const compression = detectCompression(input.head);
    bytesRead = input.bytesRead;
    compressed = Readable.from(input.chunks, { objectMode: false, highWaterMark: READ_CHUNK });
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

    let size = 0;
    const onEntry = opts.onEntry;
    const seen = files === undefined && onEntry === undefined ? undefined : (name: string, e: TarEntry) => {
      files?.entry(name, e);
      onEntry?.(name, e);
    };
    const visitor = new ManifestCollector(source, maxManifest, seen);
    const reader = new TarReader(visitor, source);

    for await (const chunk of uncompressed as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxSize) {
        throw new AppcError('APPC_ACI_TOO_LARGE', `${source}: uncompressed archive exceeds the ${maxSize}-byte limit`, { source });
      }
      // The reader first: the files' ranges must be marked before their bytes reach the hash.
      reader.push(chunk);
      const hashing = hash.update(chunk);
      if (hashing !== undefined) await hashing;
      if (sink !== undefined) await sink.write(chunk);
    }
    // A decoder's complaint explains a short output better than the tar reader's "truncated".
    if (feed !== undefined) await feed;
    if (feedError !== undefined && !isBrokenPipe(feedError)) throw feedError;
    await codec?.finished();
    reader.end();
    const { manifest, bytes } = visitor.finish();
    sink?.throwIfFailed();
    const digest = await hash.digest();
    return {
      manifest,
      manifestBytes: bytes,
      imageId: `sha512-${digest.hex}`,
      compression,
      compressedSize: bytesRead(),
      uncompressedSize: size,
      entryCount: reader.entries,
      namesAsIs: visitor.namesAsIs,
      ...(files === undefined ? {} : { files: files.result(digest.ranges) }),
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
    sink?.release();
    // On success everything has ended already; on failure this frees the file, the pipes and the child.
    destroyInput(raw);
    uncompressed?.destroy();
    compressed?.destroy();
    await Promise.all([codec?.destroy(), hash.close()]);
  }
}

function destroyInput(raw: NodeJS.ReadableStream, err?: Error): void {
  const r = raw as Partial<Readable>;
  // An input read to its end is left alone: destroying it with an error nobody listens for would crash.
  if (typeof r.destroy === 'function' && r.destroyed !== true && r.readableEnded !== true) r.destroy(err);
}

function ignore(): void {}

function isBrokenPipe(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED';
}

function aborted(source: string, signal: AbortSignal): AppcError {
  return new AppcError('APPC_ABORTED', `${source}: aborted`, { source, cause: signal.reason });
}
