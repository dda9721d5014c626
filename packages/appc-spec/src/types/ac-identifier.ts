import { z } from 'zod';

// types.md: lowercase RFC 3986 unreserved characters, alphanumeric at both ends. The separator group
// cannot match a letter, so the regex runs in linear time even on huge inputs.
const AC_IDENTIFIER_RE = /^[a-z0-9]+(?:[-._~/][a-z0-9]+)*$/;

export const acIdentifierSchema = z.string({ message: 'must be a string' }).regex(AC_IDENTIFIER_RE, {
  message: 'must be an AC Identifier (lowercase a-z, 0-9 and "-._~/", beginning and ending with a letter or digit)',
});
export type AcIdentifier = z.infer<typeof acIdentifierSchema>;

export function isAcIdentifier(s: unknown): s is AcIdentifier {
  return typeof s === 'string' && AC_IDENTIFIER_RE.test(s);
}
