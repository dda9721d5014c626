import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AppcError } from '../src/errors.js';
import { scanAci } from '../src/aci/scan.js';
import { BLOCK } from '../src/aci/tar-header.js';
import { END_OF_ARCHIVE, encodeHeader, padding } from '../src/aci/tar-writer.js';
import type { TarHeader } from '../src/aci/tar-writer.js';

/** mulberry32: small, fast and seeded, so a failure names the seed and the iteration that reproduce it. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MANIFEST = JSON.stringify({
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/fuzz',
  labels: [{ name: 'os', value: 'linux' }],
  app: { exec: ['/bin/sh'], user: '0', group: '0' },
});

function tar(entries: Array<Partial<TarHeader> & { name: string; data?: string }>): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? undefined : Buffer.from(e.data);
    const type = e.type ?? (data === undefined ? 'directory' : 'file');
    parts.push(encodeHeader({ mode: 0o755, uid: 0, gid: 0, mtime: 1_600_000_000, ...e, type, size: data?.length ?? 0 }));
    if (data !== undefined) parts.push(data, Buffer.alloc(padding(data.length)));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

/** Small valid ACIs covering every header form the reader knows: ustar, prefix split, pax, xattrs, links, devices. */
function corpus(): Buffer[] {
  const long = `rootfs/${'d'.repeat(120)}/${'f'.repeat(90)}`;
  const a = tar([
    { name: 'manifest', data: MANIFEST, mode: 0o644 },
    { name: 'rootfs' },
    { name: 'rootfs/bin' },
    { name: 'rootfs/bin/busybox', data: 'ELF'.repeat(300), mode: 0o4755 },
    { name: 'rootfs/bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'rootfs/bin/ash', type: 'hardlink', linkname: 'rootfs/bin/busybox' },
    { name: 'rootfs/dev' },
    { name: 'rootfs/dev/null', type: 'char', devmajor: 1, devminor: 3 },
    { name: 'rootfs/dev/fifo', type: 'fifo' },
    { name: 'rootfs/etc' },
    { name: 'rootfs/etc/passwd', data: 'root:x:0:0::/:/bin/sh\n', xattrs: new Map([['user.note', Buffer.from('fuzz')]]) },
    { name: `rootfs/${'d'.repeat(120)}` },
    { name: long, data: 'long', uid: 3_000_000 },
  ]);
  const b = tar([{ name: 'manifest', data: MANIFEST }, { name: 'rootfs' }, { name: 'rootfs/a', data: 'x'.repeat(1500) }]);
  // GNU tar's own output: 'L' long names, GNU magic, 10 KiB record padding.
  const c = execFileSync('sh', [
    '-c',
    `d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT && mkdir -p "$d/rootfs/${'n'.repeat(110)}" && printf '%s' '${MANIFEST}' > "$d/manifest" && echo hi > "$d/rootfs/${'n'.repeat(110)}/file" && ln -s /etc "$d/rootfs/abs" && tar --format=gnu --numeric-owner -C "$d" -cf - manifest rootfs`,
  ]);
  return [a, b, c];
}

/** Recomputes a header block's checksum so a mutation gets past it and reaches the parsing behind. */
function fixChecksum(buf: Buffer, at: number): void {
  if (at + BLOCK > buf.length) return;
  buf.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[at + i]!;
  buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
}

function mutate(src: Buffer, others: Buffer[], rnd: () => number): Buffer {
  const pick = (n: number) => Math.floor(rnd() * n);
  const blocks = Math.floor(src.length / BLOCK);
  let buf = Buffer.from(src);
  const kind = pick(8);
  if (kind <= 2) {
    // Flip a few bytes, mostly inside headers' fields, then often make the checksum right again.
    const n = 1 + pick(6);
    for (let i = 0; i < n; i++) {
      const block = pick(blocks);
      const at = block * BLOCK + (rnd() < 0.7 ? pick(350) : pick(BLOCK));
      buf[at] = rnd() < 0.5 ? buf[at]! ^ (1 << pick(8)) : pick(256);
      if (rnd() < 0.6) fixChecksum(buf, block * BLOCK);
    }
  } else if (kind === 3) {
    // Random digits, spaces or NULs written over a numeric field (mode, ids, size, mtime, devices).
    const fields = [100, 108, 116, 124, 136, 329, 337];
    const block = pick(blocks);
    const at = block * BLOCK + fields[pick(fields.length)]!;
    const alphabet = '01234567 \0\u00ff\u0080';
    for (let i = 0; i < 1 + pick(11); i++) buf[at + i] = alphabet.charCodeAt(pick(alphabet.length));
    fixChecksum(buf, block * BLOCK);
  } else if (kind === 4) {
    buf = buf.subarray(0, pick(buf.length + 1));
  } else if (kind === 5) {
    // Splice: a run of blocks from another archive replaces or is inserted at a block boundary.
    const other = others[pick(others.length)]!;
    const ob = Math.floor(other.length / BLOCK);
    const from = pick(ob);
    const run = other.subarray(from * BLOCK, Math.min(other.length, (from + 1 + pick(4)) * BLOCK));
    const at = pick(blocks) * BLOCK;
    const replace = rnd() < 0.5 ? run.length : 0;
    buf = Buffer.concat([buf.subarray(0, at), run, buf.subarray(Math.min(buf.length, at + replace))]);
  } else if (kind === 6) {
    // Duplicate or drop a run of blocks (entries repeated or lost, data shifted).
    const at = pick(blocks) * BLOCK;
    const len = (1 + pick(3)) * BLOCK;
    const run = buf.subarray(at, at + len);
    buf = rnd() < 0.5 ? Buffer.concat([buf.subarray(0, at), run, buf.subarray(at)]) : Buffer.concat([buf.subarray(0, at), buf.subarray(at + len)]);
  } else {
    // A typeflag or a name character replaced: types, escapes and layout rules.
    const block = pick(blocks);
    const at = block * BLOCK + (rnd() < 0.5 ? 156 : pick(100));
    const choices = '0123456LKxgSV/.\0';
    buf[at] = choices.charCodeAt(pick(choices.length));
    fixChecksum(buf, block * BLOCK);
  }
  return buf;
}

/** Feeds `bytes` in random-sized chunks, so headers straddle chunk boundaries. */
function chunked(bytes: Buffer, rnd: () => number): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = rnd() < 0.5 ? bytes.length - i : 1 + Math.floor(rnd() * 1500);
    chunks.push(bytes.subarray(i, i + n));
    i += n;
  }
  return Readable.from(chunks);
}

