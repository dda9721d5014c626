// `rkt run` must start within 1.5x of `node -e 0`: zod alone costs about as much as a Node start. This
// walks the static import graph of the run path through the workspace's sources (the graph the bundles
// are built from) and fails, naming the chain, when something on it imports zod at load time. Dynamic
// `import()`s (a user's --pod-manifest, overrides, the fetcher) and `import type` are not followed.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

/** Specifiers of the static imports and re-exports of a TypeScript module (type-only ones left out). */
function staticImports(source: string): string[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  const re = /(?:^|[\n;])\s*(import|export)\s+(type\s+)?(?:([\w*\s{},$]*?)\s+from\s+)?['"]([^'"]+)['"]/g;
  for (const m of text.matchAll(re)) {
    if (m[2] !== undefined) continue; // `import type` / `export type`: erased
    if (m[1] === 'export' && m[3] === undefined) continue;
    out.push(m[4]!);
  }
  return out;
}

function workspaceEntry(spec: string): string | undefined {
  const m = /^@rkt\/([^/]+)(\/.*)?$/.exec(spec);
  if (m === null) return undefined;
  const pkgDir = join(repoRoot, 'packages', m[1]!);
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { exports: Record<string, { 'rkt-source'?: string }> };
  const source = pkg.exports[m[2] === undefined ? '.' : `.${m[2]}`]?.['rkt-source'];
  if (source === undefined) throw new Error(`${spec}: no rkt-source export`);
  return join(pkgDir, source);
}

function resolveSpec(spec: string, from: string): string | undefined {
  if (spec.startsWith('.')) {
    const base = resolve(dirname(from), spec).replace(/\.js$/, '');
    for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(candidate)) return candidate;
    throw new Error(`${from}: cannot resolve ${spec}`);
  }
  return workspaceEntry(spec);
}

/** Every external module (node:*, npm packages) reachable by static imports from `entries`, with one chain to it. */
function externalsReachable(entries: readonly string[]): Map<string, string[]> {
  const externals = new Map<string, string[]>();
  const seen = new Set<string>();
  const queue: { file: string; chain: string[] }[] = entries.map((file) => ({ file, chain: [file] }));
  while (queue.length > 0) {
    const { file, chain } = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of staticImports(readFileSync(file, 'utf8'))) {
      const target = resolveSpec(spec, file);
      if (target === undefined) {
        if (!externals.has(spec)) externals.set(spec, [...chain, spec]);
      } else {
        queue.push({ file: target, chain: [...chain, target] });
      }
    }
  }
  return externals;
}

const rel = (chain: readonly string[]) => chain.map((p) => p.replace(`${repoRoot}/`, '')).join(' -> ');

describe('the rkt run path', () => {
  it('finds static imports and skips type-only and dynamic ones', () => {
    const src = [
      "import { a } from './a.js';",
      "import type { B } from 'zod';",
      "export type { C } from 'zod';",
      "import {\n  d,\n  type E,\n} from '@rkt/x';",
      "export { f } from './f.js';",
      "import './side-effect.js';",
      "const g = await import('zod');",
      "// import { h } from 'zod';",
    ].join('\n');
    expect(staticImports(src)).toEqual(['./a.js', '@rkt/x', './f.js', './side-effect.js']);
  });

  it('loads no zod before it runs the pod (run, prepare, run-prepared and the CLI core)', () => {
    const cli = join(repoRoot, 'packages', 'stage0-cli', 'src');
    const entries = ['cli.ts', 'commands/run.ts', 'commands/prepare.ts', 'commands/run-prepared.ts'].map((f) => join(cli, f));
    const externals = externalsReachable(entries);
    // The walk must really reach the controller, the store and the spec, or it proves nothing.
    expect([...externals.keys()]).toEqual(expect.arrayContaining(['node:child_process', 'node:fs/promises']));
    const zod = [...externals].filter(([spec]) => spec === 'zod' || spec.startsWith('zod/'));
    expect(zod.map(([, chain]) => rel(chain))).toEqual([]);
  });

  it("loads no gRPC on the run path: grpc-js and the API service are `rkt api-service`'s alone", () => {
    const cli = join(repoRoot, 'packages', 'stage0-cli', 'src');
    const entries = ['cli.ts', 'commands/run.ts', 'commands/prepare.ts', 'commands/run-prepared.ts', 'commands/list.ts', 'commands/status.ts'].map((f) => join(cli, f));
    const grpc = [...externalsReachable(entries)].filter(([spec]) => spec.startsWith('@grpc/'));
    expect(grpc.map(([, chain]) => rel(chain))).toEqual([]);
    // The walk reaches the workspace packages (the zod test above checks it); @rkt/api-service, which loads grpc-js
    // with import() when it starts a server, is reached only through api-service's own command file.
  });

  it('would notice zod: the full entries of the controller and appc-spec do load it', () => {
    const full = externalsReachable([join(repoRoot, 'packages', 'controller', 'src', 'index.ts')]);
    expect(full.has('zod')).toBe(true);
  });
});
