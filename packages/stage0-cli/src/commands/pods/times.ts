/** go-humanize's RelTime, as `rkt list` printed CREATED and STARTED. */
export function relativeTime(then: Date, now = new Date()): string {
  const s = Math.max(0, Math.floor((now.getTime() - then.getTime()) / 1000));
  const ago = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  if (s < 1) return 'now';
  if (s < 60) return ago(s, 'second');
  if (s < 3600) return ago(Math.floor(s / 60), 'minute');
  if (s < 86400) return ago(Math.floor(s / 3600), 'hour');
  if (s < 86400 * 30) return ago(Math.floor(s / 86400), 'day');
  if (s < 86400 * 365) return ago(Math.floor(s / (86400 * 30)), 'month');
  return ago(Math.floor(s / (86400 * 365)), 'year');
}

/** Go's "2006-01-02 15:04:05.000 -0700 MST" in UTC, the layout of `rkt status` and `rkt list --full`. */
export function goTime(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)} +0000 UTC`;
}
