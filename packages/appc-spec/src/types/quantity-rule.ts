// Resource quantities without zod: shared by `resourceQuantitySchema` and the lean isolator check.

/**
 * A parsed resource quantity. `milli` is exact (quantities are integers of milli-units, the finest unit
 * the spec's examples use; finer input is rounded up, as the reference's Kubernetes quantity does);
 * `value` is the same amount in base units (bytes, cores) as a JS number.
 */
export interface ParsedQuantity {
  readonly milli: bigint;
  readonly value: number;
  /** Shortest suffixed form: binary suffixes if the input used one, else decimal (`500m`, `2G`, `16Mi`). */
  readonly canonical: string;
}

const BINARY: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
// "K" is not in the reference's grammar but ace.md lists it among the metric suffixes.
const DECIMAL: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, K: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const NUMBER_RE = /^(\+?)(\d*)(?:\.(\d*))?$/;
const EXPONENT_RE = /^[eE]([-+]?\d{1,3})$/;
// Bounds that keep the exact arithmetic cheap; anything outside is far beyond any real resource.
const MAX_DIGITS = 40;
const MAX_EXPONENT = 40;

/** Parses a quantity such as `500m`, `1G`, `16Mi`, `0.3`, `1e3`, or a JSON number; undefined if invalid. */
export function tryParseResourceQuantity(input: string | number): ParsedQuantity | undefined {
  let s: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) return undefined;
    s = String(input);
  } else {
    s = input;
  }
  if (s.length === 0 || s.length > 64) return undefined;
  const split = /^([+\-]?[0-9.]+)(.*)$/.exec(s);
  if (split === null) return undefined;
  const [, numberPart = '', suffix = ''] = split;
  const num = NUMBER_RE.exec(numberPart);
  if (num === null) return undefined;
  const whole = num[2] ?? '';
  const fraction = num[3] ?? '';
  if (whole.length + fraction.length === 0 || whole.length + fraction.length > MAX_DIGITS) return undefined;

  let exp10 = -fraction.length;
  let exp2 = 0;
  let binary = false;
  if (Object.hasOwn(BINARY, suffix)) {
    exp2 = BINARY[suffix] as number;
    binary = true;
  } else if (Object.hasOwn(DECIMAL, suffix)) {
    exp10 += DECIMAL[suffix] as number;
  } else {
    const e = EXPONENT_RE.exec(suffix);
    if (e === null) return undefined;
    const n = Number(e[1]);
    if (Math.abs(n) > MAX_EXPONENT) return undefined;
    exp10 += n;
  }
  const digits = BigInt(whole + fraction);
  let milli: bigint;
  const scale = exp10 + 3;
  if (scale >= 0) {
    milli = digits * 10n ** BigInt(scale) * 2n ** BigInt(exp2);
  } else {
    const den = 10n ** BigInt(-scale);
    const num2 = digits * 2n ** BigInt(exp2);
    milli = (num2 + den - 1n) / den;
  }
  return { milli, value: Number(milli) / 1000, canonical: canonicalQuantity(milli, binary) };
}

function canonicalQuantity(milli: bigint, binary: boolean): string {
  if (milli % 1000n !== 0n) return `${milli}m`;
  const units = milli / 1000n;
  if (units === 0n) return '0';
  if (binary) {
    for (const [suffix, bits] of Object.entries(BINARY).reverse()) {
      const div = 2n ** BigInt(bits);
      if (units % div === 0n) return `${units / div}${suffix}`;
    }
  }
  for (const [suffix, exp] of [['E', 18], ['P', 15], ['T', 12], ['G', 9], ['M', 6], ['k', 3]] as const) {
    const div = 10n ** BigInt(exp);
    if (units % div === 0n) return `${units / div}${suffix}`;
  }
  return `${units}`;
}
