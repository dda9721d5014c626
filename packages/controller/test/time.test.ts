import { describe, expect, it } from 'vitest';
import { isoNow } from '../src/time.js';

describe('isoNow', () => {
  it('writes what toISOString writes', () => {
    const samples = [0, 1, 999, Date.UTC(2026, 10, 29, 5, 31, 7, 123), Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), Date.UTC(-1, 0, 1), -62198755200000];
    for (let i = 0; i < 1000; i++) samples.push(Math.floor(Math.random() * 8.64e15 * 2 - 8.64e15));
    for (const ms of samples) expect(isoNow(ms)).toBe(new Date(ms).toISOString());
    const before = Date.now();
    const now = Date.parse(isoNow());
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });
});
