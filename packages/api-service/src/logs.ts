import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The apps' output log the systemd stage1's relay appends in the pod directory (`@rkt/stage1-systemd`'s
 * app-log.ts): `stage1-log/apps.log`, and `apps.log.1` before it once the first passed its bound. One line per
 * line an app wrote: `<microseconds since the epoch> <stdout|stderr> <app> <text>`.
 */
export const POD_LOG_DIR = 'stage1-log';
export const POD_LOG_FILE = 'apps.log';
export const POD_LOG_OLD_FILE = 'apps.log.1';

export interface LogEntry {
  /** Microseconds since the epoch (the relay's clock when it got the line). */
  readonly micros: number;
  readonly stream: 'stdout' | 'stderr';
  readonly app: string;
  readonly text: string;
}

/** One line of the log, or undefined for one that is not (a line cut by a crash is never parsed: see `LogCursor`). */
export function parseLogLine(line: string): LogEntry | undefined {
  const m = /^([0-9]{1,17}) (stdout|stderr) ([^ ]+) /.exec(line);
  if (m === null) return undefined;
  return { micros: Number(m[1]), stream: m[2] as 'stdout' | 'stderr', app: m[3]!, text: line.slice(m[0].length) };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * A line as rkt's GetLogs gave it (go-systemd's JournalReader, its default formatter): the entry's time as Go
 * prints a time.Time, to the microsecond with trailing zeros dropped, then a space and the message. rkt printed
 * the host's zone; this is always UTC (`+0000 UTC`).
 */
