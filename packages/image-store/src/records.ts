/**
 * The records the index holds. They are written and read only by this package, so they are checked by a
 * few cheap guards on read instead of zod: `rkt image list` must not pay zod's load time.
 */
export interface Label {
  readonly name: string;
  readonly value: string;
}

export interface ImageRecord {
  /** Full image ID: `sha512-` and 128 hex digits, the hash of the uncompressed ACI. */
  readonly id: string;
  readonly name: string;
  readonly labels: readonly Label[];
  /** Milliseconds since the epoch. */
  readonly importedAt: number;
  readonly lastUsedAt: number;
  /** Size of the stored (uncompressed) ACI in bytes. */
  readonly blobSize: number;
  /** Bytes of the image's rendered tree (with dependencies), 0 until first rendered. */
  readonly treeSize: number;
  /** Set by the fetcher when the image was fetched without a version, as "the latest". */
  readonly latest: boolean;
}

export interface TreeRecord {
  /** `deps-sha512-...`: a hash of the ordered image IDs (and whitelists) that make up the tree. */
  readonly id: string;
  /** The image the tree renders (the top of the dependency graph). */
  readonly imageId: string;
  /** Every image extracted into the tree, in extraction order (dependencies first, `imageId` last). */
  readonly layers: readonly string[];
  /** `tree2-sha256-...` (or `sha256-...` from an earlier rkt-ts) over the rendered files (see tree-hash.ts). */
  readonly contentHash: string;
  readonly size: number;
  readonly renderedAt: number;
}

export interface RemoteRecord {
  readonly url: string;
  readonly signatureUrl: string | undefined;
  readonly etag: string | undefined;
  /** Seconds the download may be reused without asking the server again (HTTP `Cache-Control: max-age`). */
  readonly cacheMaxAge: number | undefined;
  readonly downloadedAt: number;
  readonly imageId: string;
}

export const IMAGE_ID_RE = /^sha512-[0-9a-f]{128}$/;

export function isImageRecord(v: unknown): v is ImageRecord {
  const r = v as ImageRecord;
  return typeof v === 'object' && v !== null && typeof r.id === 'string' && typeof r.name === 'string' &&
    Array.isArray(r.labels) && typeof r.importedAt === 'number' && typeof r.lastUsedAt === 'number' &&
    typeof r.blobSize === 'number' && typeof r.treeSize === 'number' && typeof r.latest === 'boolean';
}

export function isTreeRecord(v: unknown): v is TreeRecord {
  const r = v as TreeRecord;
  return typeof v === 'object' && v !== null && typeof r.id === 'string' && typeof r.imageId === 'string' &&
    Array.isArray(r.layers) && typeof r.contentHash === 'string' && typeof r.size === 'number';
}

export function isRemoteRecord(v: unknown): v is RemoteRecord {
  const r = v as RemoteRecord;
  return typeof v === 'object' && v !== null && typeof r.url === 'string' && typeof r.imageId === 'string' &&
    typeof r.downloadedAt === 'number';
}
