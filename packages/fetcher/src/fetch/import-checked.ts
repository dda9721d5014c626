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

/** The store and the manifest parser name `source` themselves: said once, at the start of the line. */
function withoutSource(err: unknown, source: string): string {
  const m = firstLine(err);
  // `<source>: entry ...` from the scan, `<source>:manifest: ...` from the manifest reader.
  return m.startsWith(`${source}:`) ? m.slice(source.length + 1).trimStart() : m;
}

/**
 * Imports `input` (a file or a stream) into the store, running `check` (manifest, ID and signature checks) between the store's
 * scan and its publishing: the archive is read once, and nothing is stored unless `check` passes. A broken
 * archive is FETCH_MISMATCH ("not a valid ACI"), as when the fetcher scanned it itself; `check`'s own
 * errors reach the caller as thrown.
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
            throw new FetchError('FETCH_MISMATCH', `${source}: not a valid ACI: ${withoutSource(err, source)}`, { subject: source, cause: err });
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
      throw new FetchError('FETCH_MISMATCH', `${source}: not a valid ACI: ${withoutSource(err, source)}`, { subject: source, cause: err });
    }
    throw err;
  }
}
