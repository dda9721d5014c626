import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { mapFile } from '../src/map-file.js';
import { useTempDirs } from './helpers.js';

const tmp = useTempDirs();
const mappingsOf = (path: string): string[] => readFileSync('/proc/self/maps', 'latin1').split('\n').filter((l) => l.endsWith(` ${path}`));

describe('mapFile', () => {
  it('gives an ASCII file as the string readFileSync would, and any file as its bytes, from a mapping of the file', async () => {
    const dir = await tmp.make();
    const text = join(dir, 'bundle.cjs');
    writeFileSync(text, `module.exports = ${JSON.stringify('x'.repeat(200_000))};\n`);
    const s = mapFile(text, true);
    expect(s).toBe(readFileSync(text, 'latin1'));
    const b = mapFile(text, false);
    expect(b?.equals(readFileSync(text))).toBe(true);
    // What is held is a mapping of the file itself, not a copy.
    expect(mappingsOf(text).length).toBeGreaterThan(0);
  });

  it('gives no string for a file with a byte outside ASCII, an empty file or a directory, and throws ENOENT for a missing one', async () => {
    const dir = await tmp.make();
    const utf8 = join(dir, 'utf8.js');
    writeFileSync(utf8, `// caf\u00e9\n${'a'.repeat(10_000)}\n`);
    expect(mapFile(utf8, true)).toBeUndefined();
    expect(mapFile(utf8, false)?.equals(readFileSync(utf8))).toBe(true);
    const empty = join(dir, 'empty');
    writeFileSync(empty, '');
    expect(mapFile(empty, true)).toBeUndefined();
    expect(mapFile(empty, false)).toBeUndefined();
    mkdirSync(join(dir, 'sub'));
    expect(mapFile(join(dir, 'sub'), false)).toBeUndefined();
    expect(() => mapFile(join(dir, 'missing'), true)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('keeps what it gave when the file is replaced by a rename, as builds and code cache writers replace theirs', async () => {
    const dir = await tmp.make();
    const file = join(dir, 'bundle.cjs');
    const before = `${'a'.repeat(8192)}\n`;
    writeFileSync(file, before);
    const s = mapFile(file, true);
    writeFileSync(join(dir, 'next'), `${'b'.repeat(8192)}\n`);
    renameSync(join(dir, 'next'), file);
    expect(s).toBe(before);
    expect(readFileSync(file, 'latin1')).not.toBe(before);
  });

  it('gives V8 a script and a code cache it compiles and accepts, as the CLI loads its bundles', async () => {
    const dir = await tmp.make();
    const file = join(dir, 'bundle.cjs');
    // Functions enough that the cache means something, and one called late, compiled from the mapped text.
    const body = Array.from({ length: 2000 }, (_, i) => `function f${i}(x) { return x + ${i}; }`).join('\n');
    writeFileSync(file, `(function () { ${body}\n return { first: f0(1), late: () => f1999(1) }; })`);
    const first = new Script(mapFile(file, true)!, { filename: file });
    writeFileSync(join(dir, 'cache.bin'), first.createCachedData());
    const script = new Script(mapFile(file, true)!, { filename: file, cachedData: mapFile(join(dir, 'cache.bin'), false)! });
    expect(script.cachedDataRejected).toBe(false);
    const result = script.runInThisContext() as () => { first: number; late: () => number };
    const r = result();
    expect(r.first).toBe(1);
    expect(r.late()).toBe(2000);
  });

  it('unmaps the file once V8 has collected what it gave', async () => {
    const dir = await tmp.make();
    const file = join(dir, 'bundle.cjs');
    writeFileSync(file, 'a'.repeat(100_000));
    // In a Node of its own, whose collector can be called (the built package, as a program would load it).
    const child = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        '--input-type=module',
        '-e',
        `import { readFileSync } from 'node:fs';
         const { mapFile } = await import(${JSON.stringify(fileURLToPath(new URL('../dist/map-file.js', import.meta.url)))});
         const maps = () => readFileSync('/proc/self/maps', 'latin1').split('\\n').filter((l) => l.endsWith(' ${file}')).length;
         let s = mapFile(${JSON.stringify(file)}, true); let b = mapFile(${JSON.stringify(file)}, false);
         const held = maps(); s = undefined; b = undefined;
         for (let i = 0; i < 5 && maps() > 0; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
         console.log(JSON.stringify({ held, after: maps() }));`,
      ],
      { encoding: 'utf8' },
    );
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual({ held: 2, after: 0 });
  });
});
