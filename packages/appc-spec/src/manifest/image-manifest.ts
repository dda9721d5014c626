import { z } from 'zod';
import { acIdentifierSchema } from '../types/ac-identifier.js';
import { acVersionSchema } from '../types/ac-version.js';
import { annotationsSchema } from '../types/annotations.js';
import { appSchema } from '../types/app.js';
import { absolutePathSchema, appcObject } from '../types/common.js';
import { dependenciesSchema } from '../types/dependency.js';
import { labelsSchema } from '../types/labels.js';
import { checkKind } from './kind.js';
import { toValidationError } from './issues.js';
import { parseJson } from './json.js';

/** aci.md's image manifest. Key order is the spec's, which is also the order `serialize` writes. */
export const imageManifestSchema = appcObject(
  z.object({
    acKind: z.literal('ImageManifest', { message: 'must be "ImageManifest"' }),
    acVersion: acVersionSchema,
    name: acIdentifierSchema,
    labels: labelsSchema.optional(),
    app: appSchema.optional(),
    dependencies: dependenciesSchema.optional(),
    pathWhitelist: z.array(absolutePathSchema, { message: 'must be an array of absolute paths' }).optional(),
    annotations: annotationsSchema.optional(),
  }),
);
export type ImageManifest = z.infer<typeof imageManifestSchema>;

/** Validates an already-parsed JSON value; throws `ValidationError` naming `source`, the JSON path and the rule. */
export function validateImageManifest(value: unknown, source = 'manifest'): ImageManifest {
  checkKind(value, 'ImageManifest', source);
  const r = imageManifestSchema.safeParse(value);
  if (r.success) return r.data;
  // Issues carry their input only on request, which slows the common valid case: ask again to word errors.
  throw toValidationError(source, imageManifestSchema.safeParse(value, { reportInput: true }).error ?? r.error);
}

/** Parses manifest bytes or text: `AppcError('APPC_INVALID_JSON')` for bad JSON, `ValidationError` for rules. */
export function parseImageManifest(input: string | Uint8Array, source = 'manifest'): ImageManifest {
  return validateImageManifest(parseJson(input, source), source);
}

/**
 * JSON text in spec key order with absent optional fields left out, so that
 * `parseImageManifest(serializeImageManifest(m))` deep-equals `m`. Refuses an invalid manifest.
 */
export function serializeImageManifest(m: ImageManifest, opts: { pretty?: boolean } = {}): string {
  const valid = validateImageManifest(m, 'manifest');
  return JSON.stringify(valid, null, opts.pretty === true ? 2 : undefined);
}

