import { z } from 'zod';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const podUuidSchema = z.string().regex(uuidPattern, 'a pod UUID in canonical form (lowercase, with dashes)');

const annotationsSchema = z.array(z.object({ name: z.string(), value: z.string() }));

/**
 * What the service needs of a pod manifest; the rest is kept as given, since apps read the whole
 * manifest back.
 */
const podManifestSchema = z.looseObject({
  acKind: z.literal('PodManifest'),
  acVersion: z.string(),
  apps: z.array(
    z.looseObject({
      name: z.string().min(1),
      image: z.looseObject({ id: z.string().min(1) }),
      annotations: annotationsSchema.optional(),
    }),
  ),
  annotations: annotationsSchema.optional(),
});

const imageManifestSchema = z.looseObject({
  acKind: z.literal('ImageManifest'),
  name: z.string(),
  annotations: annotationsSchema.optional(),
});

/** The body of `PUT /pods/<uuid>` on the registration socket. */
export const registrationSchema = z
  .object({
    manifest: podManifestSchema,
    /** Each app's image manifest, by app name: every app of the pod manifest needs one. */
    apps: z.record(z.string(), imageManifestSchema),
    /** The pod's address, when it has one of its own: informational, requests are identified by token. */
    ip: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    for (const app of r.manifest.apps) {
      if (!(app.name in r.apps)) ctx.addIssue({ code: 'custom', path: ['apps', app.name], message: `no image manifest for app ${JSON.stringify(app.name)}` });
    }
  });

export type Registration = z.infer<typeof registrationSchema>;
export type PodManifestJson = Registration['manifest'];
export type ImageManifestJson = Registration['apps'][string];

