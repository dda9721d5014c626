import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach } from 'vitest';

const made: string[] = [];

/** A temp directory removed after the current test, pass or fail. */
export function tempDir(prefix = 'rkt-store-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

// A test's directories can hold thousands of files and tens of megabytes (early-extract's): their removal took
// over vitest's 10 s hook timeout once, on a machine at load ~7.
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}, 60_000);

export type FileSpec =
  | string
  | Buffer
  | { readonly type: 'file'; readonly content: string | Buffer; readonly mode?: number }
  | { readonly type: 'symlink'; readonly target: string }
  | { readonly type: 'hardlink'; readonly target: string }
  | { readonly type: 'dir'; readonly mode?: number };

export interface AciSpec {
  readonly name: string;
  readonly labels?: Record<string, string>;
  /** Paths relative to rootfs. */
  readonly files?: Record<string, FileSpec>;
  readonly dependencies?: readonly { imageName: string; imageID?: string; labels?: Record<string, string> }[];
  readonly pathWhitelist?: readonly string[];
  readonly compression?: 'gzip' | 'bzip2' | 'xz';
}

const toLabels = (l: Record<string, string> | undefined) => Object.entries(l ?? {}).map(([name, value]) => ({ name, value }));

export function manifestJson(spec: AciSpec): string {
  return JSON.stringify({
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: spec.name,
    labels: toLabels(spec.labels),
    ...(spec.dependencies === undefined ? {} : {
      dependencies: spec.dependencies.map((d) => ({ imageName: d.imageName, ...(d.imageID ? { imageID: d.imageID } : {}), labels: toLabels(d.labels) })),
    }),
    ...(spec.pathWhitelist === undefined ? {} : { pathWhitelist: spec.pathWhitelist }),
  });
}

/** Builds an ACI with GNU tar from a layout directory, as a user would. */
export function makeAci(workDir: string, spec: AciSpec): string {
  const layout = mkdtempSync(join(workDir, 'layout-'));
  mkdirSync(join(layout, 'rootfs'));
  writeFileSync(join(layout, 'manifest'), manifestJson(spec));
  for (const [rel, f] of Object.entries(spec.files ?? {})) {
    const p = join(layout, 'rootfs', rel);
    mkdirSync(dirname(p), { recursive: true });
    const s = typeof f === 'string' || Buffer.isBuffer(f) ? { type: 'file' as const, content: f } : f;
    if (s.type === 'file') writeFileSync(p, s.content, { mode: s.mode ?? 0o644 });
    else if (s.type === 'symlink') symlinkSync(s.target, p);
    else if (s.type === 'hardlink') linkSync(join(layout, 'rootfs', s.target), p);
    else mkdirSync(p, { recursive: true, mode: s.mode ?? 0o755 });
  }
  const out = `${layout}.aci`;
  execFileSync('tar', ['--format=pax', '--sort=name', '--mtime=@1500000000', '-C', layout, '-cf', out, 'manifest', 'rootfs']);
  rmSync(layout, { recursive: true });
  if (spec.compression === undefined) return out;
  execFileSync(spec.compression, ['-q', '-f', out]);
  return `${out}.${{ gzip: 'gz', bzip2: 'bz2', xz: 'xz' }[spec.compression]}`;
}

/** One entry of a hand-made (possibly hostile) tar archive. */
export interface RawEntry {
  readonly name: string;
  readonly type?: '0' | '1' | '2' | '3' | '4' | '5' | '6' | 'S' | 'V' | 'x' | 'L';
  readonly content?: string | Buffer;
  readonly linkname?: string;
  readonly mode?: number;
}

function octal(b: Buffer, off: number, len: number, n: number): void {
  b.write(n.toString(8).padStart(len - 1, '0'), off, len - 1, 'latin1');
}

export function rawHeader(e: RawEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, 'utf8');
  octal(h, 100, 8, e.mode ?? 0o644);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, 1500000000);
  h.write(e.type ?? '0', 156, 1, 'latin1');
  h.write(e.linkname ?? '', 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 8, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of h) sum += c;
  h.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  h[154] = 0;
  return h;
}

/** A tar archive written byte by byte, for inputs no honest tool would make. */
export function rawTar(entries: readonly RawEntry[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = typeof e.content === 'string' ? Buffer.from(e.content) : (e.content ?? Buffer.alloc(0));
    parts.push(rawHeader(e, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const MANIFEST = (name = 'example.com/hostile') => ({ name: 'manifest', content: manifestJson({ name }) });

export const sha512Id = (b: Buffer): string => `sha512-${createHash('sha512').update(b).digest('hex')}`;

/** A minimal valid ACI made in memory: quick to vary, for tests that need many distinct images. */
export function tinyAci(name: string, content: string, labels?: Record<string, string>): Buffer {
  return rawTar([
    { name: 'manifest', content: manifestJson({ name, ...(labels === undefined ? {} : { labels }) }) },
    { name: 'rootfs/', type: '5', mode: 0o755 },
    { name: 'rootfs/data', content },
  ]);
}

/** Deterministic pseudo-random numbers (tests print their seed so a failure can be replayed). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Incompressible bytes, so that hashing and decompression do real work. */
export function noise(size: number, seed: number): Buffer {
  const next = rng(seed);
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) b.writeUInt32LE(Math.floor(next() * 2 ** 32), i);
  return b;
}

/** A pax record line (`"%d key=value\n"`), for hand-made extended headers. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + String(body.length).length;
  if (String(len).length !== String(body.length).length) len = body.length + String(len).length;
  return `${len}${body}`;
}
