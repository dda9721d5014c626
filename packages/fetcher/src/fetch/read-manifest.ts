import type { ImageManifest } from '@rkt/appc-spec';
import { FetchError, firstLine } from '../errors.js';

/** The manifest and image ID of a downloaded ACI, checked by appc-spec's scanner before the store sees it. */
export async function readAci(file: string, source: string): Promise<{ manifest: ImageManifest; imageId: string }> {
  const { scanAci } = await import('@rkt/appc-spec');
  try {
    const scan = await scanAci(file, { source });
    return { manifest: scan.manifest, imageId: scan.imageId };
  } catch (err) {
    throw new FetchError('FETCH_MISMATCH', `${source}: not a valid ACI: ${firstLine(err)}`, { subject: source, cause: err });
  }
}
