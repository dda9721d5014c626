import { posix } from 'node:path';
import type { ImageRecord } from '@rkt/image-store';
import type { ApiImage, ImageFilter, KeyValue } from './messages.js';
import { APPC_VERSION, hasAll, keyValues } from './pods.js';

/** An image as the store has it: its record and its manifest's bytes (as they were in the ACI). */
export interface ImageView {
  readonly record: ImageRecord;
  readonly manifest: Buffer;
}

function manifestDoc(bytes: Buffer): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * The API's Image, as rkt built it from the store: the manifest's name, its "version" label ("latest" without
 * one), labels and annotations, the import time in seconds, the bytes the image takes (its ACI and its rendered
 * tree) and, with `withManifest`, the manifest's bytes.
 */
export function toApiImage(img: ImageView, withManifest: boolean): ApiImage {
  const doc = manifestDoc(img.manifest);
  const labels: KeyValue[] = keyValues(doc.labels);
  return {
    base_format: { type: 'IMAGE_TYPE_APPC', version: APPC_VERSION },
    id: img.record.id,
    name: img.record.name,
    version: labels.find((l) => l.Key === 'version')?.value ?? 'latest',
    import_timestamp: String(Math.floor(img.record.importedAt / 1000)),
    ...(withManifest ? { manifest: img.manifest } : {}),
    size: String(img.record.blobSize + img.record.treeSize),
    annotations: keyValues(doc.annotations),
    labels,
  };
}

/** int64 text as a number: the seconds of a filter's times fit in a double. */
const seconds = (s: string) => Number(s);

/** rkt's satisfiesImageFilter: every condition the filter gives holds (see ImageFilter in api.proto). */
export function matchesImageFilter(image: ApiImage, f: ImageFilter): boolean {
  const name = image.name ?? '';
  const ts = seconds(image.import_timestamp ?? '0');
  if (f.ids.length > 0 && !f.ids.includes(image.id)) return false;
  if (f.full_names.length > 0 && !f.full_names.includes(name)) return false;
  if (f.prefixes.length > 0 && !f.prefixes.some((p) => name.startsWith(p))) return false;
  if (f.base_names.length > 0 && !f.base_names.some((b) => posix.basename(name) === b)) return false;
  if (f.keywords.length > 0 && !f.keywords.some((k) => name.includes(k))) return false;
  if (seconds(f.imported_after) > 0 && ts <= seconds(f.imported_after)) return false;
  if (seconds(f.imported_before) > 0 && ts >= seconds(f.imported_before)) return false;
  if (!hasAll(image.labels ?? [], f.labels)) return false;
  if (!hasAll(image.annotations ?? [], f.annotations)) return false;
  return true;
}

/** No filters match every image; otherwise any one filter must hold. */
export function matchesAnyImageFilter(image: ApiImage, filters: readonly ImageFilter[]): boolean {
  return filters.length === 0 || filters.some((f) => matchesImageFilter(image, f));
}
