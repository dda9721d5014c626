import { z } from 'zod';
import { acNameSchema } from './ac-name.js';
import { appcObject } from './common.js';

const portNumberSchema = z
  .number({ message: 'must be a number' })
  .int({ message: 'must be an integer' })
  .min(1, { message: 'must be in the range 1-65535' })
  .max(65535, { message: 'must be in the range 1-65535' });

export const portSchema = appcObject(
  z
    .object({
      name: acNameSchema,
      protocol: z.string({ message: 'must be a string' }).min(1, { message: 'must not be empty' }),
      port: portNumberSchema,
      count: z
        .number({ message: 'must be a number' })
        .int({ message: 'must be an integer' })
        .min(1, { message: 'must be at least 1' })
        .optional(),
      socketActivated: z.boolean({ message: 'must be a boolean' }).optional(),
    })
    .superRefine((p, ctx) => {
      if (p.count !== undefined && p.port + p.count - 1 > 65535) {
        ctx.addIssue({ code: 'custom', message: 'end of the port range (port + count - 1) must be at most 65535', path: ['count'] });
      }
    }),
);
export type Port = z.infer<typeof portSchema>;

// pods.md: dotted-quad IPv4, each part 0-255 without leading zeros.
const IPV4_RE = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export const exposedPortSchema = appcObject(
  z.object({
    name: acNameSchema,
    hostPort: portNumberSchema,
    hostIP: z
      .string({ message: 'must be a string' })
      .regex(IPV4_RE, { message: 'must be an IPv4 address in dotted-quad notation' })
      .optional(),
    podPort: portSchema.optional(),
  }),
);
export type ExposedPort = z.infer<typeof exposedPortSchema>;
