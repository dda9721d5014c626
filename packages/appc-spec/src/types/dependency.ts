import { z } from 'zod';
import { acIdentifierSchema } from './ac-identifier.js';
import { appcObject } from './common.js';
import { imageIdSchema } from './image-id.js';
import { labelsSchema } from './labels.js';

export const dependencySchema = appcObject(
  z.object({
    imageName: acIdentifierSchema,
    imageID: imageIdSchema.optional(),
    labels: labelsSchema.optional(),
    size: z
      .number({ message: 'must be a number' })
      .int({ message: 'must be an integer' })
      .min(0, { message: 'must not be negative' })
      .max(Number.MAX_SAFE_INTEGER, { message: 'is too large' })
      .optional(),
  }),
);
export type Dependency = z.infer<typeof dependencySchema>;

export const dependenciesSchema = z.array(dependencySchema, { message: 'must be an array' });
export type Dependencies = z.infer<typeof dependenciesSchema>;
