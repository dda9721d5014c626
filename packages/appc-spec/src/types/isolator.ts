import { z } from 'zod';
import { acIdentifierSchema } from './ac-identifier.js';
import { appcObject, quote, stringMapSchema } from './common.js';
import { CONFLICTING_ISOLATORS, SECCOMP_ERRNO_RE, SINGLE_ISOLATORS } from './isolator-rules.js';
import { resourceQuantitySchema, tryParseResourceQuantity } from './resource-quantity.js';

const str = () => z.string({ message: 'must be a string' });

/** resource/cpu and resource/memory: `limit` required, `request` at most `limit`, `default` absent or false. */
const requestLimitValueSchema = appcObject(
  z
    .object({
      default: z.literal(false, { message: 'must be false for this resource' }).optional(),
      request: resourceQuantitySchema.optional(),
      limit: resourceQuantitySchema,
    })
    .superRefine((v, ctx) => {
      if (v.request === undefined) return;
      const request = tryParseResourceQuantity(v.request);
      const limit = tryParseResourceQuantity(v.limit);
      if (request !== undefined && limit !== undefined && request.milli > limit.milli) {
        ctx.addIssue({ code: 'custom', message: `must not exceed limit (${limit.canonical})`, path: ['request'] });
      }
    }),
);

/** The block and network bandwidth isolators: a limit that applies to every device by default. */
const defaultLimitValueSchema = appcObject(
  z.object({
    default: z.literal(true, { message: 'must be true (per-device limits are not defined by the spec)' }),
    request: z.undefined({ message: 'is not supported by this resource' }).optional(),
    limit: resourceQuantitySchema,
  }),
);

const capabilitiesSetValueSchema = appcObject(
  z.object({
    set: z
      .array(str().min(1, { message: 'must not be empty' }), { message: 'must be an array of capability names' })
      .min(1, { message: 'must not be empty' }),
  }),
);

const seccompSetValueSchema = appcObject(
  z.object({
    set: z.array(str(), { message: 'must be an array of syscall names' }).min(1, { message: 'must not be empty' }),
    errno: str()
      .regex(SECCOMP_ERRNO_RE, { message: 'must be an upper-case errno name such as "ENOTSUP", or empty' })
      .optional(),
  }),
);

const selinuxPart = (what: string) =>
  str()
    .min(1, { message: 'must not be empty' })
    .regex(/^[^:]*$/, { message: `must be the ${what} part alone, without ":"` });

const selinuxContextValueSchema = appcObject(
  z.object({
    user: selinuxPart('user'),
    role: selinuxPart('role'),
    type: selinuxPart('type'),
    level: str().min(1, { message: 'must not be empty' }),
  }),
);

const int = () => z.number({ message: 'must be a number' }).int({ message: 'must be an integer' });

/**
 * Value schemas of the isolators the spec (ace.md) names, plus `os/linux/oom-score-adj` and
 * `os/linux/cpu-shares`, which v0.8.11's reference types define with these ranges.
 */
const VALUE_SCHEMAS = {
  'resource/cpu': requestLimitValueSchema,
  'resource/memory': requestLimitValueSchema,
  'resource/block-bandwidth': defaultLimitValueSchema,
  'resource/block-iops': defaultLimitValueSchema,
  'resource/network-bandwidth': defaultLimitValueSchema,
  'os/linux/capabilities-retain-set': capabilitiesSetValueSchema,
  'os/linux/capabilities-remove-set': capabilitiesSetValueSchema,
  'os/linux/no-new-privileges': z.boolean({ message: 'must be a boolean' }),
  'os/linux/seccomp-retain-set': seccompSetValueSchema,
  'os/linux/seccomp-remove-set': seccompSetValueSchema,
  'os/linux/selinux-context': selinuxContextValueSchema,
  'os/linux/oom-score-adj': int().min(-1000, { message: 'must be between -1000 and 1000' }).max(1000, {
    message: 'must be between -1000 and 1000',
  }),
  'os/linux/cpu-shares': int().min(2, { message: 'must be between 2 and 262144' }).max(262144, {
    message: 'must be between 2 and 262144',
  }),
  'os/unix/sysctl': stringMapSchema,
} as const;

type ValueSchemas = typeof VALUE_SCHEMAS;
export type KnownIsolatorName = keyof ValueSchemas;
export type IsolatorValueByName = { [N in KnownIsolatorName]: z.infer<ValueSchemas[N]> };
export const KNOWN_ISOLATOR_NAMES = Object.keys(VALUE_SCHEMAS) as readonly KnownIsolatorName[];

export function isKnownIsolatorName(name: string): name is KnownIsolatorName {
  return Object.hasOwn(VALUE_SCHEMAS, name);
}

