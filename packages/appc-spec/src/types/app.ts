import { z } from 'zod';
import { appcObject, isAbsolutePath, stringMapSchema, uint32Schema } from './common.js';
import { environmentSchema } from './environment.js';
import { eventHandlersSchema } from './event-handler.js';
import { execSchema } from './exec.js';
import { appIsolatorsSchema } from './isolator.js';
import { mountPointSchema } from './mount-point.js';
import { portSchema } from './port.js';

// aci.md: a user/group name, a numeric ID, or an absolute path whose owner is used; never empty.
const userOrGroup = () => z.string({ message: 'must be a string' }).min(1, { message: 'must not be empty' });

/** The `app` section of an image manifest, also used as an app override in a pod manifest. Keys in spec order. */
export const appSchema = appcObject(
  z.object({
    exec: execSchema.optional(),
    user: userOrGroup(),
    group: userOrGroup(),
    supplementaryGIDs: z.array(uint32Schema, { message: 'must be an array of group IDs' }).optional(),
    eventHandlers: eventHandlersSchema.optional(),
    workingDirectory: z
      .string({ message: 'must be a string' })
      .refine(isAbsolutePath, { message: 'must be an absolute path' })
      .optional(),
    environment: environmentSchema.optional(),
    isolators: appIsolatorsSchema.optional(),
    mountPoints: z.array(mountPointSchema, { message: 'must be an array' }).optional(),
    ports: z.array(portSchema, { message: 'must be an array' }).optional(),
    userAnnotations: stringMapSchema.optional(),
    userLabels: stringMapSchema.optional(),
  }),
);
export type App = z.infer<typeof appSchema>;
