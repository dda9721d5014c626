import { parseBool } from '../argv/flag-spec.js';
import { parseDurationFlag } from '../argv/duration.js';

/**
 * rkt status's `--wait` and `--wait-ready` (its parseDuration): `true` (or empty) waits for as long as it takes,
 * `false` not at all, a duration at most that long; a negative duration waits for ever, zero not at all.
 * Returns milliseconds: Infinity, 0, or the timeout.
 */
export function waitTimeoutMs(raw: string): number {
  if (raw === '') return Infinity;
  const b = parseBool(raw);
  if (b !== undefined) return b ? Infinity : 0;
  if (raw.startsWith('-')) {
    parseDurationFlag('wait', raw.slice(1));
    return Infinity;
  }
  return parseDurationFlag('wait', raw.startsWith('+') ? raw.slice(1) : raw);
}

/** The flags' check at parse time: a bad value is one line naming the flag, before any pod is looked at. */
export function checkWait(raw: string): string {
  try {
    waitTimeoutMs(raw);
  } catch {
    throw new Error('expected true, false or a duration such as 30s or 2m');
  }
  return raw;
}
