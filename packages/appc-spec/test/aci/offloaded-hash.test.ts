import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { OffloadedHash, workerSource } from '../../src/aci/offloaded-hash.js';
import { scanAci } from '../../src/aci/scan.js';
import { MANIFEST_ENTRY, ROOTFS_ENTRY, appcErrorOf, craftTar } from './helpers.js';

// A live worker thread shows as a MessagePort among this thread's active resources; a terminated one
// leaves none behind.
const ports = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;

/** A sink that records how many worker ports were open once `after` bytes had passed through the scan. */
function probe(after: number): { sink: Writable; during: () => number | undefined } {
  let seen = 0;
  let during: number | undefined;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (during === undefined && seen >= after) during = ports();
      cb();
    },
  });
  return { sink, during: () => during };
}

/** Cuts `data` into chunks of uneven sizes, so that chunks straddle the hash's batch boundaries. */
function unevenChunks(data: Buffer): Buffer[] {
  const sizes = [1, 4095, 65_537, 1 << 20, 333_333, 7];
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - off);
    out.push(data.subarray(off, off + n));
    off += n;
  }
  return out;
}

// 24 MiB of incompressible data: the gzip is about as large, and many inflated chunks and hash batches.
const big = randomBytes(24 << 20);
const bigTar = craftTar([MANIFEST_ENTRY(), ROOTFS_ENTRY(), { name: 'rootfs/big', data: big }, { name: 'rootfs/small', data: 'x' }]);
const bigGzip = gzipSync(bigTar, { level: 1 });
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');

describe('OffloadedHash', () => {
  it('gives node:crypto\'s digest for a stream of many batches, through backpressure', async () => {
    const before = ports();
    const h = new OffloadedHash('sha512', { batchBytes: 1 << 20, maxBatches: 2 });
    let waited = 0;
    try {
      for (const chunk of unevenChunks(big)) {
        const wait = h.update(chunk);
        if (wait !== undefined) {
          waited++;
          await wait;
        }
      }
      expect(h.offloaded).toBe(true);
      expect(ports()).toBe(before + 1);
      expect(await h.digestHex()).toBe(sha512(big));
    } finally {
      await h.close();
    }
    // The worker is gone once close resolves.
    expect(ports()).toBe(before);
    // Two 1 MiB batches in flight for 24 MiB: the copy had to wait for the worker at least once.
    expect(waited).toBeGreaterThan(0);
  }, 60_000);

  it('hashes a stream shorter than one batch on this thread, without a worker', async () => {
    const before = ports();
    const h = new OffloadedHash('sha256');
    const data = randomBytes(100_000);
    try {
      for (const chunk of unevenChunks(data)) expect(h.update(chunk)).toBeUndefined();
      expect(await h.digestHex()).toBe(createHash('sha256').update(data).digest('hex'));
      expect(h.offloaded).toBe(false);
      expect(ports()).toBe(before);
    } finally {
      await h.close();
    }
  });

  it('stops its worker when closed without a digest (a failed stream)', async () => {
    const before = ports();
    const h = new OffloadedHash('sha512', { batchBytes: 1 << 20 });
    await h.update(big.subarray(0, 5 << 20));
    expect(h.offloaded).toBe(true);
    expect(ports()).toBe(before + 1);
    await h.close();
    expect(ports()).toBe(before);
    await h.close();
    expect(() => h.update(big.subarray(0, 10))).toThrow(/closed/);
  }, 60_000);

  // A worker inherits the parent's flags: under --input-type=module its eval'd script is an ES module, where
  // `require` does not exist (rkt's own bin is CommonJS, but a program importing the package may not be).
  it.each([['a CommonJS', []], ['an ES module', ['--input-type=module']]] as const)('the worker\'s script runs in %s parent', (_what, flags) => {
    const parent = `
      const { Worker } = process.getBuiltinModule('node:worker_threads');
      const w = new Worker(${JSON.stringify(workerSource())}, { eval: true, workerData: { algorithm: 'sha256', ranges: 'sha1' } });
      w.on('error', (e) => { console.error(e.message); process.exit(3); });
      w.on('message', (m) => {
        if (m instanceof ArrayBuffer) { w.postMessage(null); return; }
        process.stdout.write(m.hex + ' ' + JSON.stringify(m.ranges));
        w.terminate();
      });
      const b = new TextEncoder().encode('abcdef');
      w.postMessage({ buffer: b.buffer, length: b.length, ranges: [[7, 1, 3]] }, [b.buffer]);
    `;
    const out = execFileSync(process.execPath, [...flags, '-e', parent], { encoding: 'utf8', timeout: 20_000 });
    // The ranges' hashing (RangeDigests, sent as its source text) runs in the worker too.
    expect(out).toBe(`${createHash('sha256').update('abcdef').digest('hex')} [[7,"${createHash('sha1').update('bc').digest('hex')}"]]`);
  }, 30_000);
});

