import { StoreError } from '../errors.js';
import type { Label } from '../records.js';

/**
 * What the store needs from an image manifest. Structural checks only; full appc validation belongs to
 * @rkt/appc-spec. Kept free of zod so that rendering and listing do not load it.
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

const AC_IDENTIFIER_RE = /^[a-z0-9]+(?:[-._~/][a-z0-9]+)*$/;
const AC_NAME_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

function bad(source: string, message: string): never {
  throw new StoreError('STORE_MANIFEST', `${source}: ${message}`, { subject: source });
}

function readLabels(v: unknown, where: string, source: string): Label[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(source, `${where}: must be an array`);
  const seen = new Set<string>();
  return v.map((l: unknown, i) => {
    const o = l as { name?: unknown; value?: unknown };
    if (typeof l !== 'object' || l === null || typeof o.name !== 'string' || typeof o.value !== 'string') {
      bad(source, `${where}[${i}]: must be {"name": string, "value": string}`);
    }
    if (!AC_NAME_RE.test(o.name)) bad(source, `${where}[${i}].name: must be an AC Name`);
    if (seen.has(o.name)) bad(source, `${where}[${i}].name: duplicate label ${JSON.stringify(o.name)}`);
    seen.add(o.name);
    return { name: o.name, value: o.value };
  });
}

export function parseStoreManifest(bytes: Uint8Array, source: string): StoreManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    bad(source, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) bad(source, 'must be a JSON object');
  const m = doc as Record<string, unknown>;
  if (m.acKind !== 'ImageManifest') bad(source, `acKind: must be "ImageManifest", not ${JSON.stringify(m.acKind)}`);
  if (typeof m.acVersion !== 'string') bad(source, 'acVersion: must be a string');
  if (typeof m.name !== 'string' || !AC_IDENTIFIER_RE.test(m.name)) bad(source, 'name: must be an AC Identifier');
  const labels = readLabels(m.labels, 'labels', source);
  const deps = m.dependencies ?? [];
  if (!Array.isArray(deps)) bad(source, 'dependencies: must be an array');
  const dependencies = deps.map((d: unknown, i): Dependency => {
    const o = d as Record<string, unknown>;
    if (typeof d !== 'object' || d === null) bad(source, `dependencies[${i}]: must be an object`);
    if (typeof o.imageName !== 'string' || !AC_IDENTIFIER_RE.test(o.imageName)) bad(source, `dependencies[${i}].imageName: must be an AC Identifier`);
    if (o.imageID !== undefined && (typeof o.imageID !== 'string' || !/^sha512-[0-9a-f]{1,128}$/.test(o.imageID))) {
      bad(source, `dependencies[${i}].imageID: must be an image ID ("sha512-" and hex digits)`);
    }
    if (o.size !== undefined && (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0)) {
      bad(source, `dependencies[${i}].size: must be a non-negative integer`);
    }
    return {
      imageName: o.imageName,
      imageID: o.imageID as string | undefined,
      labels: readLabels(o.labels, `dependencies[${i}].labels`, source),
      size: o.size as number | undefined,
    };
  });
  const pwl = m.pathWhitelist ?? [];
  if (!Array.isArray(pwl) || pwl.some((p) => typeof p !== 'string' || !p.startsWith('/'))) {
    bad(source, 'pathWhitelist: must be an array of absolute paths');
  }
  return { name: m.name, labels, dependencies, pathWhitelist: pwl as string[] };
}