/** An isolator the spec defines, its value typed by its name. */
export type KnownIsolator = { [N in KnownIsolatorName]: { name: N; value: IsolatorValueByName[N] } }[KnownIsolatorName];
/** An isolator this implementation does not know: the spec lets executors ignore those, so its value is any JSON. */
export interface UnknownIsolator {
  name: string;
  value: unknown;
}
export type Isolator = KnownIsolator | UnknownIsolator;

export type IsolatorScope = 'app' | 'pod';

/** ace.md's "Scope:" of each isolator; absent means app and pod. */
const SCOPE: Partial<Record<KnownIsolatorName, IsolatorScope>> = {
  'os/linux/capabilities-retain-set': 'app',
  'os/linux/capabilities-remove-set': 'app',
  'os/linux/no-new-privileges': 'app',
  'os/linux/seccomp-retain-set': 'app',
  'os/linux/seccomp-remove-set': 'app',
  'os/unix/sysctl': 'pod',
};

const MAX_JSON_DEPTH = 64;

/** True if `v` is plain JSON no deeper than `MAX_JSON_DEPTH`, so it serializes back unchanged. */
function isJsonValue(v: unknown, depth = 0): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v !== 'object' || depth >= MAX_JSON_DEPTH) return false;
  if (Array.isArray(v)) return v.every((x) => isJsonValue(x, depth + 1));
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.keys(v).every((k) => isJsonValue((v as Record<string, unknown>)[k], depth + 1));
}

export const isolatorSchema = appcObject(z.object({ name: acIdentifierSchema, value: z.unknown() }), { keepNull: true })
  .transform((iso, ctx): Isolator => {
    const { name, value } = iso;
    if (value === undefined) {
      ctx.issues.push({ code: 'custom', message: 'is required', path: ['value'], input: value });
      return z.NEVER;
    }
    if (!isKnownIsolatorName(name)) {
      if (!isJsonValue(value)) {
        ctx.issues.push({ code: 'custom', message: `must be JSON nested at most ${MAX_JSON_DEPTH} deep`, path: ['value'], input: value });
        return z.NEVER;
      }
      return { name, value };
    }
    const schema = VALUE_SCHEMAS[name];
    const r = schema.safeParse(value);
    if (!r.success) {
      // Parsed again with inputs attached so the error can say "is required" only for a missing field.
      const detailed = schema.safeParse(value, { reportInput: true }).error ?? r.error;
      for (const issue of detailed.issues) ctx.issues.push({ ...issue, path: ['value', ...issue.path] } as never);
      return z.NEVER;
    }
    return { name, value: r.data } as KnownIsolator;
  });

/** Checks the list-level rules: scope, at most one of some kinds, and the conflicting pairs. */
function isolatorsSchema(scope: IsolatorScope) {
  return z.array(isolatorSchema, { message: 'must be an array' }).superRefine((isolators, ctx) => {
    const seen = new Set<string>();
    isolators.forEach((iso, i) => {
      const only = isKnownIsolatorName(iso.name) ? SCOPE[iso.name] : undefined;
      if (only !== undefined && only !== scope) {
        ctx.addIssue({ code: 'custom', message: `isolator ${quote(iso.name)} can only be used in ${only} isolators`, path: [i, 'name'] });
      }
      if (seen.has(iso.name) && SINGLE_ISOLATORS.has(iso.name)) {
        ctx.addIssue({ code: 'custom', message: `only one ${quote(iso.name)} isolator is allowed`, path: [i, 'name'] });
      }
      for (const [a, b] of CONFLICTING_ISOLATORS) {
        const other = iso.name === a ? b : iso.name === b ? a : undefined;
        if (other !== undefined && seen.has(other)) {
          ctx.addIssue({ code: 'custom', message: `isolator ${quote(iso.name)} cannot be used together with ${quote(other)}`, path: [i, 'name'] });
        }
      }
      seen.add(iso.name);
    });
  });
}

export const appIsolatorsSchema = isolatorsSchema('app');
export const podIsolatorsSchema = isolatorsSchema('pod');
export type Isolators = Isolator[];

export function isKnownIsolator(iso: Isolator): iso is KnownIsolator {
  return isKnownIsolatorName(iso.name);
}

/** The typed value of the last isolator named `name` (later entries override earlier ones), if any. */
export function getIsolatorValue<N extends KnownIsolatorName>(
  isolators: readonly Isolator[] | undefined,
  name: N,
): IsolatorValueByName[N] | undefined {
  if (isolators === undefined) return undefined;
  for (let i = isolators.length - 1; i >= 0; i--) {
    const iso = isolators[i];
    if (iso?.name === name) return iso.value as IsolatorValueByName[N];
  }
  return undefined;
}
