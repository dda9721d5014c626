import { z } from 'zod';
import { acNameSchema } from './ac-name.js';
import { appcObject } from './common.js';

export const mountPointSchema = appcObject(
  z.object({
    name: acNameSchema,
    path: z.string({ message: 'must be a string' }).min(1, { message: 'must not be empty' }),
    readOnly: z.boolean({ message: 'must be a boolean' }).optional(),
  }),
);
export type MountPoint = z.infer<typeof mountPointSchema>;
