// The AC Identifier rule without zod: shared by `acIdentifierSchema` and the lean entry (`@rkt/appc-spec/lean`),
// which `rkt fetch` parses image names with before anything needs a schema.
// types.md: lowercase RFC 3986 unreserved characters, alphanumeric at both ends. Its regex forbids two
// separators in a row, yet its own example `example.com/~user/app_v1` has one; the reference checks only
// the characters and the ends, and so do we (README, "Schemas").
export const AC_IDENTIFIER_RE = /^[a-z0-9](?:[a-z0-9._~/-]*[a-z0-9])?$/;

export function isAcIdentifier(s: unknown): s is string {
  return typeof s === 'string' && AC_IDENTIFIER_RE.test(s);
}
