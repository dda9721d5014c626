import type { ImageManifest } from '@rkt/appc-spec';
import { StoreError, type AciInput, type ImportOptions, type ImportResult } from '@rkt/image-store';
import { FetchError, firstLine } from '../errors.js';
import type { FetchContext } from './context.js';

/** What the store's import found, for the checks that decide whether it may store it. */
export interface ScannedAci {
  readonly manifest: ImageManifest;
  readonly imageId: string;
}

const ARCHIVE_ERRORS = new Set(['STORE_ACI_FORMAT', 'STORE_ACI_UNSAFE', 'STORE_MANIFEST', 'STORE_ACI_TOO_LARGE']);

/**
 * The archive's fault in the words the store and the manifest parser use (`<source>: manifest: <path>: ...`,
 * `<source>: entry ...`): run, prepare and --stage1-path import files through the store and print those words
 * as they are, so fetch must not reword them; `source` is added only to a message that does not name it.
 */
function archiveFault(err: unknown, source: string): FetchError {
  const m = firstLine(err);
  return new FetchError('FETCH_MISMATCH', m.startsWith(`${source}: `) ? m : `${source}: ${m}`, { subject: source, cause: err });
}

/**
 * Imports `input` (a file or a stream) into the store, running `check` (manifest, ID and signature checks) between the store's
 * scan and its publishing: the archive is read once, and nothing is stored unless `check` passes. A broken
 * archive is FETCH_MISMATCH, worded as the store words it (archiveFault); `check`'s own errors reach the caller
 * as thrown.
 */
export async function importChecked(
  ctx: FetchContext, input: AciInput, source: string, opts: Omit<ImportOptions, 'check' | 'source'>,
  check: (scan: ScannedAci) => Promise<void>,
): Promise<ImportResult> {
  const { parseImageManifest } = await import('@rkt/appc-spec');
  let checkError: unknown;
  try {
    return await ctx.store.importAci(input, {
      ...opts,
      source,
      check: async (scan) => {
        try {
          let manifest: ImageManifest;
          try {
            manifest = parseImageManifest(scan.manifest, `${source}: manifest`);
          } catch (err) {
            throw archiveFault(err, source);
          }
          await check({ manifest, imageId: scan.imageId });
        } catch (err) {
          // The store reports foreign errors as its own STORE_IO: keep ours as they were.
          checkError = err;
          throw err;
        }
      },
    });
  } catch (err) {
    if (checkError !== undefined) throw checkError;
    if (err instanceof StoreError && ARCHIVE_ERRORS.has(err.code)) {
      throw archiveFault(err, source);
    }
    throw err;
  }
}
