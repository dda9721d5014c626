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
    // Sizes past 2^53 cannot be held exactly by a JS number (README, "Where we differ").
    size: z
      .number({ message: 'must be a number' })
      .max(Number.MAX_SAFE_INTEGER, { message: 'must be at most 9007199254740991 (2^53 - 1)' })
      .min(0, { message: 'must not be negative' })
      .int({ message: 'must be an integer' })
      .optional(),
  }),
);
export type Dependency = z.infer<typeof dependencySchema>;

export const dependenciesSchema = z.array(dependencySchema, { message: 'must be an array' });
export type Dependencies = z.infer<typeof dependenciesSchema>;
