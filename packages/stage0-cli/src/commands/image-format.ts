/** go-humanize's `IBytes`, which rkt's SIZE column used: `512 B`, `1.5 KiB`, `12 MiB`. */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  const e = Math.min(Math.floor(Math.log(n) / Math.log(1024)), units.length - 1);
  const v = Math.floor((n / 1024 ** e) * 10 + 0.5) / 10;
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${units[e]}`;
}

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;
const W = 7 * D;
const MONTH = 30 * D;
const Y = 12 * MONTH;

/** go-humanize's magnitudes: below `below` ms, print `text` (`%d` = the difference divided by `div`). */
const STEPS: readonly (readonly [number, string, number])[] = [
  [1 * S, 'now', 0], [2 * S, '1 second', 0], [MIN, '%d seconds', S], [2 * MIN, '1 minute', 0], [H, '%d minutes', MIN],
  [2 * H, '1 hour', 0], [D, '%d hours', H], [2 * D, '1 day', 0], [W, '%d days', D], [2 * W, '1 week', 0],
  [MONTH, '%d weeks', W], [2 * MONTH, '1 month', 0], [Y, '%d months', MONTH], [Y + 6 * MONTH, '1 year', 0],
  [2 * Y, '2 years', 0], [37 * Y, '%d years', Y],
];

/** go-humanize's `Time`, which rkt's time columns used: `now`, `3 minutes ago`, `2 weeks ago`. */
export function humanizeTime(at: number, now = Date.now()): string {
  let diff = now - at;
  let suffix = 'ago';
  if (diff < 0) { diff = -diff; suffix = 'from now'; }
  // An indexed loop: a listing calls this 2,000 times in a process too short-lived for the
  // iterator and destructuring of for-of to get optimised.
  for (let i = 0; i < STEPS.length; i++) {
    const [below, text, div] = STEPS[i] as (typeof STEPS)[number];
    if (diff < below) {
      if (text === 'now') return text;
      return `${div === 0 ? text : text.replace('%d', String(Math.floor(diff / div)))} ${suffix}`;
    }
  }
  return `a long while ${suffix}`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * Made once: `image list --full` formats 2,000 times, and making the formatter (ICU's time zone names) cost
 * more than the formatting. Made on first use, as `rkt image list` without `--full` needs none.
 */
let zoneFormat: Intl.DateTimeFormat | undefined;

/** Go's `2006-01-02 15:04:05.999 -0700 MST` in local time, rkt's `--full` time format. */
export function formatGoTime(at: number): string {
  const d = new Date(at);
  const ms = d.getMilliseconds();
  const frac = ms === 0 ? '' : `.${pad(ms, 3).replace(/0+$/, '')}`;
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  zoneFormat ??= new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
  const zone = zoneFormat.formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? '';
  const abbrev = /^(GMT|UTC)$/.test(zone) && off === 0 ? 'UTC' : zone;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${frac} ` +
    `${sign}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)} ${abbrev}`;
}
