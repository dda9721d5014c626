import { z } from 'zod';
import { acNameSchema } from './ac-name.js';
import { absolutePathSchema, appcObject, uint32Schema } from './common.js';
import { VOLUME_MODE_RE } from './volume-mode-rule.js';

const modeSchema = z.string({ message: 'must be a string' }).regex(VOLUME_MODE_RE, { message: 'must be an octal permission mode such as "0755"' });

const hostVolumeSchema = z.object({
  name: acNameSchema,
  kind: z.literal('host'),
  source: absolutePathSchema,
  readOnly: z.boolean({ message: 'must be a boolean' }).optional(),
  recursive: z.boolean({ message: 'must be a boolean' }).optional(),
  mode: z.undefined({ message: 'cannot be set for a host volume' }).optional(),
  uid: z.undefined({ message: 'cannot be set for a host volume' }).optional(),
  gid: z.undefined({ message: 'cannot be set for a host volume' }).optional(),
});

const emptyVolumeSchema = z.object({
  name: acNameSchema,
  kind: z.literal('empty'),
  readOnly: z.boolean({ message: 'must be a boolean' }).optional(),
  mode: modeSchema.optional(),
  uid: uint32Schema.optional(),
  gid: uint32Schema.optional(),
  source: z.undefined({ message: 'cannot be set for an empty volume' }).optional(),
  // pods.md: only interpreted for host volumes, so tolerated and kept here.
  recursive: z.boolean({ message: 'must be a boolean' }).optional(),
});

/** A pod volume: `host` binds a host directory, `empty` is a fresh directory living as long as the pod. */
export const volumeSchema = appcObject(
  z.discriminatedUnion('kind', [hostVolumeSchema, emptyVolumeSchema], {
    message: 'must be "host" or "empty"',
  }),
);
export type Volume = z.infer<typeof volumeSchema>;
export type HostVolume = z.infer<typeof hostVolumeSchema>;
export type EmptyVolume = z.infer<typeof emptyVolumeSchema>;

export { EMPTY_VOLUME_DEFAULTS } from './volume-defaults.js';
