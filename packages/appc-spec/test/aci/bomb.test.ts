import { createWriteStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { scanAci } from '../../src/aci/scan.js';
import { encodeHeader } from '../../src/aci/tar-writer.js';
import { MANIFEST_ENTRY, ROOTFS_ENTRY, appcErrorOf, childrenOf, craftTar, sh, tempDir } from './helpers.js';

const MiB = 1 << 20;
const ZERO_MEMBER = 64 * MiB;
const COPIES = 256; // 16 GiB once expanded

/** 64 MiB of zeros streamed through gzip: one member, about 64 KiB. */
async function gzipZeros(path: string): Promise<void> {
  const zeros = Buffer.alloc(MiB);
  async function* chunks() {
    for (let i = 0; i < ZERO_MEMBER / MiB; i++) yield zeros;
  }
  await pipeline(Readable.from(chunks()), createGzip({ level: 9 }), createWriteStream(path));
}

/**
 * A valid-looking ACI: manifest, rootfs and a 16 GiB file of zeros, as concatenated gzip (or xz) members,
 * which every decoder must treat as one stream. A few MB on disk.
 */
async function bomb(dir: string, compressor: 'gzip' | 'xz'): Promise<string> {
  const head = Buffer.concat([
    craftTar([MANIFEST_ENTRY(), ROOTFS_ENTRY()], { end: false }),
    encodeHeader({ name: 'rootfs/zeros', type: 'file', mode: 0o644, uid: 0, gid: 0, size: COPIES * ZERO_MEMBER, mtime: 0 }),
  ]);
  const member = join(dir, 'zeros.member');
  if (compressor === 'gzip') await gzipZeros(member);
  else sh('sh', ['-c', `head -c ${ZERO_MEMBER} /dev/zero | xz -c -1 > ${member}`]);
  const memberBytes = await readFile(member);
  const out = join(dir, `bomb-${compressor}.aci`);
  const fh = await open(out, 'w');
  try {
    await fh.write(sh(compressor, ['-c'], { input: head }));
    for (let i = 0; i < COPIES; i++) await fh.write(memberBytes);
  } finally {
    await fh.close();
  }
  return out;
}

describe('decompression bombs', () => {
  it.each(['gzip', 'xz'] as const)(
    'a %s bomb stops at maxUncompressedSize quickly and with flat memory',
    async (compressor) => {
      const d = tempDir();
      const path = await bomb(d, compressor);
      const { size } = await stat(path);
      expect(size).toBeLessThan(32 * MiB);

      const limit = 128 * MiB;
      const rssBefore = process.memoryUsage().rss;
      let rssPeak = rssBefore;
      const sampler = setInterval(() => {
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      }, 5);
      const t0 = performance.now();
      try {
        const err = await appcErrorOf(() => scanAci(path, { maxUncompressedSize: limit }));
        const elapsed = performance.now() - t0;
        console.log(`${compressor} bomb of ${size} bytes refused after ${elapsed.toFixed(0)} ms, rss +${((rssPeak - rssBefore) / MiB).toFixed(0)} MiB`);
        expect(err.code).toBe('APPC_ACI_TOO_LARGE');
        expect(err.message).toBe(`${path}: uncompressed archive exceeds the ${limit}-byte limit`);
        // 128 MiB decode in a second or two even on a loaded machine; the whole 16 GiB would take minutes.
        expect(elapsed).toBeLessThan(15_000);
        expect(rssPeak - rssBefore).toBeLessThan(128 * MiB);
        expect(childrenOf(process.pid)).not.toContain('xz');
      } finally {
        clearInterval(sampler);
      }
    },
    60_000,
  );
});
