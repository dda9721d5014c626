import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { expect } from 'vitest';
import { openStore } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
export const WORKER = join(here, 'workers/store-worker.mjs');
const PKG = dirname(here);

/**
 * Builds the package to JS for worker processes (Node 20 cannot run the TypeScript source) into a private
 * directory inside the package, so node resolves classic-level from the workspace. @rkt/appc-spec is
 * bundled from its source, as vitest sees it, so the workers do not depend on a prior build of it.
 */
export async function buildBundle(): Promise<{ bundle: string; cleanup: () => void }> {
  const out = mkdtempSync(join(PKG, '.test-dist-'));
  const { build } = await import('tsup');
  await build({
    config: false,
    entry: [join(PKG, 'src/index.ts')],
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    outDir: out,
    silent: true,
    splitting: true,
    noExternal: ['@rkt/appc-spec'],
    external: ['classic-level'],
    esbuildOptions(o) {
      o.conditions = ['rkt-source', 'import', 'node'];
    },
  });
  return { bundle: join(out, 'index.js'), cleanup: () => rmSync(out, { recursive: true, force: true }) };
}

export interface WorkerResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly lines: readonly Record<string, unknown>[];
  readonly stderr: string;
}

export function startWorker(bundle: string, dataDir: string, ops: readonly string[]): { child: ChildProcess; done: Promise<WorkerResult> } {
  const child = spawn(process.execPath, [WORKER, bundle, dataDir, ...ops], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const done = new Promise<WorkerResult>((resolve) => {
    child.once('close', (code, signal) => resolve({
      code, signal, stderr: err,
      lines: out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
    }));
  });
  return { child, done };
}

const sha = (p: string) => `sha512-${createHash('sha512').update(readFileSync(p)).digest('hex')}`;

/**
 * What every user of the store may rely on: it opens; every listed image is complete and hashes to its ID;
 * every listed tree is there, intact, and built from listed images. With `clean`, no debris is left either.
 */
export async function expectConsistent(dataDir: string, clean: boolean): Promise<void> {
  const store = await openStore({ dir: dataDir });
  const cas = join(dataDir, 'cas');
  const images = await store.list();
  // The images.json snapshot (when present) agrees with the index itself.
  const db = new ClassicLevel<string, string>(join(dataDir, 'cas/index'));
  const indexed: string[] = [];
  try {
    for await (const key of db.keys({ gte: 'image/', lt: 'image/\xff' })) indexed.push(key.slice('image/'.length));
  } finally {
    await db.close();
  }
  expect(images.map((i) => i.id).sort()).toEqual(indexed.sort());
  for (const img of images) {
    expect(sha(join(cas, 'images', img.id, 'aci')), `blob of ${img.id}`).toBe(img.id);
    expect(readFileSync(join(cas, 'images', img.id, 'manifest')).length).toBeGreaterThan(0);
  }
  const ids = new Set(images.map((i) => i.id));
  const trees = await store.trees();
  for (const t of trees) {
    expect((await store.verifyTree(t.id, { repair: false })).ok, `tree ${t.id}`).toBe(true);
    for (const layer of t.layers) expect(ids.has(layer), `layer ${layer} of tree ${t.id}`).toBe(true);
  }
  if (clean) {
    expect(readdirSync(join(cas, 'images')).sort()).toEqual([...ids].sort());
    expect(readdirSync(join(cas, 'trees')).sort()).toEqual(trees.map((t) => t.id).sort());
    expect(readdirSync(join(cas, 'tmp'))).toEqual([]);
    expect(readdirSync(join(cas, 'trash'))).toEqual([]);
  }
}
