import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { AppcError, TarReader, type TarEntry, type TarVisitor } from '@rkt/appc-spec';
import { FetchError, firstLine } from '../errors.js';
import type { DockerLayerFile } from './types.js';

const CHUNK = 1 << 20;

/** Compressions told by their first bytes; only gzip and none are read. */
const MAGIC: ReadonlyArray<{ name: string; bytes: readonly number[] }> = [
  { name: 'gzip', bytes: [0x1f, 0x8b] },
  { name: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { name: 'bzip2', bytes: [0x42, 0x5a, 0x68] },
  { name: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
];

export function layerError(layer: DockerLayerFile, what: string, cause?: unknown): FetchError {
  return new FetchError('FETCH_DOCKER_CONVERT', `layer ${layer.digest}: ${what}`, { subject: layer.digest, cause });
}

/** gzip or plain tar, by the blob's first bytes (the media type can be wrong; Docker sniffs too); zstd refused. */
async function sniff(layer: DockerLayerFile): Promise<'gzip' | 'none'> {
  if (/zstd/i.test(layer.mediaType)) throw layerError(layer, `zstd-compressed layers (${layer.mediaType}) are not supported`);
  const head = Buffer.alloc(6);
  let n: number;
  try {
    const fh = await open(layer.path, 'r');
    try {
      n = (await fh.read(head, 0, head.length, 0)).bytesRead;
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new FetchError('FETCH_IO', `layer ${layer.digest}: ${layer.path}: ${firstLine(err)}`, { subject: layer.path, cause: err });
  }
  const found = sniffCompression(head.subarray(0, n));
  if (found === undefined) return 'none';
  if (found !== 'gzip') throw layerError(layer, `${found}-compressed layers are not supported (only gzip and plain tar)`);
  return 'gzip';
}

/** The compression a blob's first bytes say (`gzip`, `zstd`, `bzip2`, `xz`), or undefined for none (a plain tar). */
export function sniffCompression(head: Uint8Array): string | undefined {
  return MAGIC.find((m) => head.length >= m.bytes.length && m.bytes.every((b, i) => head[i] === b))?.name;
}

/**
 * Streams one layer's tar through `visitor` (gunzipped when it is gzip), awaiting `drain` after each chunk so
 * a slow output holds the reading back, and stopping early once `done()` says nothing more is wanted (then
 * returning false; true when the whole layer was read). Every failure is one line naming the layer: corrupt
 * gzip, a truncated or malformed tar, an unsupported member type. An empty blob is an empty layer, as Docker
 * reads it.
 */
export async function readLayer(
  layer: DockerLayerFile,
  visitor: TarVisitor,
  drain: () => Promise<void>,
  signal?: AbortSignal,
  done?: () => boolean,
): Promise<boolean> {
  const compression = await sniff(layer);
  const reader = new TarReader(visitor, `layer ${layer.digest}`);
  const file = createReadStream(layer.path, { highWaterMark: CHUNK });
  let source: Readable = file;
  if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: 1 << 16 });
    pipeline(file, gunzip, () => {});
    source = gunzip;
  }
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (signal?.aborted) throw abortError(signal);
      reader.push(chunk);
      await drain();
      if (done?.() === true) return false;
    }
    if (reader.offset > 0) reader.end();
    return true;
  } catch (err) {
    // The caller's abort reason, as given: not a fault of the layer.
    if (signal?.aborted === true && err === signal.reason) throw err;
    throw layerFailure(layer, err);
  } finally {
    source.destroy();
    file.destroy();
  }
}

/**
 * Pass one's read: the headers only. A plain tar's member contents are skipped by position (a few 512-byte
 * reads per member instead of the whole blob; synchronous, as thread-pool round trips per member cost more
 * than the reads); a gzip layer has to be inflated whole.
 */
export async function readLayerHeaders(layer: DockerLayerFile, entry: (e: TarEntry) => void, signal?: AbortSignal): Promise<void> {
  let last: TarEntry | undefined;
  const visitor: TarVisitor = { entry: (e) => ((last = e), entry(e), false), data: () => {}, end: () => {} };
  if ((await sniff(layer)) === 'gzip') {
    await readLayer(layer, visitor, async () => {}, signal);
    return;
  }
  const reader = new TarReader(visitor, `layer ${layer.digest}`);
  let fd: number;
  try {
    fd = openSync(layer.path, 'r');
  } catch (err) {
    throw layerFailure(layer, err);
  }
  try {
    const size = fstatSync(fd).size;
    const block = Buffer.alloc(512);
    let position = 0;
    for (let i = 1; ; i++) {
      // Now and then, a turn of the event loop, so an abort can arrive.
      if (i % 4096 === 0) await new Promise((resolve) => setImmediate(resolve));
      if (signal?.aborted === true) throw abortError(signal);
      const n = readSync(fd, block, 0, block.length, position);
      if (n === 0) break;
      position += n;
      reader.push(n === block.length ? block : block.subarray(0, n));
      if (n < block.length) break;
      const skip = reader.skipBody();
      if (position + skip > size) {
        // As the tar reader words it when the stream runs out.
        throw layerError(layer, `archive is truncated inside entry ${JSON.stringify(last?.name)} (${position + skip - size} bytes missing)`);
      }
      position += skip;
    }
    if (reader.offset > 0) reader.end();
  } catch (err) {
    if (signal?.aborted === true && err === signal.reason) throw err;
    throw layerFailure(layer, err);
  } finally {
    closeSync(fd);
  }
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason instanceof Error ? signal.reason : new FetchError('FETCH_DOCKER_CONVERT', 'the conversion was aborted');
}

/** A failure reading (or inflating, or writing) a layer, in one line naming it: corrupt gzip, a truncated tar, an I/O error. */
export function layerFailure(layer: DockerLayerFile, err: unknown): unknown {
  if (err instanceof FetchError || (err instanceof Error && err.name === 'AbortError')) return err;
  // The tar reader's errors already start with "layer <digest>:".
  if (err instanceof AppcError) return new FetchError('FETCH_DOCKER_CONVERT', firstLine(err), { subject: layer.digest, cause: err });
  const code = (err as { code?: unknown }).code;
  if (code === 'Z_DATA_ERROR' || code === 'Z_NEED_DICT' || code === 'Z_STREAM_ERROR') return layerError(layer, `corrupt gzip data (${firstLine(err)})`, err);
  if (code === 'Z_BUF_ERROR') return layerError(layer, `gzip data is truncated (${firstLine(err)})`, err);
  if (typeof code === 'string' && code.startsWith('E')) {
    return new FetchError('FETCH_IO', `layer ${layer.digest}: ${layer.path}: ${firstLine(err)}`, { subject: layer.path, cause: err });
  }
  return layerError(layer, firstLine(err), err);
}
