import { z } from 'zod';

/** The kinds this package defines compatibility for. */
export const AC_KINDS = ['ImageManifest', 'PodManifest'] as const;

// types.md: an AC Kind is any non-empty alphanumeric string; only the defined kinds are documents we read.
export const acKindSchema = z
  .string({ message: 'must be a string' })
  .regex(/^[A-Za-z0-9]+$/, { message: 'must be an AC Kind (non-empty, alphanumeric)' });
export type AcKind = z.infer<typeof acKindSchema>;

export function isAcKind(s: unknown): s is AcKind {
  return typeof s === 'string' && /^[A-Za-z0-9]+$/.test(s);
}
