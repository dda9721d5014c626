import type { Hash } from 'node:crypto';

/** A range of a stream to digest on its own: `[id, start, end)` in absolute stream offsets. */
export type DigestRange = readonly [id: number, start: number, end: number];

/**
 * Digests of ranges of a stream (the files of a tar archive), taken from the bytes as they pass, so that
 * nobody reads them again from disk. Ranges are added in stream order, without overlaps, before their first
 * byte is passed to `update`; one that arrives late is left out (its file is then read and hashed instead).
 *
 * Self-contained on purpose: its source text is also part of the hash worker's program (offloaded-hash.ts),
 * so it refers to nothing outside itself and gets `createHash` from whoever builds it.
 */
export class RangeDigests {
  private pos = 0;
  private queue: DigestRange[] = [];
  private head = 0;
  private current: Hash | undefined;
  /** `[id, hex digest]` of every range completed so far. */
  readonly done: [number, string][] = [];

  constructor(
    private readonly createHash: (algorithm: string) => Hash,
    private readonly algorithm: string,
  ) {}

  add(ranges: readonly DigestRange[]): void {
    for (const r of ranges) {
      const last = this.queue[this.queue.length - 1];
      if (r[1] < this.pos || r[2] <= r[1] || (last !== undefined && r[1] < last[2])) continue;
      this.queue.push(r);
    }
  }

  update(bytes: Uint8Array): void {
    const end = this.pos + bytes.length;
    while (this.head < this.queue.length) {
      const r = this.queue[this.head]!;
      if (r[1] >= end) break;
      const from = Math.max(r[1], this.pos) - this.pos;
      const to = Math.min(r[2], end) - this.pos;
      this.current ??= this.createHash(this.algorithm);
      this.current.update(bytes.subarray(from, to));
      if (r[2] > end) break;
      this.done.push([r[0], this.current.digest('hex')]);
      this.current = undefined;
      this.head++;
    }
    this.pos = end;
    // Completed ranges go, a thousand at a time, so that a huge archive's queue does not grow for ever.
    if (this.head >= 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
