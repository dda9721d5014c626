import type { ImageManifest } from '@rkt/appc-spec';
import { FetchError } from '../errors.js';
import type { AppName } from '../image-string.js';

/**
 * discovery.md: the name and labels asked for must match the manifest; a label not asked for may have
 * any value. rkt's messages, prefixed with where the image came from.
 */
export function checkManifest(manifest: ImageManifest, want: AppName, source: string): void {
  if (manifest.name !== want.name) {
    throw new FetchError('FETCH_MISMATCH',
      `${source}: error when reading the app name: ${JSON.stringify(want.name)} expected but ${JSON.stringify(manifest.name)} found`, { subject: source });
  }
  const labels = manifest.labels ?? [];
  for (const l of want.labels) {
    const got = labels.find((m) => m.name === l.name);
    if (got === undefined) {
      throw new FetchError('FETCH_MISMATCH', `${source}: requested label ${JSON.stringify(l.name)} not provided by the image manifest`, { subject: source });
    }
    if (got.value !== l.value) {
      throw new FetchError('FETCH_MISMATCH',
        `${source}: requested value for label ${JSON.stringify(l.name)}: ${JSON.stringify(l.value)} differs from fetched aci label value: ${JSON.stringify(got.value)}`, { subject: source });
    }
  }
}
