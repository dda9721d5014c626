import { ValidationError } from '../errors.js';
import type { ImageManifest } from '../manifest/image-manifest.js';
import { parseJson } from '../manifest/json.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isNameValueArray = (v: unknown): boolean =>
  Array.isArray(v) && v.every((x) => isObject(x) && typeof x.name === 'string' && typeof x.value === 'string');

/**
 * An image manifest that passed `parseImageManifest` before (the store's copy, written at import, or a
 * pod's copy of it), read without zod. Checks the shape the runtime relies on (kind, name, the app's
 * exec, user, group and environment, labels, annotations, dependencies) so that a damaged file fails here
 * with a `ValidationError` naming `source`, rather than later as a TypeError; it does not re-check the
 * spec's value rules, which import did.
 */
export function readValidatedImageManifest(input: string | Uint8Array, source = 'manifest'): ImageManifest {
  const m = parseJson(input, source);
  const fail = (path: string, rule: string): never => {
    throw new ValidationError(source, [{ path, rule: `${rule} (a damaged copy of a validated manifest)` }]);
  };
  if (!isObject(m)) return fail('', 'must be a JSON object (an ImageManifest)');
  if (m.acKind !== 'ImageManifest') fail('acKind', 'must be "ImageManifest"');
  if (typeof m.acVersion !== 'string') fail('acVersion', 'must be a string');
  if (typeof m.name !== 'string') fail('name', 'must be a string');
  for (const key of ['labels', 'annotations'] as const) {
    if (m[key] !== undefined && !isNameValueArray(m[key])) fail(key, 'must be an array of {name, value}');
  }
  if (m.dependencies !== undefined) {
    if (!Array.isArray(m.dependencies)) fail('dependencies', 'must be an array');
    for (const [i, d] of (m.dependencies as unknown[]).entries()) {
      if (!isObject(d) || typeof d.imageName !== 'string') fail(`dependencies[${i}].imageName`, 'must be a string');
      const dep = d as Json;
      if (dep.imageID !== undefined && typeof dep.imageID !== 'string') fail(`dependencies[${i}].imageID`, 'must be a string');
      if (dep.labels !== undefined && !isNameValueArray(dep.labels)) fail(`dependencies[${i}].labels`, 'must be an array of {name, value}');
    }
  }
  if (m.app !== undefined) {
    const app = m.app;
    if (!isObject(app)) return fail('app', 'must be an object');
    if (typeof app.user !== 'string') fail('app.user', 'must be a string');
    if (typeof app.group !== 'string') fail('app.group', 'must be a string');
    if (app.exec !== undefined && !isStringArray(app.exec)) fail('app.exec', 'must be an array of strings');
    if (app.environment !== undefined && !isNameValueArray(app.environment)) fail('app.environment', 'must be an array of {name, value}');
    if (app.workingDirectory !== undefined && typeof app.workingDirectory !== 'string') fail('app.workingDirectory', 'must be a string');
  }
  return m as unknown as ImageManifest;
}
