import { closeSync, fstatSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The apps' output log of a pod (what rkt's pod journal was to rkt's GetLogs): the relay appends every line an
 * app writes in the `log` mode to `<pod>/stage1-log/apps.log`, one line each:
 *
 *     <microseconds since the epoch> <stdout|stderr> <app name> <the line, without its newline>
 *
 * Appended only, never rewritten (a crash leaves at most a last line without its newline, which readers skip).
 * Bounded: once the file passes `APP_LOG_MAX_BYTES` it is renamed to `apps.log.1` (replacing the one before) and
 * a new one begun, so that a pod keeps at most twice that. `@rkt/api-service` reads it for GetLogs.
 */
export const APP_LOG_DIR = 'stage1-log';
export const APP_LOG_FILE = 'apps.log';
export const APP_LOG_OLD_FILE = 'apps.log.1';
export const APP_LOG_MAX_BYTES = 4 * 1024 * 1024;
/** A line longer than this without a newline is cut there (journald's LineMax is 48 KiB). */
export const APP_LOG_LINE_MAX = 48 * 1024;

/** The wall clock in microseconds: the journal's realtime stamps were microseconds too. */
function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * One pod's log, open for appending. Never throws into the relay: a log that cannot be written (a full disk)
 * stops logging, and the apps' output still reaches rkt's stdout and stderr.
 */
export class AppLog {
  private fd: number | undefined;
  private size: number;

  private constructor(
    private readonly dir: string,
    fd: number,
    private readonly maxBytes: number,
  ) {
    this.fd = fd;
    this.size = fstatSync(fd).size;
  }

  /** Opens (makes) `<podDir>/stage1-log/apps.log` for appending; undefined when it cannot be. */
  static open(podDir: string, maxBytes = APP_LOG_MAX_BYTES): AppLog | undefined {
    const dir = join(podDir, APP_LOG_DIR);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o750 });
      return new AppLog(dir, openSync(join(dir, APP_LOG_FILE), 'a', 0o640), maxBytes);
    } catch {
      return undefined;
    }
  }

  /** A writer for one connection of an app's stream: `write` each chunk, `end` at its close (writes what is left of its last line). */
  lines(app: string, stream: 'stdout' | 'stderr'): { write(chunk: Buffer): void; end(): void } {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const prefix = ` ${stream} ${app} `;
    return {
      write: (chunk) => {
        if (this.fd === undefined) return;
        const out: string[] = [];
        let start = 0;
        for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
          const piece = chunk.subarray(start, nl);
          out.push(pendingBytes > 0 ? Buffer.concat([...pending, piece]).toString('utf8') : piece.toString('utf8'));
          pending = [];
          pendingBytes = 0;
          start = nl + 1;
        }
        if (start < chunk.length) {
          pending.push(chunk.subarray(start));
          pendingBytes += chunk.length - start;
          if (pendingBytes >= APP_LOG_LINE_MAX) {
            out.push(Buffer.concat(pending).toString('utf8'));
            pending = [];
            pendingBytes = 0;
          }
        }
        if (out.length > 0) this.append(out, prefix);
      },
      end: () => {
        if (pendingBytes > 0) this.append([Buffer.concat(pending).toString('utf8')], prefix);
        pending = [];
        pendingBytes = 0;
      },
    };
  }

  private append(lines: readonly string[], prefix: string): void {
    if (this.fd === undefined) return;
    const at = String(nowMicros());
    const text = lines.map((l) => at + prefix + l + '\n').join('');
    try {
      this.size += writeSync(this.fd, text);
      if (this.size >= this.maxBytes) this.rotate();
    } catch {
      this.close();
    }
  }

  /** The full file becomes apps.log.1 (a rename: readers see one or the other whole) and a new one begins. */
  private rotate(): void {
    this.close();
    renameSync(join(this.dir, APP_LOG_FILE), join(this.dir, APP_LOG_OLD_FILE));
    this.fd = openSync(join(this.dir, APP_LOG_FILE), 'a', 0o640);
    this.size = 0;
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // Nothing to do about it: the log was append-only.
    }
  }
}
