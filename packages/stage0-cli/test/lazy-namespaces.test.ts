// The build's lazy namespace objects (build/lazy-namespaces.ts), on bundles esbuild makes here as it makes the
// CLI's (CommonJS, minified, import() turned into a require of the bundled module).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { lazyNamespaces } from '../build/lazy-namespaces.js';

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function bundle(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'rkt-lazy-ns-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const out = buildSync({
    entryPoints: [join(dir, 'entry.ts')],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    minify: true,
    write: false,
    supported: { 'dynamic-import': false },
  });
  // As the CLI's bundles are wrapped (src/bundle-wrapper.ts), so the helpers go before the last `\n});`.
  return `(function (exports, require, module) {${out.outputFiles[0]!.text}\n});`;
}

/** Runs a bundle's text as a CommonJS module, counting the accessors defined while its top level runs. */
function load(code: string): { exports: Record<string, unknown>; accessorsAtLoad: number } {
  const define = Object.defineProperty;
  let accessors = 0;
  Object.defineProperty = ((o: object, k: PropertyKey, d: PropertyDescriptor) => {
    if (d.get !== undefined) accessors++;
    return define(o, k, d);
  }) as typeof Object.defineProperty;
  try {
    const mod = { exports: {} as Record<string, unknown> };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    (new Function(`return ${code}`)() as (e: unknown, r: unknown, m: unknown) => void)(mod.exports, require, mod);
    return { exports: mod.exports, accessorsAtLoad: accessors };
  } finally {
    Object.defineProperty = define;
  }
}

const FILES = {
  'entry.ts': `
    export async function viaImport() {
      const m = await import('./lib.ts');
      m.bump();
      return { keys: Object.keys(m).sort(), count: m.count, answer: m.answer() };
    }
    export async function again() { return (await import('./lib.ts')).count; }
  `,
  'lib.ts': `
    export let count = 0;
    export function bump() { count++; }
    export function answer() { return 42; }
    export const A = 1, B = 2, C = 3, D = 4;
  `,
};

describe('lazy namespaces', () => {
  it("a module reached only through import() gets its namespace's accessors when it is imported, not at load", async () => {
    const original = bundle(FILES);
    const lazy = lazyNamespaces(original);
    expect(lazy).not.toBe(original);
    const before = load(original);
    const after = load(lazy);
    // The entry's own exports (module.exports) are still defined at load, and the library's no longer are.
    expect(before.accessorsAtLoad - after.accessorsAtLoad).toBe(7);
    const viaImport = async (m: Record<string, unknown>) => (m.viaImport as () => Promise<unknown>)();
    const again = async (m: Record<string, unknown>) => (m.again as () => Promise<unknown>)();
    // The same namespace, and live bindings: `count` seen after the module changed it.
    expect(await viaImport(after.exports)).toEqual(await viaImport(before.exports));
    expect(await viaImport(after.exports)).toEqual({ keys: ['A', 'B', 'C', 'D', 'answer', 'bump', 'count'], count: 2, answer: 42 });
    expect(await again(after.exports)).toBe(2);
  });

  it('keeps every line as long as it was, so that the source maps stay right', () => {
    const original = bundle(FILES);
    const lazy = lazyNamespaces(original);
    const a = original.split('\n');
    const b = lazy.split('\n');
    // The helpers are whole lines of their own before the wrapper's last line.
    expect(b.length).toBe(a.length + 2);
    expect(b.slice(0, a.length - 1).map((l) => l.length)).toEqual(a.slice(0, -1).map((l) => l.length));
    expect(b.at(-1)).toBe(a.at(-1));
  });

  it('leaves a namespace used any other way as esbuild made it', () => {
    // `import * as` used as a value: the namespace object escapes, so its accessors must exist at once.
    const original = bundle({
      'entry.ts': `import * as lib from './lib.ts'; export const seen = lib; export async function later() { return (await import('./other.ts')).x; }`,
      'lib.ts': 'export const alpha = 1; export const beta = 2;',
      'other.ts': 'export const x = 3;',
    });
    const lazy = lazyNamespaces(original);
    const loaded = load(lazy);
    expect(loaded.exports.seen).toEqual({ alpha: 1, beta: 2 });
    // Only other.ts's went lazy.
    expect(load(original).accessorsAtLoad - loaded.accessorsAtLoad).toBe(1);
  });

  it('changes nothing in a bundle without namespaces', () => {
    const original = bundle({ 'entry.ts': 'export const a = 1;' });
    // The entry's own namespace (module.exports) is used by esbuild's __toCommonJS: not lazy.
    expect(lazyNamespaces(original)).toBe(original);
    expect(lazyNamespaces('plain text')).toBe('plain text');
  });
});
