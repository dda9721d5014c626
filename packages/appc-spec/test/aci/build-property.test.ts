import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildAci } from '../../src/aci/build-list.js';
import type { AciEntry } from '../../src/aci/entries.js';
import { scanAci } from '../../src/aci/scan.js';
import { manifestJson, tempDir } from './helpers.js';

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

const ALPHABET = ['a', 'b', 'z', 'é', '日本', ' ', '-', '.x', 'long'.repeat(30)];

/** Random but valid entry lists: names near the ustar limits, unicode, big ids, xattrs, links of every kind. */
function randomEntries(rnd: () => number): AciEntry[] {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const n = 1 + Math.floor(rnd() * 12);
  const paths = new Set<string>();
  const entries: AciEntry[] = [];
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const depth = 1 + Math.floor(rnd() * 4);
    const parts = Array.from({ length: depth }, () => pick(ALPHABET) + String(Math.floor(rnd() * 3)));
    const path = parts.join('/');
    // No path may be a prefix directory of another non-directory: keep leaves distinct from parents.
    if ([...paths].some((p) => p === path || p.startsWith(`${path}/`) || path.startsWith(`${p}/`))) continue;
    paths.add(path);
    const meta = {
      mode: Math.floor(rnd() * 0o10000),
      uid: rnd() < 0.2 ? 2_097_152 + Math.floor(rnd() * 1e9) : Math.floor(rnd() * 70000),
      gid: Math.floor(rnd() * 70000),
      mtime: rnd() < 0.1 ? 2 ** 34 : Math.floor(rnd() * 2e9),
      xattrs: rnd() < 0.3 ? { [`user.${pick(ALPHABET)}`]: pick(ALPHABET) } : undefined,
    };
    const kind = Math.floor(rnd() * 6);
    if (kind <= 1 || files.length === 0) {
      entries.push({ type: 'file', path, data: pick(ALPHABET).repeat(Math.floor(rnd() * 700)), ...meta });
      files.push(path);
    } else if (kind === 2) {
      entries.push({ type: 'symlink', path, target: rnd() < 0.5 ? `/${pick(ALPHABET)}` : pick(ALPHABET).repeat(1 + Math.floor(rnd() * 40)), ...meta });
    } else if (kind === 3) {
      entries.push({ type: 'hardlink', path, target: pick(files) });
    } else if (kind === 4) {
      entries.push({ type: rnd() < 0.5 ? 'char' : 'block', path, major: Math.floor(rnd() * 4096), minor: Math.floor(rnd() * 1e6), ...meta });
    } else {
      entries.push({ type: rnd() < 0.5 ? 'fifo' : 'directory', path, ...meta });
    }
  }
  return entries;
}

describe('buildAci on random entry lists', () => {
  it('always writes an archive that scans, that GNU tar reads, and whose ID ignores list order', async () => {
    const d = tempDir();
    const rnd = prng(0xb111d);
    for (let i = 0; i < 150; i++) {
      const entries = randomEntries(rnd);
      const out = join(d, `${i}.aci`);
      const built = await buildAci(manifestJson(), entries, out);
      const scan = await scanAci(out);
      expect(scan.imageId, `iteration ${i}`).toBe(built.imageId);
      expect(scan.entryCount).toBe(built.entryCount);
      if (i % 10 === 0) {
        // GNU tar parses every header (pax records included) without complaint.
        const listing = execFileSync('tar', ['--numeric-owner', '-tvf', out], { encoding: 'utf8' });
        expect(listing.split('\n').filter((l) => l !== '')).toHaveLength(built.entryCount);
      }
      const shuffled = [...entries].sort(() => rnd() - 0.5);
      const again = await buildAci(manifestJson(), shuffled, join(d, `${i}-again.aci`), { overwrite: true });
      expect(again.imageId, `iteration ${i} reordered`).toBe(built.imageId);
    }
  }, 60_000);
});
