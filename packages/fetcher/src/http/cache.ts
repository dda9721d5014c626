import type { IncomingHttpHeaders } from 'node:http';

/**
 * Seconds a response may be reused without asking again, from `Cache-Control` (rkt honoured `max-age`
 * and treated `no-cache`/`no-store` as zero). Undefined when the server said nothing.
 */
export function maxAgeOf(headers: IncomingHttpHeaders): number | undefined {
  const cc = headers['cache-control'];
  if (cc === undefined) return undefined;
  let maxAge: number | undefined;
  for (const raw of cc.split(',')) {
    const d = raw.trim().toLowerCase();
    if (d === 'no-cache' || d === 'no-store') return 0;
    const m = /^max-age\s*=\s*"?(\d+)"?$/.exec(d);
    if (m?.[1] !== undefined) maxAge = Math.min(Number(m[1]), 2 ** 31);
  }
  return maxAge;
}

/** Whether a stored download is still fresh: downloaded less than max-age seconds ago. */
export function isFresh(rec: { downloadedAt: number; cacheMaxAge: number | undefined }, now = Date.now()): boolean {
  return rec.cacheMaxAge !== undefined && rec.cacheMaxAge > 0 && now < rec.downloadedAt + rec.cacheMaxAge * 1000;
}

/** A strong ETag (not `W/...`): only those may be used in `If-Range` for resuming. */
export function isStrongEtag(etag: string | undefined): etag is string {
  return etag !== undefined && !etag.startsWith('W/');
}
