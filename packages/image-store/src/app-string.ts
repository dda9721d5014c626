import type { Label } from './records.js';

/** An appc image string read: the name and the labels asked for, in the user's order, each once. */
export interface AppString {
  readonly name: string;
  readonly labels: readonly Label[];
}

// The AC Identifier rule of @rkt/appc-spec (`AC_IDENTIFIER_RE`, cross-checked in lookup.test.ts), repeated
// because the listing path, which resolves references, must not load @rkt/appc-spec (lean.test.ts).
const AC_IDENTIFIER_RE = /^[a-z0-9](?:[a-z0-9._~/-]*[a-z0-9])?$/;
const AC_IDENTIFIER_RULE = '(lowercase a-z0-9-._~/, alphanumeric at both ends)';

/**
 * appc's NewAppFromString, `name[:version][,label=value...]`, where every `:` stands for `,version=`: the one
 * reader of image strings, for the store's lookups and the fetcher's discovery alike, so that a bad string is
 * refused in the same words by every command. `refuse` makes the caller's error from the one-line message
 * (which names the string). Values are taken literally but must not be empty; the name and label names must
 * be AC Identifiers, and a label may be given once.
 */
export function parseAppString(raw: string, refuse: (message: string) => Error): AppString {
  if (raw === '') throw refuse('empty image string');
  const quoted = JSON.stringify(raw);
  const bad = (why: string) => refuse(`${quoted}: ${why}`);
  let name: string | undefined;
  const labels: Label[] = [];
  for (const part of `name=${raw.replaceAll(':', ',version=')}`.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw bad(`label ${JSON.stringify(part)} has no value (expected label=value)`);
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (key === 'name') {
      if (name !== undefined) throw bad('the name is given twice');
      name = value;
    } else if (!AC_IDENTIFIER_RE.test(key)) {
      throw bad(`${JSON.stringify(key)} is not a valid label name ${AC_IDENTIFIER_RULE}`);
    } else if (labels.some((l) => l.name === key)) {
      // `a:1,version=2` and `a:1:2` give the version twice too: each `:` is a `,version=`.
      throw bad(`label ${key} is given twice`);
    } else if (value === '') {
      // No image has a label with an empty value, and discovery would put it into its URL templates as is:
      // `,os=` is a typo, not a lookup that finds nothing.
      throw bad(`label ${key} has an empty value (expected ${key}=VALUE)`);
    } else {
      labels.push({ name: key, value });
    }
  }
  if (name === undefined || !AC_IDENTIFIER_RE.test(name)) {
    throw name === raw ? refuse(`${quoted} is not a valid image name ${AC_IDENTIFIER_RULE}`) : bad(`${JSON.stringify(name ?? '')} is not a valid image name ${AC_IDENTIFIER_RULE}`);
  }
  return { name, labels };
}
