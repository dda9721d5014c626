import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { makeAci, noise, rng, tempDir } from './helpers.js';
import { buildBundle, expectConsistent, startWorker } from './multiprocess.js';

let bundle: { bundle: string; cleanup: () => void };
beforeAll(async () => { bundle = await buildBundle(); }, 60_000);
afterAll(() => bundle?.cleanup());

const RUNS = 33;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ensureImported(store: Store, name: string, aci: string): Promise<void> {
  if ((await store.list()).some((i) => i.name === name)) return;
  await store.importAci(aci);
}

describe('kill -9 at random points', () => {
  it(`${RUNS} killed imports, renders and gcs each leave a consistent store whose next gc removes the debris`, async () => {
    const work = tempDir();
    const dataDir = join(work, 'data');
    const files = (seed: number, n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`data/f${i}`, noise(256 * 1024, seed * 100 + i)]));
    const big = makeAci(work, { name: 'example.com/big', files: files(1, 40), compression: 'gzip' });
    const base = makeAci(work, { name: 'example.com/base', files: files(2, 20) });
    const app = makeAci(work, { name: 'example.com/app', files: files(3, 20), dependencies: [{ imageName: 'example.com/base' }] });
    const store = await openStore({ dir: dataDir });
    const seed = Date.now() % 100000;
    const next = rng(seed);
    const outcomes = { killed: 0, finished: 0, leftDebris: 0 };
    // How long each operation takes here, from a first run of it left to finish: the kills then land at
    // random points within it however fast the store gets (fixed delays of 80-400 ms came to fall after
    // most operations once imports got faster).
    const took = new Map<string, number>();
    for (let run = 0; run < RUNS; run++) {
      const op = (['import', 'render', 'gc'] as const)[run % 3] as 'import' | 'render' | 'gc';
      await ensureImported(store, 'example.com/base', base);
      await ensureImported(store, 'example.com/app', app);
      let ops: string[];
      if (op === 'import') {
        if ((await store.list()).some((i) => i.name === 'example.com/big')) await store.remove('example.com/big');
        ops = ['import', big];
      } else if (op === 'render') {
        await store.gc({ gracePeriodMs: 3600_000 }); // drop trees so the worker renders from scratch
        ops = ['render', 'example.com/app'];
      } else {
        await store.render('example.com/app');
        await ensureImported(store, 'example.com/big', big);
        ops = ['gc', '0'];
      }
      const started = Date.now();
      const { child, done } = startWorker(bundle.bundle, dataDir, ops);
      let exitedAt = 0;
      child.once('exit', () => (exitedAt = Date.now()));
      const full = took.get(op);
      if (full !== undefined) await sleep(full * (0.1 + 0.8 * next()));
      const wasRunning = full !== undefined && child.exitCode === null;
      if (wasRunning) child.kill('SIGKILL');
      const res = await done;
      // The first run's time, or a later one's that finished before its kill: a first run slowed by other
      // work on the machine put the kills after the end of most later runs (15 of 33 killed once).
      if (full === undefined || (!wasRunning && exitedAt > 0)) took.set(op, Math.min(full ?? Infinity, (exitedAt || Date.now()) - started));
      if (wasRunning && res.signal === 'SIGKILL') outcomes.killed++;
      else {
        outcomes.finished++;
        expect(res.code, `run ${run} (${op}, seed ${seed}): ${res.stderr} ${JSON.stringify(res.lines)}`).toBe(0);
      }
      await expectConsistent(dataDir, false);
      if ((await store.gc({ gracePeriodMs: 3600_000 })).removedDebris > 0) outcomes.leftDebris++;
      await expectConsistent(dataDir, true);
    }
    console.log(`crash runs (seed ${seed}): ${JSON.stringify(outcomes)}`);
    // The point is to kill operations midway: most runs (all but the first of each kind) must have been
    // killed, not completed.
    expect(outcomes.killed, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(RUNS / 2);
    expect(outcomes.leftDebris, JSON.stringify(outcomes)).toBeGreaterThan(0);
  }, 180_000);
});
