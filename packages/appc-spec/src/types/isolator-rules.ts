// The list-level isolator rules without zod: shared by the isolator schemas and the lean isolator check.

/** Isolators that may appear once per list (ace.md notes, and the reference's `multipleAllowed`). */
export const SINGLE_ISOLATORS: ReadonlySet<string> = new Set([
  'os/linux/seccomp-retain-set',
  'os/linux/seccomp-remove-set',
  'os/linux/selinux-context',
  'os/linux/oom-score-adj',
  'os/linux/cpu-shares',
  'os/unix/sysctl',
]);

/** Pairs that cannot be used together in one list (ace.md). */
export const CONFLICTING_ISOLATORS: readonly (readonly [string, string])[] = [
  ['os/linux/seccomp-retain-set', 'os/linux/seccomp-remove-set'],
  ['os/linux/capabilities-retain-set', 'os/linux/capabilities-remove-set'],
];

/** `os/linux/seccomp-*-set`'s `errno`. */
export const SECCOMP_ERRNO_RE = /^(?:E[A-Z0-9]+)?$/;
