import { z } from 'zod';
import { quote } from './common.js';

/** The appc spec version this package implements and writes into new manifests. */
export const APPC_SPEC_VERSION = '0.8.11';

// SemVer 2.0.0's own grammar (semver.org), without leading zeros in numeric identifiers.
const SEMVER_RE =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export interface SemVer {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly prerelease: readonly string[];
  readonly build: string;
}

export function parseSemVer(s: string): SemVer | undefined {
  if (s.length > 256) return undefined;
  const m = SEMVER_RE.exec(s);
  if (m === null) return undefined;
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3]),
    prerelease: m[4] === undefined ? [] : m[4].split('.'),
    build: m[5] ?? '',
  };
}

/** SemVer precedence (build metadata ignored): negative, zero or positive like a comparator. */
export function compareSemVer(a: SemVer, b: SemVer): number {
  if (a.major !== b.major) return a.major - b.major;
  if (a.minor !== b.minor) return a.minor - b.minor;
  if (a.patch !== b.patch) return a.patch - b.patch;
  if (a.prerelease.length === 0 || b.prerelease.length === 0) return b.prerelease.length - a.prerelease.length;
  const n = Math.min(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < n; i++) {
    const x = a.prerelease[i] as string;
    const y = b.prerelease[i] as string;
    if (x === y) continue;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return Number(x) - Number(y);
    if (xn !== yn) return xn ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.prerelease.length - b.prerelease.length;
}

const IMPLEMENTED = parseSemVer(APPC_SPEC_VERSION) as SemVer;

/**
 * types.md: an AC Version is SemVer and must not exceed the version an implementation complies with, on
 * the same major series. actool only checks the SemVer syntax (see README, "Where we differ").
 */
export const acVersionSchema = z.string({ message: 'must be a string' }).superRefine((s, ctx) => {
  const v = parseSemVer(s);
  if (v === undefined) {
    ctx.addIssue({ code: 'custom', message: 'must be a SemVer 2.0.0 version such as "0.8.11"' });
  } else if (v.major !== IMPLEMENTED.major || compareSemVer(v, IMPLEMENTED) > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `unsupported AC Version ${quote(s)} (this implementation supports ${IMPLEMENTED.major}.x up to ${APPC_SPEC_VERSION})`,
    });
  }
});
export type AcVersion = z.infer<typeof acVersionSchema>;

export function isAcVersion(s: unknown): s is AcVersion {
  return acVersionSchema.safeParse(s).success;
}
