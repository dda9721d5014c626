// The AC Name rule without zod: shared by `acNameSchema` and the lean readers (`@rkt/appc-spec/lean`).
// Like AC Identifier, checked as the reference does: allowed characters, alphanumeric at both ends.
export const AC_NAME_RE = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

export function isAcName(s: unknown): s is string {
  return typeof s === 'string' && AC_NAME_RE.test(s);
}
