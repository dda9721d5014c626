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

/** One bar's text: `label: [====    ] 1.0 MiB / 4.0 MiB`, or the bytes alone when the total is unknown. */
function render(sink: ProgressSink, label: string, current: number, total: number | undefined): string {
  if (total === undefined || total <= 0) return `${label}: ${human(current)}`;
  const width = Math.max(10, Math.min(40, (sink.columns ?? 80) - label.length - 30));
  const filled = Math.round(Math.min(1, current / total) * width);
  return `${label}: [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${human(current)} / ${human(total)}`;
}

/**
 * A one-line bar redrawn in place (`\r`), at most every 100 ms, like rkt's "Downloading ACI: [====  ]".
 * Quiet unless `sink` is a terminal, so logs and pipes get no control characters.
 */
export function createProgress(sink: ProgressSink | undefined, label: string, total: number | undefined): Progress {
  if (sink === undefined || sink.isTTY !== true) return QUIET;
  let last = 0;
  let current = 0;
  const draw = () => sink.write(`\r${render(sink, label, current, total)}\x1b[K`);
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

/**
 * Bars for downloads that run at once (a Docker image's layers), one line each, by `order` (the layer's index:
 * the order they start in varies from one run to the next), as docker draws them: every redraw moves the cursor back up over the lines drawn before (at most every 100 ms,
 * and when a bar is done), so each line stays in place. Quiet unless `sink` is a terminal.
 */
export function createProgressBoard(sink: ProgressSink | undefined): { line(label: string, total: number | undefined, order?: number): Progress } {
  if (sink === undefined || sink.isTTY !== true) return { line: () => QUIET };
  const bars: Array<{ label: string; total: number | undefined; current: number; order: number }> = [];
  let shown = 0;
  let last = 0;
  const draw = () => {
    last = Date.now();
    let out = shown > 0 ? `\x1b[${shown}A` : '';
    for (const b of bars) out += `\r${render(sink, b.label, b.current, b.total)}\x1b[K\n`;
    shown = bars.length;
    sink.write(out);
  };
  return {
    line(label, total, order = bars.length) {
      const bar = { label, total, current: 0, order };
      bars.push(bar);
      bars.sort((a, b) => a.order - b.order);
      draw();
      return {
        update(received) {
          bar.current = received;
          if (Date.now() - last >= 100) draw();
        },
        done: draw,
      };
    },
  };
}
