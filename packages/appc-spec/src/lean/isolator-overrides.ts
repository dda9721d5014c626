import { CONFLICTING_ISOLATORS, SECCOMP_ERRNO_RE, SINGLE_ISOLATORS } from '../types/isolator-rules.js';
import { tryParseResourceQuantity } from '../types/quantity-rule.js';

type Json = Record<string, unknown>;

const plain = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Only keys from `allowed`, none of them null (the schemas read a null as absent, or refuse it: theirs to say). */
const keysIn = (v: Json, allowed: readonly string[]): boolean => Object.keys(v).every((k) => allowed.includes(k) && v[k] !== null);
const quantity = (q: unknown): ReturnType<typeof tryParseResourceQuantity> =>
  typeof q === 'string' || typeof q === 'number' ? tryParseResourceQuantity(q) : undefined;
const intIn = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

function requestLimit(v: unknown): boolean {
  if (!plain(v) || !keysIn(v, ['default', 'request', 'limit']) || (v.default !== undefined && v.default !== false)) return false;
  const limit = quantity(v.limit);
  if (limit === undefined) return false;
  if (v.request === undefined) return true;
  const request = quantity(v.request);
  return request !== undefined && request.milli <= limit.milli;
}

function capabilitiesSet(v: unknown): boolean {
  return plain(v) && keysIn(v, ['set']) && Array.isArray(v.set) && v.set.length > 0 && v.set.every((c) => typeof c === 'string' && c !== '');
}

function seccompSet(v: unknown): boolean {
  return (
    plain(v) &&
    keysIn(v, ['set', 'errno']) &&
    Array.isArray(v.set) &&
    v.set.length > 0 &&
    v.set.every((c) => typeof c === 'string') &&
    (v.errno === undefined || (typeof v.errno === 'string' && SECCOMP_ERRNO_RE.test(v.errno)))
  );
}

/** The value rules of the isolators `rkt run`'s flags make (isolator.ts has the schemas'), all of app scope. */
const VALUE_CHECKS: ReadonlyMap<string, (v: unknown) => boolean> = new Map([
  ['resource/cpu', requestLimit],
  ['resource/memory', requestLimit],
  ['os/linux/capabilities-retain-set', capabilitiesSet],
  ['os/linux/capabilities-remove-set', capabilitiesSet],
  ['os/linux/seccomp-retain-set', seccompSet],
  ['os/linux/seccomp-remove-set', seccompSet],
  ['os/linux/no-new-privileges', (v) => typeof v === 'boolean'],
  ['os/linux/oom-score-adj', (v) => intIn(v, -1000, 1000)],
  ['os/linux/cpu-shares', (v) => intIn(v, 2, 262144)],
]);

/**
 * Whether an app's isolators (an image's, with `rkt run`'s `--memory`, `--cpu`, `--cpu-shares`,
 * `--oom-score-adj`, `--caps-retain`, `--caps-remove`, `--seccomp` merged in) pass `appIsolatorsSchema`'s
 * rules, without zod. Any other isolator, or anything unusual, is left to the schemas (false), as is every
 * failure: their error names the field. test/lean.test.ts compares the answer with the schema's.
 */
export function appIsolatorsValid(isolators: readonly unknown[]): boolean {
  if (!Array.isArray(isolators)) return false;
  const seen = new Set<string>();
  for (const iso of isolators as readonly unknown[]) {
    if (!plain(iso) || !keysIn(iso, ['name', 'value'])) return false;
    const { name, value } = iso;
    const check = typeof name === 'string' ? VALUE_CHECKS.get(name) : undefined;
    if (check === undefined || !check(value)) return false;
    if (seen.has(name as string) && SINGLE_ISOLATORS.has(name as string)) return false;
    if (CONFLICTING_ISOLATORS.some(([a, b]) => (name === a && seen.has(b)) || (name === b && seen.has(a)))) return false;
    seen.add(name as string);
  }
  return true;
}