describe('OffloadedHash ranges', () => {
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  // Ranges that start and end inside batches, straddle batch boundaries (1 MiB batches), cover several, and
  // one of a single byte.
  const ranges: [number, number, number][] = [[0, 10, 20], [1, 100, (1 << 20) + 5], [2, (1 << 20) + 5, (3 << 20) + 17], [3, (5 << 20) - 1, 5 << 20], [4, 9 << 20, 24 << 20]];

  async function feed(h: OffloadedHash, data: Buffer, marks: readonly [number, number, number][]): Promise<void> {
    let pos = 0;
    let next = 0;
    for (const chunk of unevenChunks(data)) {
      // As the scan does: a range is marked once the chunk holding its header arrives, before its bytes.
      while (next < marks.length && marks[next]![1] < pos + chunk.length) {
        const [id, start, end] = marks[next++]!;
        h.markRange(id, start, end);
      }
      pos += chunk.length;
      const wait = h.update(chunk);
      if (wait !== undefined) await wait;
    }
  }

  it('digests each marked range on the worker, along with the whole stream', async () => {
    const h = new OffloadedHash('sha512', { batchBytes: 1 << 20, maxBatches: 2, ranges: 'sha256' });
    try {
      await feed(h, big, ranges);
      expect(h.offloaded).toBe(true);
      const d = await h.digest();
      expect(d.hex).toBe(sha512(big));
      expect(new Map(d.ranges)).toEqual(new Map(ranges.map(([id, start, end]) => [id, sha256(big.subarray(start, end))])));
    } finally {
      await h.close();
    }
  }, 60_000);

  it('digests them on this thread for a stream shorter than one batch', async () => {
    const data = big.subarray(0, 200_000);
    const small: [number, number, number][] = [[0, 0, 1], [1, 511, 70_000], [2, 70_000, 200_000]];
    const h = new OffloadedHash('sha512', { ranges: 'sha256' });
    try {
      await feed(h, data, small);
      const d = await h.digest();
      expect(h.offloaded).toBe(false);
      expect(d.hex).toBe(sha512(data));
      expect(new Map(d.ranges)).toEqual(new Map(small.map(([id, start, end]) => [id, sha256(data.subarray(start, end))])));
    } finally {
      await h.close();
    }
  });

  it('leaves out a range marked after its bytes went to the worker, and one that overlaps the last', async () => {
    const h = new OffloadedHash('sha512', { batchBytes: 1 << 20, ranges: 'sha256' });
    const M = 1 << 20;
    try {
      await h.update(big.subarray(0, 2 * M));
      expect(h.offloaded).toBe(true);
      h.markRange(0, 500, 3 * M);
      h.markRange(1, 3 * M, 3 * M + 200);
      h.markRange(2, 3 * M + 100, 3 * M + 300);
      await h.update(big.subarray(2 * M, 4 * M));
      const d = await h.digest();
      expect(d.hex).toBe(sha512(big.subarray(0, 4 * M)));
      expect(new Map(d.ranges)).toEqual(new Map([[1, sha256(big.subarray(3 * M, 3 * M + 200))]]));
    } finally {
      await h.close();
    }
  }, 60_000);

  it('refuses markRange without the ranges option', async () => {
    const h = new OffloadedHash('sha512');
    expect(() => h.markRange(0, 0, 1)).toThrow(/ranges option/);
    await h.close();
  });
});

