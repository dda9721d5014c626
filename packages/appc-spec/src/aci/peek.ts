import { finished } from 'node:stream';

/** The start of a stream, and the whole stream (start included) to read after looking at it. */
export interface Peeked {
  head: Buffer;
  chunks: AsyncGenerator<Buffer>;
  /** Bytes handed out by `chunks` so far. */
  bytesRead(): number;
}

/**
 * Reads at least `n` bytes (fewer only if the stream is shorter) without losing them: the compression of an
 * archive is known only from its first bytes, and a stream cannot be rewound.
 */
export async function peek(stream: NodeJS.ReadableStream, n: number): Promise<Peeked> {
  const it = chunksOf(stream);
  const parts: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < n) {
    const r = await it.next();
    if (r.done === true) {
      ended = true;
      break;
    }
    const b = toBuffer(r.value);
    parts.push(b);
    length += b.length;
  }
  const head = Buffer.concat(parts, length);
  let read = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    read += head.length;
    if (head.length > 0) yield head;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done === true) return;
      const b = toBuffer(r.value);
      read += b.length;
      yield b;
    }
  }
  return { head, chunks: chunks(), bytesRead: () => read };
}

/** Chunks a reader may hold before the stream is paused (backpressure). */
const MAX_QUEUED = 4;

/**
 * The chunks of `stream` as they were written, with backpressure. A Readable's own async iterator takes
 * what it buffered with `read()`, which copies every waiting chunk into one new buffer: behind a slower
 * reader (the scan of a download) that was a copy of most bytes, and more outside memory to make the
 * garbage collector run.
 */
function chunksOf(stream: NodeJS.ReadableStream): AsyncIterator<Buffer | string> {
  const queue: Array<Buffer | string> = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: Buffer | string) => {
    queue.push(chunk);
    if (queue.length >= MAX_QUEUED) stream.pause();
    notify();
  };
  const cleanup = finished(stream, (err) => {
    ended = true;
    failure = err ?? undefined;
    stream.removeListener('data', onData);
    cleanup();
    notify();
  });
  stream.on('data', onData);
  return {
    async next(): Promise<IteratorResult<Buffer | string>> {
      for (;;) {
        const chunk = queue.shift();
        if (chunk !== undefined) {
          if (queue.length === 0 && !ended) stream.resume();
          return { done: false, value: chunk };
        }
        if (ended) {
          if (failure !== undefined) throw failure;
          return { done: true, value: undefined };
        }
        await new Promise<void>((resolve) => { wake = resolve; });
      }
    },
  };
}

function toBuffer(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : v;
}
