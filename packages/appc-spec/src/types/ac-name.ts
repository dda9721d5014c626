import { z } from 'zod';

// Like AC Identifier, checked as the reference does: allowed characters, alphanumeric at both ends.
const AC_NAME_RE = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

export const acNameSchema = z.string({ message: 'must be a string' }).regex(AC_NAME_RE, {
  message: 'must be an AC Name (lowercase a-z, 0-9 and "-", beginning and ending with a letter or digit)',
});
export type AcName = z.infer<typeof acNameSchema>;

export function isAcName(s: unknown): s is AcName {
  return typeof s === 'string' && AC_NAME_RE.test(s);
}
