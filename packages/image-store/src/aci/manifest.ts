import { StoreError } from '../errors.js';
import type { Label } from '../records.js';

/**
 * The fields of an image manifest the store works with. Manifests are validated once, by @rkt/appc-spec's
 * `scanAci`, when an image is imported; the store reads them again (planning a render, adopting images after
 * a lost index) without zod, which rendering and listing must not load. So this reads, it does not validate:
 * a manifest on disk that lacks the shape is damage to the store, not a bad image.
 */
export interface Dependency {
  readonly imageName: string;
  readonly imageID: string | undefined;
  readonly labels: readonly Label[];
  readonly size: number | undefined;
}

export interface StoreManifest {
  readonly name: string;
  readonly labels: readonly Label[];
  readonly dependencies: readonly Dependency[];
  readonly pathWhitelist: readonly string[];
}

type Json = Record<string, unknown>;

function labelsOf(v: unknown): Label[] {
  return Array.isArray(v) ? v.map((l: Json) => ({ name: String(l.name), value: String(l.value) })) : [];
}

export function readStoreManifest(bytes: Uint8Array, source: string): StoreManifest {
  let m: Json;
  try {
    m = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as Json;
  } catch (err) {
    throw new StoreError('STORE_LAYOUT', `${source}: not valid JSON (${(err as Error).message})`, { subject: source, cause: err });
  }
  if (typeof m !== 'object' || m === null || typeof m.name !== 'string') {
    throw new StoreError('STORE_LAYOUT', `${source}: not an image manifest`, { subject: source });
  }
  const deps = Array.isArray(m.dependencies) ? (m.dependencies as Json[]) : [];
  return {
    name: m.name,
    labels: labelsOf(m.labels),
    dependencies: deps.map((d) => ({
      imageName: String(d.imageName),
      imageID: typeof d.imageID === 'string' ? d.imageID : undefined,
      labels: labelsOf(d.labels),
      size: typeof d.size === 'number' ? d.size : undefined,
    })),
    pathWhitelist: Array.isArray(m.pathWhitelist) ? (m.pathWhitelist as string[]) : [],
  };
}
