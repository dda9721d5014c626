import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { FetchError, firstLine } from '../errors.js';
import { TarSink } from './tar-sink.js';

/**
 * One layer blob on its way in, across the attempts that fetch it: its bytes as served go through the blob's
 * sha256 and the TarSink (inflate, the tar's sha256, the file) in order, whichever response carried them, so an
 * attempt that resumes with `Range` continues the same pipeline and the checks at the end cover every byte.
 * `sink` also gets each chunk (the partial copy kept for a later process); its promise is backpressure too.
 */
export class LayerBody {
  private readonly hash = createHash('sha256');
  /** Bytes of the blob handed on so far: where a resume asks to start. */
  received = 0;

  private constructor(
    readonly tmp: string,
    private readonly fh: FileHandle,
    private readonly tar: TarSink,
    private readonly sink: ((chunk: Buffer) => Promise<void> | undefined) | undefined,
  ) {}

  /** A body writing its tar to `tmp` (created, refused if it exists). `refuse` names a compression not supported. */
  static async open(tmp: string, refuse: (compression: string) => Error, sink?: (chunk: Buffer) => Promise<void> | undefined): Promise<LayerBody> {
    let fh: FileHandle;
    try {
      fh = await open(tmp, 'wx', 0o600);
    } catch (err) {
      throw new FetchError('FETCH_IO', `${tmp}: ${firstLine(err)}`, { subject: tmp, cause: err });
    }
    return new LayerBody(tmp, fh, new TarSink(fh, refuse), sink);
  }

  /**
   * The next chunk of the blob; the promise (if any) is backpressure. A write to the file that failed is FETCH_IO.
   * `copy: false` for bytes that come from the partial copy itself.
   */
  write(chunk: Buffer, copy = true): Promise<void> | undefined {
    this.hash.update(chunk);
    this.received += chunk.length;
    let toTar: Promise<void> | undefined;
    try {
      toTar = this.tar.write(chunk);
    } catch (err) {
      throw err instanceof FetchError ? err : new FetchError('FETCH_IO', `${this.tmp}: ${firstLine(err)}`, { subject: this.tmp, cause: err });
    }
    const toSink = copy ? this.sink?.(chunk) : undefined;
    if (toSink === undefined) return toTar;
    return toTar === undefined ? toSink : Promise.all([toTar, toSink]).then(() => undefined);
  }

  /** The sha256 of every byte handed on, as `sha256:HEX`. Once: it ends the hash. */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }

  /** After the whole blob (its digest checked): the tar's sha256 once the file has every byte. */
  async end(): Promise<string> {
    return (await this.tar.end()).diffId;
  }

  /** Stops the inflate and closes the file; `remove` also deletes it (a body given up, or a failed layer). */
  async close(remove: boolean): Promise<void> {
    await this.tar.destroy();
    await this.fh.close().catch(() => undefined);
    if (remove) await rm(this.tmp, { force: true });
  }
}
