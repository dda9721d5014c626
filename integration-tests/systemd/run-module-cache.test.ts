// The systemd stage1's run module is loaded into every `rkt run` (40 KB of code): rkt keeps V8's code for it
// in its own dist/.v8-cache, named after the module's real path in the tree store (the same for every pod of
// that stage1), and keeps only the newest few such caches, as stage1 trees come and go.
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, repoRoot, RktEnv, STAGE1S } from '../pods/harness.js';

const systemd = STAGE1S.find((s) => s.name === 'systemd')!;
const cacheDir = join(repoRoot, 'packages', 'stage0-cli', 'dist', '.v8-cache');
let env: RktEnv;

beforeAll(() => ensureBuilt(), 600_000);
afterEach(async () => {
  await env.cleanup();
});

const stage1Caches = (): string[] => (existsSync(cacheDir) ? readdirSync(cacheDir).filter((n) => n.startsWith('stage1-') && n.endsWith('.bin')) : []);

describe("the stage1 run module's code cache", () => {
  it('is written by the first pod of a stage1, used by the next, and only the newest eight are kept', async () => {
    env = new RktEnv(systemd);
    const aci = await buildBusyboxAci(env.tmp);
    // Stale caches of stage1 trees long gone (other data dirs, removed images), older than anything real.
    mkdirSync(cacheDir, { recursive: true });
    const stale = Array.from({ length: 10 }, (_, i) => join(cacheDir, `stage1-${'0'.repeat(15)}${i}-1000-0-${i}.bin`));
    for (const f of stale) {
      writeFileSync(f, 'stale');
      utimesSync(f, new Date(2000, 0, 1), new Date(2000, 0, 1));
    }

    const first = env.run(['run', aci]);
    expect(first.status, first.stderr).toBe(0);
    const [pod] = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string }[];
    const moduleSize = statSync(realpathSync(join(env.dataDir, 'pods', 'run', pod!.name, 'stage1', 'rootfs', 'rkt', 'run'))).size;
    const mine = stage1Caches().filter((n) => n.includes(`-${moduleSize}-`) && !n.startsWith(`stage1-${'0'.repeat(15)}`));
    expect(mine.length).toBeGreaterThanOrEqual(1);
    // Eight kept, newest first: with this pod's own among them, at most seven of the stale ones (another test
    // file running at the same time may write, and prune, too).
    expect(stale.filter((f) => existsSync(f)).length).toBeLessThanOrEqual(7);

    // The second pod of the same stage1 finds the cache under the same name, and does not write it again.
    const written = new Map(mine.map((n) => [n, statSync(join(cacheDir, n)).mtimeMs]));
    const second = env.run(['run', aci]);
    expect(second.status, second.stderr).toBe(0);
    expect(stage1Caches().filter((n) => written.has(n)).map((n) => statSync(join(cacheDir, n)).mtimeMs)).toEqual([...written.values()]);
    for (const f of stale) rmSync(f, { force: true });
  });
});
