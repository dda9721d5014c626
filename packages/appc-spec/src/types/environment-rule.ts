// The environment variable name rule without zod: shared by `environmentVariableSchema` and the lean
// override check (`@rkt/appc-spec/lean`).
// aci.md: POSIX names (letters, digits, "_", not starting with a digit) plus "." and "-".
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function isEnvironmentVariableName(s: unknown): s is string {
  return typeof s === 'string' && ENV_NAME_RE.test(s);
}
