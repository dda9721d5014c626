import type { z } from 'zod';
import { ValidationError } from '../errors.js';
import type { ValidationIssue } from '../errors.js';
import { quote } from '../types/common.js';

const IDENT_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `['app', 'isolators', 2, 'value', 'limit']` -> `app.isolators[2].value.limit`; odd keys are quoted. */
export function formatJsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && IDENT_RE.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${quote(String(seg))}]`;
  }
  return out;
}

function rule(issue: z.core.$ZodIssue): string {
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && 'input' in issue && issue.input === undefined) {
    return 'is required';
  }
  if (issue.code === 'unrecognized_keys') return `unknown keys ${issue.keys.map((k) => quote(k)).join(', ')}`;
  // zod's own wording ("Invalid input: expected object, received string") where no schema set one.
  if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) {
    return `must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
  }
  if (issue.code === 'invalid_value' && issue.message.startsWith('Invalid input')) {
    return `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
  }
  return issue.message;
}

export function toValidationError(source: string, error: z.ZodError): ValidationError {
  const issues: ValidationIssue[] = error.issues.map((issue) => ({
    path: formatJsonPath(issue.path),
    rule: rule(issue),
  }));
  return new ValidationError(source, issues);
}
