import { z } from 'zod';
import { AC_IDENTIFIER_RE, isAcIdentifier as matchesAcIdentifier } from './ac-identifier-rule.js';

export const acIdentifierSchema = z.string({ message: 'must be a string' }).regex(AC_IDENTIFIER_RE, {
  message: 'must be an AC Identifier (lowercase a-z, 0-9 and "-._~/", beginning and ending with a letter or digit)',
});
export type AcIdentifier = z.infer<typeof acIdentifierSchema>;

export function isAcIdentifier(s: unknown): s is AcIdentifier {
  return matchesAcIdentifier(s);
}
