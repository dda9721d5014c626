import { z } from 'zod';

// types.md: lowercase RFC 3986 unreserved characters, alphanumeric at both ends. Its regex forbids two
// separators in a row, yet its own example `example.com/~user/app_v1` has one; the reference checks only
// the characters and the ends, and so do we (README, "Schemas").
const AC_IDENTIFIER_RE = /^[a-z0-9](?:[a-z0-9._~/-]*[a-z0-9])?$/;

export const acIdentifierSchema = z.string({ message: 'must be a string' }).regex(AC_IDENTIFIER_RE, {
  message: 'must be an AC Identifier (lowercase a-z, 0-9 and "-._~/", beginning and ending with a letter or digit)',
});
export type AcIdentifier = z.infer<typeof acIdentifierSchema>;

export function isAcIdentifier(s: unknown): s is AcIdentifier {
  return typeof s === 'string' && AC_IDENTIFIER_RE.test(s);
}
