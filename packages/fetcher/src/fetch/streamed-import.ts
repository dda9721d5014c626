import { PassThrough } from 'node:stream';
import type { ImportOptions, ImportResult } from '@rkt/image-store';
import type { DownloadSink } from '../http/download.js';
import type { DigestVerifier } from '../keystore/digest-verify.js';
import type { FetchContext } from './context.js';
import { importChecked, type ScannedAci } from './import-checked.js';

/**
 * An import fed by a download as it arrives: the bytes go to the signature's hash and to the store's scan
 * (inflate, image ID, layout rules, blob) at once, instead of a download, then a read for the signature,
 * then a read for the import. `check` still runs between the scan and publishing, so nothing is stored
 * before the signature and manifest checks pass.
 */
export interface StreamedImport {
  readonly sink: DownloadSink;
  /** Settles with the import; rejects with `aborted` set when the download gave up streaming. */
  readonly result: Promise<ImportResult>;
  /** The download broke and restarted: the file, not the stream, has the image. */
  aborted(): boolean;
}

export function startStreamedImport(
  ctx: FetchContext, source: string, verifier: DigestVerifier | undefined,
  opts: Omit<ImportOptions, 'check' | 'source'>, check: (scan: ScannedAci) => Promise<void>,
): StreamedImport {
  // Big chunks both ways: the download hands over 1 MiB batches, and inflate works best on them.
  const pass = new PassThrough({ highWaterMark: 4 << 20 });
  // An abort destroys `pass` with the download's error, which the import sees through its read. Before the
  // store listens (the import loads the manifest parser first) or after it stopped, that 'error' had no
  // listener: an uncaught exception, ending the process in the middle of a download it would have resumed.
  pass.on('error', () => undefined);
  let settled = false;
  let wasAborted = false;
  // The signature covers every byte served: the checks wait for the end of the download even when the
  // archive ended earlier (gzip ignores what follows its end), and meanwhile the rest is only hashed.
  let scanned = false;
  let onScanned: (() => void) | undefined;
  const scanEnded = new Promise<void>((resolve) => { onScanned = resolve; });
  let onEnded: (() => void) | undefined;
  const downloadEnded = new Promise<void>((resolve) => { onEnded = resolve; });
  const result = importChecked(ctx, pass, source, opts, async (scan) => {
    scanned = true;
    onScanned?.();
    await downloadEnded;
    if (wasAborted) throw new Error(`${source}: the download broke after the archive ended`);
    await check(scan);
  });
  // Whatever happens to the import, the download keeps writing (a failed import is reported after the
  // download, when the signature can say whether the bytes were tampered with).
  const done = result.then(() => undefined, () => undefined).finally(() => { settled = true; });
  result.catch(() => undefined);
  const sink: DownloadSink = {
    async write(chunk) {
      verifier?.update(chunk);
      if (settled || scanned || pass.destroyed) return;
      if (!pass.write(chunk)) {
        await Promise.race([new Promise<void>((resolve) => pass.once('drain', resolve)), done, scanEnded]);
      }
    },
    end() {
      pass.end();
      onEnded?.();
    },
    abort(reason) {
      wasAborted = true;
      pass.destroy(reason instanceof Error ? reason : new Error(String(reason)));
      onEnded?.();
    },
  };
  return { sink, result, aborted: () => wasAborted };
}