describe('scanAci hashes the image ID on a worker thread', () => {
  it('gives the sha512 of the tar for a multi-chunk image, and leaves no worker behind', async () => {
    const before = ports();
    const { sink, during } = probe(12 << 20);
    const scan = await scanAci(Readable.from(unevenChunks(bigGzip)), { source: 'big.aci', sink });
    expect(scan.imageId).toBe(`sha512-${sha512(bigTar)}`);
    expect(scan.uncompressedSize).toBe(bigTar.length);
    // The worker was running halfway through, and is gone when the scan returns.
    expect(during()).toBe(before + 1);
    expect(ports()).toBe(before);
  }, 60_000);

  it('gives the digests of the rootfs files and hard links with fileDigests, on the worker', async () => {
    const other = big.subarray(3, 70_003);
    const tar = craftTar([
      MANIFEST_ENTRY(), ROOTFS_ENTRY(), { name: 'rootfs/big', data: big }, { name: './rootfs//other', data: other },
      { name: 'rootfs/empty', data: '' }, { name: 'rootfs/link', type: 'hardlink', linkname: 'rootfs/other' },
      { name: 'rootfs/sym', type: 'symlink', linkname: 'other' },
    ]);
    const scan = await scanAci(Readable.from(unevenChunks(gzipSync(tar, { level: 1 }))), { source: 'files.aci', fileDigests: true });
    expect(scan.imageId).toBe(`sha512-${sha512(tar)}`);
    const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    // Names in normal form; an empty file, a symlink and the manifest have none.
    expect(scan.files).toEqual(new Map([
      ['rootfs/big', { size: big.length, sha256: sha256(big) }],
      ['rootfs/other', { size: other.length, sha256: sha256(other) }],
      ['rootfs/link', { size: other.length, sha256: sha256(other) }],
    ]));
    // Without the option, none.
    expect((await scanAci(Readable.from([tar]), { source: 'files.aci' })).files).toBeUndefined();
  }, 60_000);

  it('marks a file\'s range before its bytes reach the hash, even when its header\'s chunk completes a batch', async () => {
    // The scan's batches are 4 MiB: the first chunk ends exactly there and holds the header and data of
    // `rootfs/b`, so the batch leaves for the worker within the chunk's hashing.
    const head = craftTar([MANIFEST_ENTRY(), ROOTFS_ENTRY()], { end: false });
    const a = big.subarray(0, (4 << 20) - 1024 - head.length - 512);
    const b = big.subarray(big.length - 300);
    const tar = craftTar([MANIFEST_ENTRY(), ROOTFS_ENTRY(), { name: 'rootfs/a', data: a }, { name: 'rootfs/b', data: b }, { name: 'rootfs/c', data: big.subarray(0, 5 << 20) }]);
    expect(tar.indexOf(b)).toBe((4 << 20) - 512);
    const scan = await scanAci(Readable.from([tar.subarray(0, 4 << 20), tar.subarray(4 << 20)]), { source: 'edge.aci', fileDigests: true });
    expect(scan.files?.get('rootfs/b')).toEqual({ size: 300, sha256: createHash('sha256').update(b).digest('hex') });
    expect([...(scan.files?.keys() ?? [])]).toEqual(['rootfs/a', 'rootfs/b', 'rootfs/c']);
  }, 60_000);

  it('a small image is hashed without a worker', async () => {
    const before = ports();
    const tar = craftTar([MANIFEST_ENTRY(), ROOTFS_ENTRY(), { name: 'rootfs/a', data: 'hello' }]);
    const { sink, during } = probe(1);
    const scan = await scanAci(Readable.from([gzipSync(tar)]), { source: 'small.aci', sink });
    expect(scan.imageId).toBe(`sha512-${sha512(tar)}`);
    expect(during()).toBe(before);
  });

  it.each([
    ['a truncated gzip stream', (b: Buffer) => b.subarray(0, Math.floor(b.length * 0.6)), /^big\.aci: gzip data is truncated/],
    ['a gzip stream with a corrupt checksum', (b: Buffer) => {
      const c = Buffer.from(b);
      c[c.length - 6] = c[c.length - 6]! ^ 0x55;
      return c;
    }, /^big\.aci: corrupt gzip data/],
  ] as const)('%s fails with its own message after the worker started, and stops it', async (_what, damage, message) => {
    const before = ports();
    const { sink, during } = probe(8 << 20);
    const err = await appcErrorOf(() => scanAci(Readable.from(unevenChunks(damage(bigGzip))), { source: 'big.aci', sink }));
    expect(err.code).toBe('APPC_COMPRESSION');
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n');
    expect(during()).toBe(before + 1);
    expect(ports()).toBe(before);
  }, 60_000);
});
