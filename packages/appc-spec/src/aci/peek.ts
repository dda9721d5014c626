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
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
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

function toBuffer(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : v;
}