type Outcome = 'ok' | string;

async function scanOutcome(bytes: Buffer, input: Readable, where: string): Promise<Outcome> {
  try {
    const scan = await scanAci(input, { source: 'fuzz.aci' });
    return scan.imageId;
  } catch (err) {
    if (err instanceof AppcError && typeof err.code === 'string' && !err.message.includes('\n')) return err.code;
    throw new Error(`${where}: not a one-line AppcError (${bytes.length} bytes): ${String(err)}`, { cause: err });
  }
}

describe('fuzzing scanAci', () => {
  it('10,000 mutated plain ACIs each scan or fail with a typed one-line AppcError', async () => {
    const seed = 0xac1f00d;
    const rnd = prng(seed);
    const base = corpus();
    for (const b of base) expect((await scanAci(Readable.from([b]))).imageId).toMatch(/^sha512-/);
    const codes = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const src = base[Math.floor(rnd() * base.length)]!;
      const bytes = mutate(src, base, rnd);
      const outcome = await scanOutcome(bytes, chunked(bytes, rnd), `seed ${seed} iteration ${i}`);
      if (outcome.startsWith('sha512-')) {
        // Whatever was accepted was hashed whole.
        expect(outcome).toBe(`sha512-${createHash('sha512').update(bytes).digest('hex')}`);
        codes.set('ok', (codes.get('ok') ?? 0) + 1);
      } else {
        codes.set(outcome, (codes.get(outcome) ?? 0) + 1);
      }
    }
    // The mutations reach past the checksum into every kind of rule.
    for (const code of ['ok', 'APPC_ACI_CORRUPT', 'APPC_ACI_LAYOUT', 'APPC_ACI_NO_MANIFEST']) expect(codes.get(code) ?? 0).toBeGreaterThan(20);
    expect([...codes.keys()].some((c) => c === 'APPC_VALIDATION' || c === 'APPC_INVALID_JSON')).toBe(true);
  }, 60_000);

  it('mutated gzip, bzip2 and xz ACIs each scan or fail with a typed one-line AppcError', async () => {
    const seed = 0x5eed;
    const rnd = prng(seed);
    const base = corpus();
    const packers: Array<[string, (b: Buffer) => Buffer, number]> = [
      ['gzip', (b) => gzipSync(b), 300],
      ['bzip2', (b) => execFileSync('bzip2', ['-c'], { input: b }), 60],
      ['xz', (b) => execFileSync('xz', ['-c', '-0'], { input: b }), 60],
    ];
    for (const [name, pack, count] of packers) {
      const packed = base.map(pack);
      for (let i = 0; i < count; i++) {
        const k = Math.floor(rnd() * packed.length);
        // Either the compressed bytes are damaged, or a damaged tar is compressed properly.
        const bytes = rnd() < 0.5 ? mutate(packed[k]!, packed, rnd) : pack(mutate(base[k]!, base, rnd));
        await scanOutcome(bytes, chunked(bytes, rnd), `${name} seed ${seed} iteration ${i}`);
      }
    }
  }, 60_000);
});
