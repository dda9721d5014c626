import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatLogLine, LogCursor, parseLogLine, selectLogEntries, type LogEntry } from '../src/index.js';

// 2026-12-01T02:53:33Z in seconds.
const T = 1_796_093_613;
const entry = (secOffset: number, app: string, text: string, micros = 0): LogEntry => ({ micros: (T + secOffset) * 1_000_000 + micros, stream: 'stdout', app, text });
const req = (over: Partial<{ app_name: string; lines: number; since_time: string; until_time: string }> = {}) => ({ app_name: '', lines: 0, since_time: '0', until_time: '0', ...over });

describe('log lines', () => {
  it("are read back as written by the stage1 (time, stream, app, the rest as is), and anything else is skipped", () => {
    expect(parseLogLine('1796093613000001 stderr web  two  spaces ')).toEqual({ micros: 1796093613000001, stream: 'stderr', app: 'web', text: ' two  spaces ' });
    expect(parseLogLine('1796093613000001 stdout web ')).toEqual({ micros: 1796093613000001, stream: 'stdout', app: 'web', text: '' });
    expect(parseLogLine('garbage')).toBeUndefined();
    expect(parseLogLine('1796093613000001 stdin web x')).toBeUndefined();
  });

  it("are given as Go printed the journal entry's time.Time, to the microsecond, trailing zeros dropped, then the text", () => {
    expect(formatLogLine(entry(0, 'web', 'hello', 123_450))).toBe('2026-12-01 02:53:33.12345 +0000 UTC hello');
    expect(formatLogLine(entry(0, 'web', 'hello'))).toBe('2026-12-01 02:53:33 +0000 UTC hello');
    expect(formatLogLine(entry(0, 'web', '', 7))).toBe('2026-12-01 02:53:33.000007 +0000 UTC ');
  });
});

describe('selectLogEntries', () => {
  const all = [entry(0, 'web', 'a'), entry(1, 'job', 'b'), entry(2, 'web', 'c'), entry(3, 'web', 'd'), entry(4, 'job', 'e')];
  const texts = (r: Parameters<typeof selectLogEntries>[1]) => selectLogEntries(all, r).map((e) => e.text);
  it("app_name keeps that app's lines (rkt matched SYSLOG_IDENTIFIER, the app's name); lines the last N", () => {
    expect(texts(req())).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(texts(req({ app_name: 'web' }))).toEqual(['a', 'c', 'd']);
    expect(texts(req({ app_name: 'nope' }))).toEqual([]);
    expect(texts(req({ lines: 2 }))).toEqual(['d', 'e']);
    expect(texts(req({ lines: 2, app_name: 'web' }))).toEqual(['c', 'd']);
    expect(texts(req({ lines: 99 }))).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(texts(req({ lines: -1 }))).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
  it('since_time (inclusive) wins over lines, as go-systemd placed its reader; until_time (exclusive) ends the selection', () => {
    expect(texts(req({ since_time: String(T + 2) }))).toEqual(['c', 'd', 'e']);
    expect(texts(req({ since_time: String(T + 2), lines: 1 }))).toEqual(['c', 'd', 'e']);
    expect(texts(req({ until_time: String(T + 2) }))).toEqual(['a', 'b']);
    expect(texts(req({ since_time: String(T + 1), until_time: String(T + 3), app_name: 'web' }))).toEqual(['c']);
  });
});

describe('LogCursor', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pod-log-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const line = (n: number) => `${(T + n) * 1_000_000} stdout web line ${n}\n`;
  const log = (name = 'apps.log') => join(dir, 'stage1-log', name);

  it('is undefined for a pod without a log (fly)', () => {
    expect(LogCursor.open(dir)).toBeUndefined();
  });

  it('reads the rotated file then the current one, whole lines only, then what is appended, across a rotation', () => {
    mkdirSync(join(dir, 'stage1-log'));
    writeFileSync(log('apps.log.1'), line(0) + line(1));
    writeFileSync(log(), line(2) + `${T * 1_000_000} stdout web cut sh`);
    const { cursor, entries } = LogCursor.open(dir)!;
    try {
      expect(entries.map((e) => e.text)).toEqual(['line 0', 'line 1', 'line 2']);
      expect(cursor.next()).toEqual([]);
      appendFileSync(log(), 'ort\n' + line(3));
      expect(cursor.next().map((e) => e.text)).toEqual(['cut short', 'line 3']);
      // The stage1 rotates: a last line in the old file, the rename, a new file.
      appendFileSync(log(), line(4));
      renameSync(log(), log('apps.log.1'));
      writeFileSync(log(), line(5));
      expect(cursor.next().map((e) => e.text)).toEqual(['line 4', 'line 5']);
      appendFileSync(log(), line(6));
      expect(cursor.next().map((e) => e.text)).toEqual(['line 6']);
    } finally {
      cursor.close();
    }
  });
});
