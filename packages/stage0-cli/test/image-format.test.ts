import { describe, expect, it } from 'vitest';
import { formatGoTime, humanizeBytes, humanizeTime } from '../src/commands/image-format.js';
import { parseDurationFlag } from '../src/argv/duration.js';

describe('image list cells, as go-humanize and Go printed them for rkt', () => {
  it('sizes: IBytes', () => {
    expect([0, 9, 10, 512, 1023, 1024, 1536, 10 * 1024, 4096 * 1024 + 1, 3.5 * 1024 ** 3].map(humanizeBytes))
      .toEqual(['0 B', '9 B', '10 B', '512 B', '1023 B', '1.0 KiB', '1.5 KiB', '10 KiB', '4.0 MiB', '3.5 GiB']);
  });

  it('times: Time, relative to now', () => {
    const now = Date.UTC(2026, 0, 1);
    const ago = (ms: number) => humanizeTime(now - ms, now);
    expect([0, 999, 1000, 1500, 30_000, 90_000, 45 * 60_000, 3 * 3600e3, 30 * 3600e3, 3 * 86400e3, 10 * 86400e3, 60 * 86400e3, 400 * 86400e3, 800 * 86400e3].map(ago))
      .toEqual(['now', 'now', '1 second ago', '1 second ago', '30 seconds ago', '1 minute ago', '45 minutes ago', '3 hours ago', '1 day ago', '3 days ago', '1 week ago', '2 months ago', '1 year ago', '2 years ago']);
    expect(humanizeTime(now + 5 * 60_000, now)).toBe('5 minutes from now');
  });

  it("full times: Go's 2006-01-02 15:04:05.999 -0700 MST, trailing zeros of the fraction dropped", () => {
    expect(formatGoTime(Date.UTC(2026, 10, 28, 14, 5, 9, 250))).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:09\.25 [+-]\d{4} \S+$/);
    expect(formatGoTime(Date.UTC(2026, 10, 28, 14, 5, 9, 0))).toMatch(/:09 [+-]\d{4} \S+$/);
  });

  it('--grace-period: Go durations; anything else is a usage error naming the flag', () => {
    expect(parseDurationFlag('grace-period', '24h0m0s')).toBe(86400e3);
    expect(parseDurationFlag('grace-period', '1h30m')).toBe(5400e3);
    expect(parseDurationFlag('grace-period', '1.5s')).toBe(1500);
    expect(parseDurationFlag('grace-period', '0')).toBe(0);
    // Go's two micro signs, U+00B5 and U+03BC.
    expect(parseDurationFlag('grace-period', '1500\u00b5s')).toBe(1.5);
    expect(parseDurationFlag('grace-period', '1500\u03bcs')).toBe(1.5);
    for (const bad of ['', '5', 'soon', '-1h', '1d']) {
      expect(() => parseDurationFlag('grace-period', bad)).toThrow(/^invalid argument ".*" for --grace-period: not a duration/);
    }
  });
});
