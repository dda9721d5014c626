import { CliError } from '../errors.js';

// Go's units, both micro signs among them (U+00B5 and U+03BC), written as escapes: one character outside ASCII
// in a bundle makes V8 hold its whole source as a two-byte string, which cost `rkt run` ~0.5 ms of every start
// (test/rkt-bin.test.ts keeps the bundles ASCII).
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, '\u00b5s': 1e-3, '\u03bcs': 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

/**
 * A duration flag's value as Go's `time.ParseDuration` read rkt's (`--grace-period=30m`, `1h30m`, `0`,
 * `500ms`, `1.5h`), in milliseconds. Negative durations are refused: no rkt duration flag means one.
 */
export function parseDurationFlag(flagName: string, raw: string): number {
  if (raw === '0') return 0;
  const re = /([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(raw); m !== null; m = re.exec(raw)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
    pos = re.lastIndex;
  }
  if (raw === '' || pos !== raw.length) {
    throw new CliError('CLI_BAD_FLAG_VALUE', `invalid argument ${JSON.stringify(raw)} for --${flagName}: not a duration (examples: 30m, 1h30m, 0s)`);
  }
  return total;
}

/** `ns` nanoseconds in units of 10^digits ns, with the fraction's trailing zeros dropped (Go's fmtFrac). */
function fraction(ns: number, digits: number): string {
  const unit = 10 ** digits;
  const whole = Math.floor(ns / unit);
  const rest = ns % unit;
  return rest === 0 ? `${whole}` : `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
}

/**
 * A duration in milliseconds as Go's `time.Duration.String` writes it (`2s`, `1m30s`, `1h0m0s`, `1.5s`,
 * `500ms`), which `parseDurationFlag` reads back; microseconds are `us`, which Go reads too (its `µs` would
 * put a character outside ASCII in the bundles).
 */
export function formatDuration(ms: number): string {
  const ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${fraction(ns, 3)}us`;
  if (ns < 1e9) return `${fraction(ns, 6)}ms`;
  const seconds = fraction(ns % 60e9, 9);
  const minutes = Math.floor(ns / 60e9) % 60;
  const hours = Math.floor(ns / 3600e9);
  return hours > 0 ? `${hours}h${minutes}m${seconds}s` : minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}
