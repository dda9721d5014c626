import { StoreError } from './errors.js';
import type { IndexTx } from './index-db.js';
import type { ImageRecord, Label } from './records.js';
import { parseAppString } from './app-string.js';
import { imageIdPrefix } from './image-id.js';

/** An image given by name and labels, the way rkt's `name:version,label=value` syntax spells it. */
export interface ImageQuery {
  readonly name: string;
  readonly labels?: readonly Label[];
}

/** What `get`, `resolve`, `remove`, `render` and friends accept: an ID, an ID prefix, `name[:version]`, or a query. */
export type ImageRef = string | ImageQuery;

function describe(q: ImageQuery): string {
  const labels = (q.labels ?? []).map((l) => `${l.name}=${l.value}`).join(',');
  return labels === '' ? q.name : `${q.name},${labels}`;
}

/**
 * An image ID (prefix), or an appc image string (parseAppString, the fetcher's reader too). Unlike the
 * fetcher, no os or arch label is added: rkt's store lookups (getStoreKeyFromApp) matched only the labels
 * given, so an image without os/arch labels, or built for another platform, is still found by its name.
 */
export function parseImageRef(ref: string): { id: string } | { query: ImageQuery } {
  if (ref.startsWith('sha512-')) return { id: imageIdPrefix(ref, (message) => new StoreError('STORE_BAD_REFERENCE', message, { subject: ref })) };
  const { name, labels } = parseAppString(ref, (message) => new StoreError('STORE_BAD_REFERENCE', message, { subject: ref }));
  return { query: labels.length === 0 ? { name } : { name, labels } };
}

/**
 * rkt's rules: every label asked for must match. With a version asked for, the newest import of it wins;
 * without one, an image fetched as "latest" wins, then the newest import.
 */
export function pickByName(images: readonly ImageRecord[], q: ImageQuery): ImageRecord | undefined {
  const matches = allByName(images, q);
  if (!(q.labels ?? []).some((l) => l.name === 'version')) {
    const latest = matches.find((m) => m.latest);
    if (latest !== undefined) return latest;
  }
  return matches[0];
}

/** Every image with the name whose labels include all those asked for, newest import first. */
function allByName(images: readonly ImageRecord[], q: ImageQuery): ImageRecord[] {
  const want = q.labels ?? [];
  const matches = images.filter((img) => img.name === q.name &&
    want.every((w) => img.labels.some((l) => l.name === w.name && l.value === w.value)));
  return matches.sort((a, b) => b.importedAt - a.importedAt || (a.id < b.id ? -1 : 1));
}

/** Every image `ref` names: an ID or prefix names one, a name (and labels) every image that matches. */
export function lookupAllIn(images: readonly ImageRecord[], ref: ImageRef): ImageRecord[] {
  const parsed = typeof ref === 'string' ? parseImageRef(ref) : { query: ref };
  if ('id' in parsed) return [lookupIn(images, ref)];
  const found = allByName(images, parsed.query);
  if (found.length === 0) throw notFound(parsed.query);
  return found;
}

function notFound(q: ImageQuery): StoreError {
  return new StoreError('STORE_NOT_FOUND', `no image named ${describe(q)} in the store`, { subject: q.name });
}

export async function lookup(tx: IndexTx, ref: ImageRef): Promise<ImageRecord> {
  return lookupIn(await tx.images(), ref);
}

/** The one image `ref` names among `images`. */
export function lookupIn(images: readonly ImageRecord[], ref: ImageRef): ImageRecord {
  const parsed = typeof ref === 'string' ? parseImageRef(ref) : { query: ref };
  if ('id' in parsed) {
    const { id } = parsed;
    if (id.length === 7 + 128) {
      const img = images.find((i) => i.id === id);
      if (img === undefined) throw new StoreError('STORE_NOT_FOUND', `no image with ID ${id} in the store`, { subject: id });
      return img;
    }
    const found = images.filter((i) => i.id.startsWith(id));
    if (found.length === 0) throw new StoreError('STORE_NOT_FOUND', `no image ID starts with ${id}`, { subject: id });
    if (found.length > 1) {
      throw new StoreError('STORE_AMBIGUOUS', `image ID prefix ${id} matches ${found.length} images; give more digits`, { subject: id });
    }
    return found[0] as ImageRecord;
  }
  const img = pickByName(images, parsed.query);
  if (img === undefined) throw notFound(parsed.query);
  return img;
}
