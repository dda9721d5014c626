// The absolute path rule without zod: shared by the schemas (`common.ts`) and the lean override check.

/** POSIX absolute path, as Go's `path.IsAbs`: starts with `/`. */
export function isAbsolutePath(p: string): boolean {
  return p.startsWith('/');
}
