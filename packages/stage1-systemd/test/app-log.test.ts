import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_APP_STREAM_MODES } from '@rkt/controller/stage1-abi';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { APP_LOG_LINE_MAX, AppLog } from '../src/app-log.js';
import { AppIoRelay } from '../src/io-relay.js';
import { appIoName } from '../src/units.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'app-log-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const LINE = /^([0-9]{16}) (stdout|stderr) ([^ ]+) (.*)$/;
const logLines = (name = 'apps.log') =>
  readFileSync(join(dir, 'stage1-log', name), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = LINE.exec(l);
      if (m === null) throw new Error(`not a log line: ${JSON.stringify(l)}`);
      return { micros: Number(m[1]), stream: m[2]!, app: m[3]!, text: m[4]! };
    });

describe('AppLog', () => {
  it('appends one line per line written, whatever the chunks, a character cut between chunks whole; the rest of a line at the end', () => {
    const log = AppLog.open(dir)!;
    const before = Date.now() * 1000;
    const w = log.lines('web', 'stdout');
    const euro = Buffer.from('€');
    w.write(Buffer.from('first\nsec'));
    w.write(Buffer.concat([Buffer.from('ond '), euro.subarray(0, 1)]));
    w.write(Buffer.concat([euro.subarray(1), Buffer.from('\n\nlast without newline')]));
    log.lines('job', 'stderr').write(Buffer.from('oops\n'));
    w.end();
    log.close();
    const lines = logLines();
    expect(lines.map((l) => [l.stream, l.app, l.text])).toEqual([
      ['stdout', 'web', 'first'],
      ['stdout', 'web', 'second €'],
      ['stdout', 'web', ''],
      ['stderr', 'job', 'oops'],
      ['stdout', 'web', 'last without newline'],
    ]);
    for (const l of lines) expect(l.micros).toBeGreaterThanOrEqual(before - 1000);
    for (const l of lines) expect(l.micros).toBeLessThanOrEqual(Date.now() * 1000 + 1000);
  });

  it('writes a line with no newline out once 48 KiB of it are waiting', () => {
    const log = AppLog.open(dir)!;
    const w = log.lines('web', 'stdout');
    w.write(Buffer.alloc(40 * 1024, 'x'));
    expect(logLines()).toEqual([]);
    w.write(Buffer.alloc(40 * 1024, 'y'));
    w.write(Buffer.from('tail\n'));
    log.close();
    expect(logLines().map((l) => l.text.length)).toEqual([80 * 1024, 4]);
    expect(80 * 1024).toBeGreaterThan(APP_LOG_LINE_MAX);
  });

  it('stays within its bound: past it, the file becomes apps.log.1 (the one before dropped) and a new one begins', () => {
    const log = AppLog.open(dir, 1000)!;
    const w = log.lines('web', 'stdout');
    for (let i = 0; i < 100; i++) w.write(Buffer.from(`line ${i}\n`));
    log.close();
    const size = (n: string) => statSync(join(dir, 'stage1-log', n)).size;
    // Each file ends when it reaches the bound, at most one write past it.
    expect(size('apps.log.1')).toBeGreaterThanOrEqual(1000);
    expect(size('apps.log.1')).toBeLessThan(1100);
    expect(size('apps.log')).toBeLessThan(1100);
    const kept = [...logLines('apps.log.1'), ...logLines()].map((l) => l.text);
    expect(kept.at(-1)).toBe('line 99');
    // The newest lines, in order, none lost between the two files.
    const first = Number(kept[0]!.split(' ')[1]);
    expect(kept).toEqual(Array.from({ length: 100 - first }, (_, i) => `line ${first + i}`));
    expect(first).toBeGreaterThan(0);
  });

  it('cannot be opened where no directory can be made: undefined, nothing thrown', () => {
    expect(AppLog.open(join(dir, 'missing', '\0bad'))).toBeUndefined();
  });
});

describe('AppIoRelay with a pod log', () => {
  it("logs what an app writes to its stdout and stderr sockets, as relayed, and closes the log with the relay", async () => {
    const io = join(dir, 'stage1-io');
    mkdirSync(io);
    const relay = new AppIoRelay(io, ['web'], new Map(), () => {}, () => {}, new Map(), new Map(), dir);
    await relay.listen();
    const send = (stream: 'stdout' | 'stderr', text: string) =>
      new Promise<void>((resolve, reject) => {
        const c = connect(join(io, appIoName('web', stream)), () => c.end(text));
        c.on('error', reject);
        c.on('close', () => resolve());
      });
    await send('stderr', 'warning: x\n');
    await send('stdout', 'api-log-test hello\nno newline');
    await relay.close(2000);
    expect(logLines().map((l) => [l.stream, l.app, l.text])).toEqual([
      ['stderr', 'web', 'warning: x'],
      ['stdout', 'web', 'api-log-test hello'],
      ['stdout', 'web', 'no newline'],
    ]);
  });

  it("logs an app added to the running pod (app/add's default log mode), again after its removal and a new add, and leaves its start to its unit", async () => {
    const io = join(dir, 'stage1-io');
    mkdirSync(io);
    const firstConnections: string[] = [];
    // A sandbox: no apps of its own.
    const relay = new AppIoRelay(io, [], new Map(), (app) => firstConnections.push(app), () => {}, new Map(), new Map(), dir);
    await relay.listen();
    const send = (stream: 'stdout' | 'stderr', text: string) =>
      new Promise<void>((resolve, reject) => {
        const c = connect(join(io, appIoName('added', stream)), () => c.end(text));
        c.on('error', reject);
        c.on('close', () => resolve());
      });
    const until = async (n: number) => {
      for (let i = 0; i < 100 && (existsSync(join(dir, 'stage1-log', 'apps.log')) ? logLines().length : 0) < n; i++) await new Promise((r) => setTimeout(r, 20));
    };
    await relay.addApp('added', DEFAULT_APP_STREAM_MODES, undefined, () => undefined);
    await send('stdout', 'added-app-log-test one\n');
    await send('stderr', 'added-app-log-test oops\n');
    await until(2);
    await relay.removeApp('added');
    expect(existsSync(join(io, appIoName('added', 'stdout')))).toBe(false);
    await relay.addApp('added', DEFAULT_APP_STREAM_MODES, undefined, () => undefined);
    await send('stdout', 'added-app-log-test two\n');
    await relay.close(2000);
    expect(logLines().map((l) => [l.stream, l.app, l.text])).toEqual([
      ['stdout', 'added', 'added-app-log-test one'],
      ['stderr', 'added', 'added-app-log-test oops'],
      ['stdout', 'added', 'added-app-log-test two'],
    ]);
    expect(firstConnections).toEqual([]);
  });

  it('keeps no log without a pod directory given', async () => {
    const io = join(dir, 'stage1-io');
    mkdirSync(io);
    const relay = new AppIoRelay(io, ['web'], new Map());
    await relay.listen();
    await relay.close(100);
    expect(existsSync(join(dir, 'stage1-log'))).toBe(false);
  });
});
