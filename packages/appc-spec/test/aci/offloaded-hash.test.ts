import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { OffloadedHash, WORKER_SOURCE } from '../../src/aci/offloaded-hash.js';
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
      const w = new Worker(${JSON.stringify(WORKER_SOURCE)}, { eval: true, workerData: { algorithm: 'sha256' } });
      w.on('error', (e) => { console.error(e.message); process.exit(3); });
      w.on('message', (m) => {
        if (m instanceof ArrayBuffer) { w.postMessage(null); return; }
        process.stdout.write(m.hex);
        w.terminate();
      });
      const b = new TextEncoder().encode('abc');
      w.postMessage({ buffer: b.buffer, length: b.length }, [b.buffer]);
    `;
    const out = execFileSync(process.execPath, [...flags, '-e', parent], { encoding: 'utf8', timeout: 20_000 });
    expect(out).toBe(createHash('sha256').update('abc').digest('hex'));
  }, 30_000);
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
