import type { IncomingHttpHeaders } from 'node:http';
import { FetchError } from '../errors.js';

/**
 * The longest `Retry-After` we wait for. A server asking for more is down for longer than a command should
 * hang: the request fails at once, saying what the server asked.
 */
export const MAX_RETRY_AFTER_MS = 30_000;

/** `Retry-After` in ms from `now`: delta-seconds or an HTTP-date (a past date is 0); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  const v = value?.trim();
  if (v === undefined || v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Every HTTP-date form starts with the day's name; Date.parse alone would take "-1" as a year.
  const at = /^[A-Za-z]{3}/.test(v) ? Date.parse(v) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * How long the server asked us to wait before asking again, for the statuses that carry it (429, 503);
 * undefined without a usable `Retry-After`. Longer than MAX_RETRY_AFTER_MS is a final FETCH_HTTP naming it.
 */
export function retryAfterOf(res: { readonly status: number; readonly headers: IncomingHttpHeaders }, url: URL): number | undefined {
  if (res.status !== 429 && res.status !== 503) return undefined;
  const header = res.headers['retry-after'];
  const ms = parseRetryAfter(Array.isArray(header) ? header[0] : header);
  if (ms === undefined || ms <= MAX_RETRY_AFTER_MS) return ms;
  throw new FetchError('FETCH_HTTP',
    `${url.href}: bad HTTP status code: ${res.status}, and the server asked to retry after ${Math.ceil(ms / 1000)} s (more than the ${MAX_RETRY_AFTER_MS / 1000} s we wait)`,
    { subject: url.href });
}

/** A pause before attempt `attempt + 1`: what the server asked for, or longer each time; none after the last. */
export async function pauseBeforeRetry(attempt: number, maxAttempts: number, retryAfterMs?: number): Promise<void> {
  if (attempt < maxAttempts) await new Promise((r) => setTimeout(r, retryAfterMs ?? 100 * attempt));
}
