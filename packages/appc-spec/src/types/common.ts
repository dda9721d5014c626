import { z } from 'zod';
import { isAbsolutePath } from './path-rule.js';

/**
 * Wraps an object schema with two reference-compatibility rules. An optional field given as JSON `null`
 * counts as absent, as Go's encoding/json reads it (Go tools write `"exec": null`); a required one still
 * fails as "is required". And since encoding/json matches keys case-insensitively (`"NAME"` would set
 * `name`), a key that differs from a field only in case is refused, so that no manifest reads one way here
 * and another way in Go tools. `keepNull` leaves `null` values alone (an unknown isolator's value may be null).
 */
export function appcObject<T extends z.ZodObject | z.ZodDiscriminatedUnion<z.ZodObject[]>>(
  schema: T,
  opts: { keepNull?: boolean } = {},
) {
  const shapes = schema instanceof z.ZodObject ? [schema.shape] : (schema.options as z.ZodObject[]).map((o) => o.shape);
  const fields = new Map<string, string>();
  for (const shape of shapes) for (const key of Object.keys(shape)) fields.set(key.toLowerCase(), key);
  const keepNull = opts.keepNull === true;
  return z.preprocess((input, ctx) => {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
    const record = input as Record<string, unknown>;
    let out: Record<string, unknown> | undefined;
    for (const key of Object.keys(record)) {
      const field = fields.get(key.toLowerCase());
      if (field !== undefined && field !== key) {
        ctx.issues.push({
          code: 'custom',
          message: `keys are case-sensitive: ${quote(key)} is not ${quote(field)}`,
          path: [key],
          input,
        });
      }
      if (keepNull || record[key] !== null) continue;
      out ??= copyOwn(record);
      delete out[key];
    }
    return out ?? input;
  }, schema);
}

function copyOwn(input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(input)) {
    Object.defineProperty(out, key, { value: input[key], enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export { isAbsolutePath };

export const absolutePathSchema = z.string({ message: 'must be a string' }).refine(isAbsolutePath, { message: 'must be an absolute path' });

/** A user or group ID: a non-negative integer that fits in 32 bits. */
export const uint32Schema = z
  .number({ message: 'must be a number' })
  .int({ message: 'must be an integer' })
  .min(0, { message: 'must not be negative' })
  .max(0xffff_ffff, { message: 'must be at most 4294967295' });

/**
 * A JSON object with arbitrary string keys and string values (userAnnotations, userLabels, sysctl).
 * Built by hand rather than with `z.record` because that silently drops a `__proto__` key, which the
 * spec allows as an arbitrary key; here it survives as an own property and round-trips.
 */
export const stringMapSchema = z
  .custom<Record<string, string>>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), {
    message: 'must be an object of string values',
  })
  .transform((input, ctx) => {
    const out: Record<string, string> = {};
    for (const key of Object.keys(input)) {
      const value: unknown = input[key];
      if (typeof value !== 'string') {
        ctx.issues.push({ code: 'custom', message: 'must be a string', path: [key], input: value });
        continue;
      }
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  });
export type StringMap = z.infer<typeof stringMapSchema>;

/** Adds an issue for every element whose key was already seen, so a duplicate is named by its index. */
export function checkUnique<T>(
  items: readonly T[],
  key: (item: T) => string,
  ctx: z.RefinementCtx,
  what: string,
  field: string | undefined = 'name',
): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const k = key(item);
    if (seen.has(k)) {
      ctx.addIssue({
        code: 'custom',
        message: `duplicate ${what} ${quote(k)}`,
        path: field === undefined ? [i] : [i, field],
      });
    }
    seen.add(k);
  });
}

/** A user-supplied string quoted for an error message: JSON-escaped (so one line) and cut to 64 characters. */
export function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}
