import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { finished, type Readable } from 'node:stream';
import { pidRuns } from '@rkt/appc-spec/lean';
import { DirectFileWriter, makeDirs, STALE_PARTIAL_MS } from '@rkt/image-store';
import { FetchError, firstLine } from '../errors.js';
import { createProgress, type ProgressSink } from '../progress.js';
import { isStrongEtag, maxAgeOf } from './cache.js';
import { contentLength, type HttpClient, type HttpResponse } from './client.js';
import { bodyFailure, EarlyClose, isTransient, isTransientStatus } from './failures.js';
import { pauseBeforeRetry, retryAfterOf } from './retry.js';

export type DownloadResult =
  | { readonly status: 'not-modified'; readonly etag: string | undefined; readonly maxAge: number | undefined }
  | {
      readonly status: 'downloaded';
      /** The complete file; the caller removes it when done. */
      readonly file: string;
      readonly etag: string | undefined;
      readonly maxAge: number | undefined;
      readonly size: number;
      /** Bytes taken over from an earlier, interrupted download (0 when it started from scratch). */
      readonly resumedFrom: number;
    };

export interface DownloadOptions {
  /** Directory for partial downloads; one that survives a killed process lets the next run resume. */
  readonly partialDir: string;
  /** The ETag of the copy we have: sent as If-None-Match, so an unchanged image is answered by a 304. */
  readonly ifNoneMatch?: string;
  readonly progress?: ProgressSink;
  readonly label?: string;
  /** Attempts in this process when the connection breaks mid-body (default 5). */
  readonly maxAttempts?: number;
  /**
   * Called when a complete body starts (a 200 with nothing resumed): the returned sink gets every byte as it
   * arrives, in 1 MiB batches, besides the part file, so the caller works while the download runs. A body
   * that breaks, or anything but a first 200, aborts the sink: the caller then works from the file. An error
   * thrown here ends the download with that error.
   */
  readonly stream?: (info: { readonly etag: string | undefined; readonly maxAge: number | undefined; readonly size: number | undefined }) => Promise<DownloadSink | undefined>;
}

/** The consumer of a streamed body. `write` may wait (backpressure); `abort` means "use the file instead". */
export interface DownloadSink {
  write(chunk: Buffer): Promise<void> | void;
  end(): void;
  abort(reason: unknown): void;
}

interface PartialMeta {
  readonly url: string;
  readonly etag: string;
}

/** Part files this process is writing now; its other parts (from failed downloads) may be resumed. */
const inUse = new Set<string>();

/** Whether the part's owner may still be writing it: another live process, or a download of ours in progress. */
function busy(dir: string, name: string, pid: number): boolean {
  return pid === process.pid ? inUse.has(join(dir, name)) : pidRuns(pid);
}


/**
 * Takes over a partial download of `url` left by a dead process: renaming it to our own name is atomic,
 * so of two processes starting at once exactly one gets it and the other starts from scratch.
 */
async function claimPartial(dir: string, key: string, own: string): Promise<PartialMeta | undefined> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const any = /^[0-9a-f]{32}-(\d+)-[0-9a-f]+\.part$/.exec(name);
    if (any !== null && !name.startsWith(`${key}-`) && !busy(dir, name, Number(any[1]))) {
      // Another URL's leftover: resumable for a week, then only disk space.
      const st = await stat(join(dir, name)).catch(() => undefined);
      if (st !== undefined && Date.now() - st.mtimeMs > STALE_PARTIAL_MS) {
        await rm(join(dir, name), { force: true });
        await rm(join(dir, `${name}.json`), { force: true });
      }
      continue;
    }
    const m = new RegExp(`^${key}-(\\d+)-[0-9a-f]+\\.part$`).exec(name);
    if (m === null || busy(dir, name, Number(m[1]))) continue;
    const meta = await readFile(join(dir, `${name}.json`), 'utf8').then((t) => JSON.parse(t) as PartialMeta).catch(() => undefined);
    try {
      await rename(join(dir, name), own);
    } catch {
      continue; // another process claimed it first
    }
    await rm(join(dir, `${name}.json`), { force: true });
    if (meta !== undefined && isStrongEtag(meta.etag)) return meta;
    await rm(own, { force: true });
  }
  return undefined;
}

function parseContentRange(v: string | undefined): { start: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v ?? '');
  if (m === null) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/**
 * Downloads `url` into a file under `partialDir`, resuming with `Range` + `If-Range` when the
 * connection breaks (up to `maxAttempts` in this process) or when an earlier process died mid-way. A
 * server that ignores the range (200) or whose ETag changed restarts the file from zero.
 */