export function formatLogLine(e: LogEntry): string {
  const d = new Date(Math.floor(e.micros / 1000));
  const frac = String(e.micros % 1_000_000).padStart(6, '0').replace(/0+$/, '');
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${date}${frac === '' ? '' : `.${frac}`} +0000 UTC ${e.text}`;
}

/** GetLogsRequest as decoded (int64 as decimal text). */
export interface LogsRequest {
  readonly pod_id: string;
  readonly app_name: string;
  readonly lines: number;
  readonly follow: boolean;
  readonly since_time: string;
  readonly until_time: string;
}

/** Whether an entry passes the request's app and time conditions (`since_time` inclusive, `until_time` exclusive, seconds). */
export function logEntryMatches(e: LogEntry, req: Pick<LogsRequest, 'app_name' | 'since_time' | 'until_time'>): boolean {
  if (req.app_name !== '' && e.app !== req.app_name) return false;
  const since = Number(req.since_time);
  const until = Number(req.until_time);
  if (since > 0 && e.micros < since * 1_000_000) return false;
  if (until > 0 && e.micros >= until * 1_000_000) return false;
  return true;
}

/**
 * The entries a request without `follow` gets, in order: as go-systemd's reader placed its start, `since_time`
 * wins over `lines` (the last N, when positive and no since_time was given).
 */
export function selectLogEntries(all: readonly LogEntry[], req: Pick<LogsRequest, 'app_name' | 'lines' | 'since_time' | 'until_time'>): LogEntry[] {
  const matching = all.filter((e) => logEntryMatches(e, req));
  if (Number(req.since_time) === 0 && req.lines > 0) return matching.slice(-req.lines);
  return matching;
}

/**
 * Reads a pod's log from its start and then what is appended, across the relay's rotations: the file is held
 * open, and when `apps.log` is a new file (renamed away under it) the old one is read to its end before the new
 * one is opened. Only whole lines are given: a last line without its newline waits for it.
 */
export class LogCursor {
  private fd: number | undefined;
  private ino = 0;
  private offset = 0;
  private partial: Buffer = Buffer.alloc(0);

  private constructor(private readonly dir: string) {}

  /** A cursor at the start of the pod's log; undefined when the pod has none (fly, or a pod run before logs were kept). */
  static open(podDir: string): { cursor: LogCursor; entries: LogEntry[] } | undefined {
    const c = new LogCursor(join(podDir, POD_LOG_DIR));
    try {
      c.fd = openSync(join(c.dir, POD_LOG_FILE), 'r');
    } catch {
      // Only the old file (a crash between the rotation's rename and the new file's creation).
      try {
        c.fd = openSync(join(c.dir, POD_LOG_OLD_FILE), 'r');
        c.ino = -1;
        const entries = c.readNew();
        return { cursor: c, entries };
      } catch {
        return undefined;
      }
    }
    c.ino = fstatSync(c.fd).ino;
    let old: LogEntry[] = [];
    try {
      const oldFd = openSync(join(c.dir, POD_LOG_OLD_FILE), 'r');
      const o = new LogCursor(c.dir);
      o.fd = oldFd;
      old = o.readNew();
      o.close();
    } catch {
      old = [];
    }
    return { cursor: c, entries: [...old, ...c.readNew()] };
  }

  /** The whole lines appended since the last call. */
  next(): LogEntry[] {
    const out = this.readNew();
    let ino: number | undefined;
    try {
      ino = statSync(join(this.dir, POD_LOG_FILE)).ino;
    } catch {
      ino = undefined; // Gone (rm, gc) or moved with its pod: the open file is all there is.
    }
    if (ino !== undefined && ino !== this.ino) {
      // Rotated: what was written to the old file before its rename, then the new one from its start.
      out.push(...this.readNew());
      this.close();
      try {
        this.fd = openSync(join(this.dir, POD_LOG_FILE), 'r');
        this.ino = fstatSync(this.fd).ino;
        this.offset = 0;
        this.partial = Buffer.alloc(0);
        out.push(...this.readNew());
      } catch {
        this.fd = undefined;
      }
    }
    return out;
  }

  private readNew(): LogEntry[] {
    if (this.fd === undefined) return [];
    const chunks: Buffer[] = [];
    const buf = Buffer.allocUnsafe(256 * 1024);
    for (;;) {
      const n = readSync(this.fd, buf, 0, buf.length, this.offset);
      if (n === 0) break;
      this.offset += n;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    if (chunks.length === 0) return [];
    // Split on the bytes, so that a character cut between two reads is decoded whole.
    const bytes = Buffer.concat([this.partial, ...chunks]);
    const end = bytes.lastIndexOf(10);
    this.partial = Buffer.from(bytes.subarray(end + 1));
    if (end < 0) return [];
    return bytes
      .subarray(0, end)
      .toString('utf8')
      .split('\n')
      .map(parseLogLine)
      .filter((e): e is LogEntry => e !== undefined);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** The part of a grpc-js server stream GetLogs uses (a type only: nothing of grpc-js is loaded here). */
export interface LogsCall {
  readonly request: LogsRequest;
  write(res: { lines: string[] }): boolean;
  end(): void;
  on(event: 'cancelled' | 'close', listener: () => void): unknown;
}

/** How often a following stream looks for new lines: go-systemd's Follow waited on the journal 100 ms at a time. */
const FOLLOW_POLL_MS = 100;

/**
 * GetLogs' streams over pod logs. Without `follow`: one response with every line the request selects. With
 * it, as rkt's Follow wrote entry by entry: one response per line, those selected first, then each line as it
 * is appended, until the client cancels, `until_time` passes, or the service closes (`endAll`).
 */
export class LogStreams {
  readonly #open = new Set<() => void>();

  /** Serves `call` from the log of the pod in `podDir`; false when the pod keeps none (the caller answers). */
  serve(call: LogsCall, podDir: string): boolean {
    const opened = LogCursor.open(podDir);
    if (opened === undefined) return false;
    const { cursor, entries } = opened;
    const req = call.request;
    const selected = selectLogEntries(entries, req);
    if (!req.follow) {
      cursor.close();
      call.write({ lines: selected.map(formatLogLine) });
      call.end();
      return true;
    }
    for (const e of selected) call.write({ lines: [formatLogLine(e)] });
    const until = Number(req.until_time) * 1000;
    const poll = setInterval(() => {
      let fresh: LogEntry[];
      try {
        fresh = cursor.next();
      } catch {
        fresh = [];
      }
      for (const e of fresh) if (logEntryMatches(e, req)) call.write({ lines: [formatLogLine(e)] });
      if (until > 0 && Date.now() >= until) end();
    }, FOLLOW_POLL_MS);
    const end = (): void => {
      if (!this.#open.delete(end)) return;
      clearInterval(poll);
      cursor.close();
      call.end();
    };
    this.#open.add(end);
    call.on('cancelled', end);
    call.on('close', end);
    return true;
  }

  endAll(): void {
    for (const end of [...this.#open]) end();
  }
}
