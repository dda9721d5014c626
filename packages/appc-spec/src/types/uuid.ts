import { z } from 'zod';

// Pod UUIDs are written in the canonical RFC 4122 text form, lowercase.
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const uuidSchema = z
  .string({ message: 'must be a string' })
  .regex(UUID_RE, { message: 'must be a UUID such as "6733c4c3-a5fb-4b44-9e48-1ac3b8a7e1a3"' });
export type Uuid = z.infer<typeof uuidSchema>;

export function isUuid(s: unknown): s is Uuid {
  return typeof s === 'string' && UUID_RE.test(s);
}
