import { z } from 'zod';
import { AC_NAME_RE, isAcName as matchesAcName } from './ac-name-rule.js';

export const acNameSchema = z.string({ message: 'must be a string' }).regex(AC_NAME_RE, {
  message: 'must be an AC Name (lowercase a-z, 0-9 and "-", beginning and ending with a letter or digit)',
});
export type AcName = z.infer<typeof acNameSchema>;

export function isAcName(s: unknown): s is AcName {
  return matchesAcName(s);
}
