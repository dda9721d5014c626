import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { runInThisContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';

// The footer every CommonJS bundle of the CLI ends with, loaded as a bundle has it: its functions, with a
// `require` that records which modules were loaded.
const footer = readFileSync(new URL('../build/lazy-builtins.cjs', import.meta.url), 'utf8');
const loaded: string[] = [];
const nodeRequire = createRequire(import.meta.url);
const recordingRequire = (id: string): unknown => {
  loaded.push(id);
  return nodeRequire(id);
};
const lazy = (runInThisContext(`(function (require) { ${footer}; return $rktLz_; })`) as (r: typeof recordingRequire) => (id: string) => unknown)(
  recordingRequire,
);
type Handle = {
  fd: number;
  write(data: unknown, ...rest: unknown[]): Promise<{ bytesWritten: number }>;
  writeFile(data: unknown): Promise<void>;
  read(...args: unknown[]): Promise<{ bytesRead: number; buffer: Buffer }>;
  readFile(o?: unknown): Promise<Buffer | string>;
  stat(): Promise<{ size: number }>;
  sync(): Promise<void>;
  truncate(n: number): Promise<void>;
  close(): Promise<void>;
  [k: string]: unknown;
};
type Call = (...a: unknown[]) => Promise<unknown>;
interface LightFs {
  open(...a: unknown[]): Promise<Handle>;
  mkdir: Call;
  writeFile: Call;
  readFile: Call;
  stat: Call;
  rename: Call;
  readdir: Call;
  rm: Call;
  opendir: Call;
}
const fsp = lazy('fs/promises') as LightFs;

const dir = mkdtempSync(join(tmpdir(), 'rkt-lazy-builtins-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the CLI bundles' import.meta.url", () => {
  it('is the bundle file\'s URL, computed when read', () => {
    const file = join(dir, 'some bundle.cjs');
    const meta = (runInThisContext(`(function (require, __filename) { ${footer}; return $rktMeta; })`) as (r: typeof recordingRequire, f: string) => { url: string })(
      recordingRequire,
      file,
    );
    expect(meta.url).toBe(`file://${dir}/some%20bundle.cjs`);
  });
});

describe("the CLI bundles' eager built-ins", () => {
  it("are Node's own module objects, got without the loader, and no built-in is required the slow way", () => {
    const bm = (runInThisContext(`(function (require) { ${footer}; return $rktBm_; })`) as (r: typeof recordingRequire) => (id: string) => unknown)(recordingRequire);
    const before = loaded.length;
    for (const id of ['fs', 'url', 'buffer', 'async_hooks', 'diagnostics_channel', 'node:fs']) expect(bm(id), id).toBe(nodeRequire(id));
    expect(loaded.length).toBe(before);
    // What the build made of the bundles: only third-party packages are left to `require`.
    const dist = new URL('../dist/commands/run.cjs', import.meta.url);
    const required = [...readFileSync(dist, 'latin1').matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]);
    expect(required.length).toBeGreaterThan(0);
    expect(required.filter((id) => builtinModules.includes(id!.replace(/^node:/, '')))).toEqual([]);
  });
});