export async function download(http: HttpClient, url: URL, opts: DownloadOptions): Promise<DownloadResult> {
  await makeDirs(opts.partialDir, 0o700);
  const key = createHash('sha256').update(url.href).digest('hex').slice(0, 32);
  const own = join(opts.partialDir, `${key}-${process.pid}-${randomBytes(4).toString('hex')}.part`);
  inUse.add(own);
  let meta: PartialMeta | undefined;
  try {
    meta = await claimPartial(opts.partialDir, key, own);
  } catch (err) {
    inUse.delete(own);
    throw err;
  }
  let have = meta === undefined ? 0 : (await stat(own)).size;
  const maxAttempts = opts.maxAttempts ?? 5;
  let resumedFrom = have;
  let lastError: unknown;
  let ok = false;
  try {
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const headers: Record<string, string> = {};
      if (opts.ifNoneMatch !== undefined && have === 0) headers['if-none-match'] = opts.ifNoneMatch;
      if (have > 0 && meta !== undefined) {
        headers.range = `bytes=${have}-`;
        headers['if-range'] = meta.etag;
      }
      let res: HttpResponse;
      try {
        res = await http.get(url, headers);
      } catch (err) {
        // A redirect loop, a refused certificate or plain http would only fail the same way again.
        if (!isTransient(err)) throw err;
        lastError = err;
        await pauseBeforeRetry(attempt, maxAttempts);
        continue;
      }
      const etag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
      const maxAge = maxAgeOf(res.headers);
      if (res.status === 304 && have === 0 && opts.ifNoneMatch !== undefined) {
        res.body.resume();
        return { status: 'not-modified', etag: etag ?? opts.ifNoneMatch, maxAge };
      }
      let append = false;
      if (res.status === 206) {
        const cr = parseContentRange(res.headers['content-range']);
        if (cr === undefined || cr.start !== have) {
          res.body.destroy();
          throw new FetchError('FETCH_HTTP', `${url.href}: bad Content-Range ${JSON.stringify(res.headers['content-range'])} for a resume at byte ${have}`, { subject: url.href });
        }
        append = true;
      } else if (res.status === 200) {
        have = 0;
        resumedFrom = 0;
      } else if (res.status === 416 && have > 0) {
        // The partial file no longer fits the resource: start again.
        res.body.resume();
        have = 0;
        resumedFrom = 0;
        meta = undefined;
        continue;
      } else {
        res.body.resume();
        const err = new FetchError('FETCH_HTTP', `${res.url.href}: bad HTTP status code: ${res.status}`, { subject: url.href, transient: isTransientStatus(res.status) });
        if (!err.transient) throw err;
        lastError = err;
        await pauseBeforeRetry(attempt, maxAttempts, retryAfterOf(res, res.url));
        continue;
      }
      meta = etag === undefined ? undefined : { url: url.href, etag };
      // A new body's ETag goes beside an empty part: written while the part still held an earlier body's bytes
      // (a part taken over, or an earlier attempt's) and before the writer below truncated it, a kill between
      // the two left those bytes under this ETag, and the next process resumed them with this body's rest.
      if (!append) await truncate(own).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
      if (meta !== undefined) await writeMeta(own, meta);
      else await rm(`${own}.json`, { force: true });
      const length = contentLength(res.headers);
      const total = length === undefined ? undefined : have + length;
      const progress = createProgress(opts.progress, opts.label ?? `Downloading ${url.pathname.split('/').pop() ?? 'file'}`, total);
      let sink: DownloadSink | undefined;
      if (opts.stream !== undefined && res.status === 200 && attempt === 1 && resumedFrom === 0) {
        try {
          sink = await opts.stream({ etag, maxAge, size: total });
        } catch (err) {
          res.body.destroy();
          throw err;
        }
      }
      // A fresh file goes to the disk around the page cache (DirectFileWriter): it is read again only to resume
      // or to import a download that could not stream, and a 300 MB image in the page cache cost ~0.5 s of
      // kernel CPU beside the import. An append (a resume) is written as before.
      const out: PartSink = append ? await appendSink(own) : DirectFileWriter.open(own, { mode: 0o600 });
      let received = have;
      // TLS hands over 16 KiB records: written in batches of up to 1 MiB, a write (and an await) per record
      // would cost more than the network does on a fast link.
      let batch: Buffer[] = [];
      let batched = 0;
      const flush = async () => {
        if (batched === 0) return;
        const data = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batched);
        batch = [];
        batched = 0;
        await Promise.all([out.write(data), sink?.write(data)]);
      };
      try {
        try {
          await eachChunk(res.body, (chunk) => {
            batch.push(chunk);
            batched += chunk.length;
            received += chunk.length;
            progress.update(received);
            return batched >= 1 << 20 ? flush() : undefined;
          });
        } finally {
          await flush();
        }
        // No fsync: the part is a cache of the network, and what is imported from it is checked (signature,
        // image ID) and made durable by the store; a part a power loss damaged only makes a fetch fail.
        if (total !== undefined && received !== total) throw new EarlyClose(received, total);
        await out.end();
        sink?.end();
      } catch (caught) {
        const err = bodyFailure(caught, received, total);
        sink?.abort(err);
        res.body.destroy();
        // What a resume is for: the connection cut or stalled. A write to the part file that failed would fail again.
        if (!isTransient(err)) throw err;
        lastError = err;
        // Keep what arrived: the next attempt (or process) asks only for the rest, from what the file holds.
        const kept = await out.end().then(() => stat(own).then((st) => st.size), () => 0);
        have = meta !== undefined && isStrongEtag(meta.etag) ? Math.min(received, kept) : 0;
        continue;
      } finally {
        await out.end().catch(() => undefined);
        progress.done();
      }
      ok = true;
      return { status: 'downloaded', file: own, etag, maxAge, size: received, resumedFrom };
    }
    throw new FetchError('FETCH_HTTP', `${url.href}: download failed after ${maxAttempts} attempts: ${reasonOf(lastError, url)}`, { subject: url.href, cause: lastError, transient: true });
  } finally {
    inUse.delete(own);
    await rm(`${own}.json`, { force: true });
    // A complete file belongs to the caller; an interrupted one is kept (with its ETag) only if resumable.
    if (!ok && (meta === undefined || have === 0)) await rm(own, { force: true });
    else if (!ok && meta !== undefined) await writeMeta(own, meta).catch(() => undefined);
  }
}

