import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectFileWriter } from '../src/direct-write.js';
import { openStore } from '../src/index.js';
import { makeAci, noise, tempDir } from './helpers.js';
import { buildBundle } from './multiprocess.js';

/** Deterministic bytes, different at every offset (a misplaced block shows). */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Pages of `file` in the page cache, from util-linux's fincore. */
function cachedPages(file: string): number {
  return Number(execFileSync('fincore', ['--noheadings', '--bytes', '--output', 'PAGES', file], { encoding: 'utf8' }).trim());
}

async function writeAll(w: DirectFileWriter, chunks: readonly Buffer[]): Promise<void> {
  for (const c of chunks) await w.write(c);
}

describe('DirectFileWriter', () => {
  it('writes chunks of any size, front to back, to exactly their length, around the page cache', async () => {
    const dir = tempDir();
    const file = join(dir, 'out');
    // Sizes across block (1 MiB) and alignment (4 KiB) boundaries, ending off any boundary.
    const sizes = [1, 4095, 4097, 65536, (1 << 20) - 3, 1 << 20, 3 << 20, 12345, 777];
    const chunks = sizes.map((n, i) => bytes(n, i + 1));
    const progress: number[] = [];
    const w = DirectFileWriter.open(file, { exclusive: true, mode: 0o600 }, () => progress.push(w.bytesWritten));
    await writeAll(w, chunks);
    await w.end({ sync: true });
    const want = Buffer.concat(chunks);
    expect(statSync(file).size).toBe(want.length);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(w.size).toBe(want.length);
    expect(w.bytesWritten).toBe(want.length);
    // Progress only grows, and reaches the end.
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(want.length);
    // This machine's filesystems take O_DIRECT: none of it went through the page cache.
    expect(w.direct).toBe(true);
    expect(cachedPages(file)).toBe(0);
    expect(readFileSync(file).equals(want)).toBe(true);
  });

  it('writes an empty file, and a file of whole blocks', async () => {
    const dir = tempDir();
    const empty = DirectFileWriter.open(join(dir, 'empty'));
    await empty.end();
    expect(statSync(join(dir, 'empty')).size).toBe(0);
    const whole = bytes(2 << 20, 9);
    const w = DirectFileWriter.open(join(dir, 'whole'));
    await w.write(whole);
    await w.end();
    expect(readFileSync(join(dir, 'whole')).equals(whole)).toBe(true);
  });

  it('ends once: a second end is the same promise, and a write after it fails', async () => {
    const dir = tempDir();
    const w = DirectFileWriter.open(join(dir, 'f'));
    await w.write(bytes(10, 3));
    const a = w.end();
    expect(w.end()).toBe(a);
    await a;
    await expect(w.write(bytes(1, 1))).rejects.toThrow(/write after end/);
    expect(readFileSync(join(dir, 'f')).length).toBe(10);
  });

  it('refuses an existing file with exclusive, and truncates one without', async () => {
    const dir = tempDir();
    const file = join(dir, 'f');
    writeFileSync(file, 'x'.repeat(10_000));
    expect(() => DirectFileWriter.open(file, { exclusive: true })).toThrow(/EEXIST/);
    const w = DirectFileWriter.open(file);
    await w.write(Buffer.from('short'));
    await w.end();
    expect(readFileSync(file, 'utf8')).toBe('short');
  });

  it.skipIf(process.getuid?.() !== 0)('carries on with ordinary writes where the filesystem refuses O_DIRECT (ramfs)', async () => {
    const dir = tempDir();
    const mnt = join(dir, 'ramfs');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'ramfs', 'none', mnt]);
    try {
      const chunks = [bytes(5000, 1), bytes(2 << 20, 2), bytes(3, 3)];
      const w = DirectFileWriter.open(join(mnt, 'f'));
      expect(w.direct).toBe(false);
      await writeAll(w, chunks);
      await w.end({ sync: true });
      expect(readFileSync(join(mnt, 'f')).equals(Buffer.concat(chunks))).toBe(true);
      expect(w.bytesWritten).toBe(w.size);
    } finally {
      spawnSync('umount', ['-l', mnt]);
    }
  });

  it('is how the store writes a blob: an import, with or without an early extraction, leaves none of it in the page cache', async () => {
    const work = tempDir();
    const aci = makeAci(work, { name: 'example.com/app', files: { 'data/big': noise(5 << 20, 5), 'etc/a': 'a\n' }, compression: 'gzip' });
    for (const extract of [false, true]) {
      const store = await openStore({ dir: join(work, `data-${extract}`) });
      const { id, extracted } = await store.importAci(aci, { extract });
      const blob = join(work, `data-${extract}`, 'cas', 'images', id, 'aci');
      expect(statSync(blob).size).toBeGreaterThan(5 << 20);
      expect(cachedPages(blob)).toBe(0);
      // The early extraction read it from the disk too, and got all of it.
      if (extract) expect(readFileSync(join(extracted!, 'rootfs/etc/a'), 'utf8')).toBe('a\n');
      expect((await store.verifyImage(id, { repair: false })).ok).toBe(true);
    }
  });

  it('writes ordinarily where no aligned memory can be had (node --jitless: no WebAssembly), an import included', async () => {
    const work = tempDir();
    const aci = makeAci(work, { name: 'example.com/app', files: { 'data/big': noise(3 << 20, 8), 'etc/a': 'a\n' }, compression: 'gzip' });
    const { bundle, cleanup } = await buildBundle();
    try {
      const script = `
        import { openStore, DirectFileWriter } from ${JSON.stringify(bundle)};
        const w = DirectFileWriter.open(${JSON.stringify(join(work, 'plain'))});
        await w.write(Buffer.from('abc'));
        await w.end();
        const store = await openStore({ dir: ${JSON.stringify(join(work, 'data'))} });
        const r = await store.importAci(${JSON.stringify(aci)}, { extract: true });
        const tree = await store.render(r.id, { extracted: r.extracted });
        console.log(JSON.stringify({ direct: w.direct, wasm: typeof WebAssembly, id: r.id, adopted: r.extracted !== undefined, rootfs: tree.rootfs }));
      `;
      const r = spawnSync(process.execPath, ['--jitless', '--input-type=module', '-e', script], { encoding: 'utf8' });
      // V8 says it turned WebAssembly off; nothing else may be on stderr.
      expect(r.stderr.replace(/^Warning: disabling flag --expose_wasm due to conflicting flags\n/, '')).toBe('');
      expect(r.status).toBe(0);
      const out = JSON.parse(r.stdout) as { direct: boolean; wasm: string; id: string; adopted: boolean; rootfs: string };
      expect(out.wasm).toBe('undefined');
      expect(out.direct).toBe(false);
      expect(readFileSync(join(work, 'plain'), 'utf8')).toBe('abc');
      expect(out.adopted).toBe(true);
      expect(readFileSync(join(out.rootfs, 'etc/a'), 'utf8')).toBe('a\n');
      expect(readFileSync(join(out.rootfs, 'data/big')).equals(noise(3 << 20, 8))).toBe(true);
    } finally {
      cleanup();
    }
  }, 120_000);
});
