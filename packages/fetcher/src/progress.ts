/** Where progress and warnings go: stderr. The bar is drawn only when it is a terminal. */
export interface ProgressSink {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface Progress {
  /** Bytes received so far (absolute, including a resumed part). */
  update(received: number): void;
  done(): void;
}

const QUIET: Progress = { update: () => undefined, done: () => undefined };

function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/**
 * A one-line bar redrawn in place (`\r`), at most every 100 ms, like rkt's "Downloading ACI: [====  ]".
 * Quiet unless `sink` is a terminal, so logs and pipes get no control characters.
 */
export function createProgress(sink: ProgressSink | undefined, label: string, total: number | undefined): Progress {
  if (sink === undefined || sink.isTTY !== true) return QUIET;
  let last = 0;
  let current = 0;
  const draw = () => {
    const width = Math.max(10, Math.min(40, (sink.columns ?? 80) - label.length - 30));
    let line: string;
    if (total !== undefined && total > 0) {
      const frac = Math.min(1, current / total);
      const filled = Math.round(frac * width);
      line = `${label}: [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${human(current)} / ${human(total)}`;
    } else {
      line = `${label}: ${human(current)}`;
    }
    sink.write(`\r${line}\x1b[K`);
  };
  return {
    update(received) {
      current = received;
      const now = Date.now();
      if (now - last >= 100) {
        last = now;
        draw();
      }
    },
    done() {
      draw();
      sink.write('\n');
    },
  };
}