/** The last attempt's failure, without the URL when it is the one the message already names. */
function reasonOf(err: unknown, url: URL): string {
  const line = firstLine(err);
  return line.startsWith(`${url.href}: `) ? line.slice(url.href.length + 2) : line;
}

/**
 * Hands every chunk of `body` to `onChunk` as it arrives, the body paused while a promise it returned is
 * pending; settles when the body ended (after that promise), or with its error. `for await` would take
 * what the body buffered with `read()`, which first copies the 16 KiB TLS records into one new buffer:
 * a third copy of every byte (with the batch and the inflated output) for the garbage collector to track.
 */
export function eachChunk(body: Readable, onChunk: (chunk: Buffer) => Promise<void> | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let pending: Promise<void> | undefined;
    const onData = (chunk: Buffer) => {
      let wait: Promise<void> | undefined;
      try {
        wait = onChunk(chunk);
      } catch (err) {
        body.destroy(err as Error);
        return;
      }
      if (wait === undefined) return;
      body.pause();
      pending = wait.then(() => {
        pending = undefined;
        body.resume();
      }, (err: unknown) => {
        pending = undefined;
        body.destroy(err as Error);
      });
    };
    body.on('data', onData);
    // Its listeners stay after the callback, as finished() leaves them on purpose: a response cut off by the
    // server ends ('aborted') before Node emits its ECONNRESET error, which with no listener left was an
    // uncaught exception in the middle of a fetch that would have resumed.
    finished(body, (err) => {
      body.off('data', onData);
      void (pending ?? Promise.resolve()).then(() => (err == null ? resolve() : reject(err)));
    });
  });
}

async function writeMeta(own: string, meta: PartialMeta): Promise<void> {
  const fh = await open(`${own}.json`, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(meta));
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Where a download's bytes go: a DirectFileWriter, or an append to the part file of an earlier attempt. */
interface PartSink {
  write(data: Buffer): Promise<void>;
  /** Writes what is left and closes; again, a no-op. */
  end(): Promise<void>;
}

async function appendSink(path: string): Promise<PartSink> {
  const fh = await open(path, 'a', 0o600);
  let closing: Promise<void> | undefined;
  return {
    write: async (data) => {
      await fh.write(data);
    },
    end: () => (closing ??= fh.close()),
  };
}
