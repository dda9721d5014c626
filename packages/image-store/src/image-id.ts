/** What the store resolves as an image ID: `sha512-` and 2 to 128 lowercase hex digits (a unique prefix will do). */
const ID_PREFIX_RE = /^sha512-[0-9a-f]{2,128}$/;

export function isImageIdPrefix(s: string): boolean {
  return ID_PREFIX_RE.test(s);
}

/**
 * `ref`, meant as an image ID (it starts with `sha512-`), or the caller's error (`fail`) of the one line saying
 * what an ID is: the store's references and the fetcher's image strings refuse a bad one in these words.
 */
export function imageIdPrefix(ref: string, fail: (message: string) => Error): string {
  if (!isImageIdPrefix(ref)) throw fail(`invalid image ID ${JSON.stringify(ref)}: expected "sha512-" and 2 to 128 lowercase hex digits`);
  return ref;
}