describe("the CLI bundles' light fs/promises", () => {
  it('does the common calls through node:fs without loading fs/promises', async () => {
    const f = join(dir, 'a', 'b', 'file');
    await fsp.mkdir(join(dir, 'a', 'b'), { recursive: true });
    await fsp.writeFile(f, 'hello\n');
    expect(await fsp.readFile(f, 'utf8')).toBe('hello\n');
    expect(((await fsp.stat(f)) as { size: number }).size).toBe(6);
    await fsp.rename(f, `${f}2`);
    expect(await fsp.readdir(join(dir, 'a', 'b'))).toEqual(['file2']);
    await expect(fsp.stat(f)).rejects.toMatchObject({ code: 'ENOENT' });
    await fsp.rm(join(dir, 'a'), { recursive: true, force: true });
    expect(loaded).not.toContain('fs/promises');
  });

  it('is one object for the whole bundle, however many of its modules ask for it', () => {
    expect(lazy('fs/promises')).toBe(fsp);
    expect(lazy('node:fs/promises')).toBe(fsp);
  });

  it('gives file handles that write, sync, read and close', async () => {
    const f = join(dir, 'handle');
    const h = await fsp.open(f, 'wx', 0o600);
    expect(typeof h.fd).toBe('number');
    await h.writeFile('abc');
    await h.write(Buffer.from('defgh'), 1, 3, null);
    await h.sync();
    expect((await h.stat()).size).toBe(6);
    await h.close();
    expect(readFileSync(f, 'utf8')).toBe('abcefg');
    expect(statSync(f).mode & 0o777).toBe(0o600);
    await expect(fsp.open(f, 'wx')).rejects.toMatchObject({ code: 'EEXIST' });

    const r = await fsp.open(f, 'r');
    const { bytesRead, buffer } = await r.read(Buffer.alloc(4), 0, 4, 2);
    expect(buffer.subarray(0, bytesRead).toString()).toBe('cefg');
    expect(await r.readFile('utf8')).toBe('abcefg');
    await r.close();
    expect(loaded).not.toContain('fs/promises');
  });

  it('makes a small call without a trip through the thread pool: it settles before the loop turns', async () => {
    const f = join(dir, 'small');
    writeFileSync(f, 'x');
    const order: string[] = [];
    const turned = new Promise<void>((resolve) =>
      setImmediate(() => {
        order.push('loop');
        resolve();
      }),
    );
    const missing = join(dir, 'missing');
    await Promise.all([
      fsp.readFile(f, 'utf8').then(() => order.push('readFile')),
      fsp.stat(f).then(() => order.push('stat')),
      // A missing file is reported at once too, as the real module reports it.
      fsp.readFile(missing).then(
        () => order.push('read a missing file'),
        (err: NodeJS.ErrnoException) => order.push(`${err.code}: ${err.message}`),
      ),
      turned,
    ]);
    expect(order).toEqual(['readFile', 'stat', `ENOENT: ENOENT: no such file or directory, open '${missing}'`, 'loop']);
  });

  it('names a file handle member it lacks rather than returning undefined', async () => {
    const h = await fsp.open(join(dir, 'handle'), 'r');
    try {
      expect(() => h.createReadStream).toThrow(/FileHandle\.createReadStream is not in rkt-ts's light fs\/promises/);
      // Awaiting a handle must not trip on the thenable check.
      expect(await Promise.resolve(h)).toBe(h);
    } finally {
      await h.close();
    }
  });

  it('takes what it does not cover from the real module, loaded then', async () => {
    const f = join(dir, 'streamed');
    async function* chunks(): AsyncGenerator<string> {
      yield 'one ';
      yield 'two';
    }
    await fsp.writeFile(f, chunks());
    expect(readFileSync(f, 'utf8')).toBe('one two');
    expect(loaded).toContain('fs/promises');
    writeFileSync(f, 'x');
    expect(typeof fsp.opendir).toBe('function');
  });
});

describe("the CLI bundles' path", () => {
  const fastPath = (runInThisContext(`(function (require) { ${footer}; return $rktPt_; })`) as (r: NodeJS.Require) => (id: string) => typeof posix)(
    nodeRequire,
  )('path');

  it('is Node path module with only join replaced, the same object for every require', () => {
    expect(fastPath.join).not.toBe(posix.join);
    for (const k of ['resolve', 'dirname', 'basename', 'relative', 'normalize', 'sep', 'isAbsolute'] as const) expect(fastPath[k]).toBe(posix[k]);
  });

  it("joins exactly as Node's join, on generated paths and on rkt's own", () => {
    // Parts from an alphabet that makes every case normalising handles: empty parts, `.` and `..`
    // components, doubled and trailing slashes, absolute parts after the first, names that start with dots.
    const atoms = ['', '/', '.', '..', 'a', 'bc', '.x', '..y', 'z.', '//', 'a/b', 'a/./b', 'a/../b', 'a/', '/a', './a', '../a', 'a/.', 'a/..', '...'];
    let seed = 42;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      // The high bits: an LCG's low bits repeat with short periods.
      return Math.floor((seed / 2 ** 31) * n);
    };
    const cases: string[][] = [[], ['/var/lib/rkt', 'pods', 'run', '0a1b2c3d-0000-4000-8000-000000000000', 'appsinfo', 'busybox', 'rootfs'], ['/', 'tmp'], ['rel', 'dir']];
    for (let i = 0; i < 20000; i++) {
      const parts: string[] = [];
      for (let j = 1 + next(4); j > 0; j--) {
        let p = '';
        for (let k = 1 + next(3); k > 0; k--) p += atoms[next(atoms.length)]!;
        parts.push(p);
      }
      cases.push(parts);
    }
    for (const parts of cases) expect([parts, fastPath.join(...parts)]).toEqual([parts, posix.join(...parts)]);
  });

  it("throws Node's error for a part that is not a string", () => {
    expect(() => fastPath.join('/a', 3 as unknown as string)).toThrow(/The "path" argument must be of type string/);
  });
});
