import { rm, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import {
  AppcError,
  END_OF_ARCHIVE,
  LayoutRules,
  encodeHeader,
  serializeImageManifest,
  tarPadding,
  writeFileAtomically,
  type ImageManifest,
  type TarEntry,
  type TarHeader,
} from '@rkt/appc-spec';
import { FetchError, firstLine } from '../errors.js';
import { layerError, readLayer, readLayerHeaders } from './layer-stream.js';
import { dockerImageManifest } from './manifest.js';
import { Squash, type Emission } from './squash.js';
import type { DockerImageSource, DockerLayerFile } from './types.js';

export type { DockerImageSource, DockerLayerFile } from './types.js';

const FLUSH_AT = 1 << 20;
const ZEROS = Buffer.alloc(512);

/**
 * Converts a Docker / OCI image (its config and its downloaded layer blobs) into one squashed ACI, as
 * docker2aci's squashed conversion did for rkt: an uncompressed tar (`manifest`, then `rootfs/...`). The layers
 * are read twice, as streams, and never extracted: pass one builds the squashed tree from their headers
 * (whiteouts, opaque directories, replaced paths, hardlinks), pass two copies the surviving members' contents.
 * The same inputs give the same bytes, whatever `out` is.
 *
 * `out` is a file path or a stream. To a path, the tar goes through a temp file beside it (fsynced, then renamed
 * over `out`), and nothing is left at `out` or beside it on failure. To a stream (the store's import, which reads
 * it as it comes: no file written and read back), writes wait for the stream to drain; on success the stream is
 * ended, on failure destroyed with the error, so that its reader fails too rather than take a partial tar for a
 * whole one (the caller listens for the stream's 'error', as for any stream it destroys). A stream that closes
 * early (its reader gave up) fails the conversion with FETCH_IO.
 *
 * Failures are `FetchError`s (`FETCH_DOCKER_CONVERT`, `FETCH_IO`) of one line naming the layer and member or the
 * config field. With `removeLayers`, each layer file is removed once pass two is past it (a pulled image's
 * layers are temp files: the disk holds less at once).
 */
export async function dockerToAci(
  src: DockerImageSource,
  out: string | Writable,
  o: { signal?: AbortSignal; removeLayers?: boolean } = {},
): Promise<{ manifest: ImageManifest }> {
  let manifest: ImageManifest;
  try {
    manifest = dockerImageManifest(src);
  } catch (err) {
    // A stream's reader is waiting for bytes: it must fail too, not wait for ever.
    if (typeof out !== 'string') out.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  }
  const manifestBytes = Buffer.from(serializeImageManifest(manifest), 'utf8');
  const { signal } = o;

  // Pass one: headers only. A failure here has written nothing (to a stream: destroyed below all the same).
  const fill = async (w: Output): Promise<void> => {
    const squash = new Squash();
    for (const layer of src.layers) {
      squash.beginLayer(layer);
      await readLayerHeaders(layer, (e) => squash.member(e), signal);
    }
    const plan = squash.plan(src.layers.length);
    w.add({ name: 'manifest', type: 'file', mode: 0o644, uid: 0, gid: 0, size: manifestBytes.length, mtime: 0 }, 'manifest');
    w.data(manifestBytes);
    w.pad(manifestBytes.length);
    w.add({ name: 'rootfs', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 }, 'rootfs');
    for (const d of plan.directories) w.add(d, d.name);
    await w.drain();

    // Pass two: the surviving members, each layer in its own order.
    for (const [i, layer] of src.layers.entries()) {
      const todo = plan.emissions[i]!;
      // A layer all of whose members later layers replaced or deleted is not read again.
      if (todo.length > 0) await copyLayer(w, layer, todo, plan.counts[i]!, signal);
      // The same blob twice in an image is one file: it goes after its last use.
      if (o.removeLayers === true && !src.layers.slice(i + 1).some((l) => l.path === layer.path)) await rm(layer.path, { force: true });
    }
    for (const t of plan.trailer) w.add(t, t.name);
    w.finish();
    await w.drain(true);
  };

  if (typeof out !== 'string') {
    const what = src.originalName ?? 'the converted image';
    try {
      await fill(new Output((buf) => writeStream(out, buf, what), what));
    } catch (err) {
      out.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    out.end();
    return { manifest };
  }

  let failure: unknown;
  try {
    await writeFileAtomically(out, true, async (fh) => {
      try {
        await fill(new Output((buf) => writeFile(fh, buf), out));
      } catch (err) {
        failure = err;
        throw err;
      }
    });
  } catch (err) {
    if (failure !== undefined) throw failure;
    throw new FetchError('FETCH_IO', firstLine(err), { subject: out, cause: err });
  }
  return { manifest };
}

async function writeFile(fh: FileHandle, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
}

/** The errors of a stream whose reader stopped: the reader's own failure is the one to report. */
const stopped = new WeakSet<object>();

/** The conversion failed only because the stream it wrote to was closed (by its reader, which has the story). */
export function readerStopped(err: unknown): boolean {
  return typeof err === 'object' && err !== null && stopped.has(err);
}

/** One batch into the stream, waiting for it to drain (backpressure) or fail (its reader stopped). */
async function writeStream(out: Writable, buf: Uint8Array, what: string): Promise<void> {
  const gone = (): FetchError => {
    const err = new FetchError('FETCH_IO', `${what}: the converted image's reader stopped before its end`, { subject: what });
    stopped.add(err);
    return err;
  };
  if (out.destroyed || out.writableEnded) throw gone();
  if (out.write(buf)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(gone());
    out.on('drain', onDrain);
    out.on('close', onClose);
  });
}

/** Pass two for one layer: the headers and contents of its surviving members, in its order, into `w`. */
async function copyLayer(w: Output, layer: DockerLayerFile, todo: readonly Emission[], count: number, signal: AbortSignal | undefined): Promise<void> {
  let next = 0;
  let seq = 0;
  let copying: Emission | undefined;
  const whole = await readLayer(
    layer,
    {
      entry: (e: TarEntry) => {
        const at = seq++;
        const em = todo[next];
        if (em === undefined || em.seq !== at) return false;
        next++;
        if (e.name !== em.source.name || e.size !== em.source.size || e.type !== em.source.type) {
          throw layerError(layer, `member ${at} changed between the two reads of the layer (${JSON.stringify(e.name)})`);
        }
        w.add(em.header, `layer ${layer.digest}: member ${JSON.stringify(e.name)}`);
        if (!em.contents || e.size === 0) return false;
        copying = em;
        return true;
      },
      data: (chunk) => w.data(chunk),
      end: () => {
        w.pad(copying!.header.size);
        copying = undefined;
      },
    },
    () => w.drain(),
    signal,
    // Past its last surviving member, the rest of the layer need not be inflated again.
    () => next === todo.length && copying === undefined,
  );
  if (next !== todo.length || (whole && seq !== count)) {
    throw layerError(layer, `has ${seq} members on the second read, ${count} on the first`);
  }
}

/**
 * The output tar: headers and contents batched into writes of about 1 MiB (a write per 512-byte header would
 * cost more than the data), each header checked against the ACI layout rules as a last guard (no duplicate, no
 * member under a symlink, hardlinks to earlier members only).
 */
class Output {
  private parts: Uint8Array[] = [];
  private length = 0;
  private readonly rules: LayoutRules;

  constructor(
    private readonly write: (buf: Uint8Array) => Promise<void>,
    source: string,
  ) {
    this.rules = new LayoutRules(source);
  }

  add(h: TarHeader, origin: string): void {
    try {
      this.rules.check({ name: h.name, type: h.type, linkname: h.linkname ?? '', offset: 0, origin });
    } catch (err) {
      if (err instanceof AppcError) throw new FetchError('FETCH_DOCKER_CONVERT', firstLine(err), { cause: err });
      throw err;
    }
    this.push(encodeHeader(h));
  }

  data(chunk: Uint8Array): void {
    this.push(chunk);
  }

  pad(size: number): void {
    const n = tarPadding(size);
    if (n > 0) this.push(ZEROS.subarray(0, n));
  }

  finish(): void {
    this.rules.finish();
    this.push(END_OF_ARCHIVE);
  }

  async drain(all = false): Promise<void> {
    if (this.length === 0 || (!all && this.length < FLUSH_AT)) return;
    const parts = this.parts;
    const total = this.length;
    this.parts = [];
    this.length = 0;
    await this.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts, total));
  }

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
}
