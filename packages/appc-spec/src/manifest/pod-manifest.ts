import { z } from 'zod';
import { acIdentifierSchema } from '../types/ac-identifier.js';
import { acNameSchema } from '../types/ac-name.js';
import { acVersionSchema } from '../types/ac-version.js';
import { annotationsSchema } from '../types/annotations.js';
import { appSchema } from '../types/app.js';
import { appcObject, checkUnique, stringMapSchema } from '../types/common.js';
import { imageIdSchema } from '../types/image-id.js';
import { podIsolatorsSchema } from '../types/isolator.js';
import { labelsSchema } from '../types/labels.js';
import { exposedPortSchema } from '../types/port.js';
import { volumeSchema } from '../types/volume.js';
import { checkKind } from './kind.js';
import { toValidationError } from './issues.js';
import { parseJson } from './json.js';

/**
 * The image an app runs. pods.md calls `id` required yet describes (and ships an example of) pod templates
 * whose images are named by name and labels and resolved later, so either `id` or `name` must be given;
 * `isReifiedPodManifest` tells whether every image has its ID, as execution requires.
 */
export const runtimeImageSchema = appcObject(
  z
    .object({
      name: acIdentifierSchema.optional(),
      id: imageIdSchema.optional(),
      labels: labelsSchema.optional(),
    })
    .superRefine((image, ctx) => {
      if (image.id === undefined && image.name === undefined) {
        ctx.addIssue({ code: 'custom', message: 'must have an id, or a name to resolve it from', path: ['id'] });
      }
    }),
);
export type RuntimeImage = z.infer<typeof runtimeImageSchema>;

/** Maps an app's mount point to a volume; `appVolume` overrides the lookup of `volume` in the pod's volumes. */
export const mountSchema = appcObject(
  z.object({
    volume: acNameSchema,
    path: z.string({ message: 'must be a string' }).min(1, { message: 'must not be empty' }),
    appVolume: volumeSchema.optional(),
  }),
);
export type Mount = z.infer<typeof mountSchema>;

export const runtimeAppSchema = appcObject(
  z.object({
    name: acNameSchema,
    image: runtimeImageSchema,
    app: appSchema.optional(),
    readOnlyRootFS: z.boolean({ message: 'must be a boolean' }).optional(),
    mounts: z.array(mountSchema, { message: 'must be an array' }).optional(),
    annotations: annotationsSchema.optional(),
  }),
);
export type RuntimeApp = z.infer<typeof runtimeAppSchema>;

/** pods.md's pod manifest. Key order is the spec's, which is also the order `serialize` writes. */
export const podManifestSchema = appcObject(
  z.object({
    acVersion: acVersionSchema,
    acKind: z.literal('PodManifest', { message: 'must be "PodManifest"' }),
    apps: z
      .array(runtimeAppSchema, { message: 'must be an array' })
      .superRefine((apps, ctx) => checkUnique(apps, (a) => a.name, ctx, 'app name')),
    volumes: z
      .array(volumeSchema, { message: 'must be an array' })
      .superRefine((volumes, ctx) => checkUnique(volumes, (v) => v.name, ctx, 'volume name'))
      .optional(),
    isolators: podIsolatorsSchema.optional(),
    annotations: annotationsSchema.optional(),
    ports: z.array(exposedPortSchema, { message: 'must be an array' }).optional(),
    userAnnotations: stringMapSchema.optional(),
    userLabels: stringMapSchema.optional(),
  }),
);
export type PodManifest = z.infer<typeof podManifestSchema>;

/** Validates an already-parsed JSON value; throws `ValidationError` naming `source`, the JSON path and the rule. */
export function validatePodManifest(value: unknown, source = 'pod manifest'): PodManifest {
  checkKind(value, 'PodManifest', source);
  const r = podManifestSchema.safeParse(value);
  if (r.success) return r.data;
  // Issues carry their input only on request, which slows the common valid case: ask again to word errors.
  throw toValidationError(source, podManifestSchema.safeParse(value, { reportInput: true }).error ?? r.error);
}

/** Parses manifest bytes or text: `AppcError('APPC_INVALID_JSON')` for bad JSON, `ValidationError` for rules. */
export function parsePodManifest(input: string | Uint8Array, source = 'pod manifest'): PodManifest {
  return validatePodManifest(parseJson(input, source), source);
}

/** True when every app names its image by ID: pods.md's condition for a pod manifest to be executed. */
export function isReifiedPodManifest(m: PodManifest): boolean {
  return m.apps.every((a) => a.image.id !== undefined);
}

/** JSON text in spec key order, absent optional fields left out; refuses an invalid manifest. */
export function serializePodManifest(m: PodManifest, opts: { pretty?: boolean } = {}): string {
  const valid = validatePodManifest(m, 'pod manifest');
  return JSON.stringify(valid, null, opts.pretty === true ? 2 : undefined);
}
