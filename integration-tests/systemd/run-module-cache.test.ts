// The systemd stage1's run module is loaded into every `rkt run` (40 KB of code): rkt keeps V8's code for it
// in its own dist/.v8-cache, named after the module's real path in the tree store (the same for every pod of
// that stage1), and keeps only the newest few such caches, as stage1 trees come and go.
// The CLI run is the build's own, from a copy of its dist/ of this file's (hard links to the same files, with
// node_modules beside it as the package has it), so that the cache directory it writes to and prunes is this
// file's alone: the build's shared one is left to the other test files, which may run at the same time.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, repoRoot, RktEnv, type RktResult, STAGE1S } from '../pods/harness.js';

const systemd = STAGE1S.find((s) => s.name === 'systemd')!;
const builtDist = join(repoRoot, 'packages', 'stage0-cli', 'dist');
let copy: string | undefined;
let cacheDir = '';
let env: RktEnv;

beforeAll(() => {
  ensureBuilt();
  copy = mkdtempSync(join(tmpdir(), 'rkt-code-cache-'));
  const dist = join(copy, 'dist');
  // Every built file linked, not copied: the same inodes and times, as the build left them; no cache.
  cpSync(builtDist, dist, { recursive: true, filter: (src) => relative(builtDist, src) !== '.v8-cache' && !src.endsWith('.map') });
  const link = (dir: string): void => {
    for (const e of readdirSync(join(builtDist, dir), { withFileTypes: true })) {
      const rel = join(dir, e.name);
      if (e.isDirectory() || !existsSync(join(dist, rel))) continue;
      rmSync(join(dist, rel));
      linkSync(join(builtDist, rel), join(dist, rel));
    }
  };
  link('');
  link('commands');
  symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'));
  cacheDir = join(dist, '.v8-cache');
}, 600_000);
afterEach(async () => {
  await env.cleanup();
});
afterAll(() => {
  if (copy !== undefined) rmSync(copy, { recursive: true, force: true });
});

/** `rkt` as RktEnv runs it, from the copy of dist/. */
function rkt(args: readonly string[]): RktResult {
  const r = spawnSync(join(copy!, 'dist', 'rkt.cjs'), env.args(args), { cwd: env.tmp, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

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

    const first = rkt(['run', aci]);
    expect(first.status, first.stderr).toBe(0);
    const [pod] = JSON.parse(rkt(['list', '--format=json']).stdout) as { name: string }[];
    const moduleSize = statSync(realpathSync(join(env.dataDir, 'pods', 'run', pod!.name, 'stage1', 'rootfs', 'rkt', 'run'))).size;
    const mine = stage1Caches().filter((n) => n.includes(`-${moduleSize}-`) && !n.startsWith(`stage1-${'0'.repeat(15)}`));
    expect(mine.length).toBeGreaterThanOrEqual(1);
    // Eight kept, newest first: this pod's own, and as many stale ones as leaves room for (all equally old; no
    // other process writes here).
    expect(stale.filter((f) => existsSync(f))).toHaveLength(8 - mine.length);

    // The second pod of the same stage1 finds the cache under the same name, and does not write it again.
    const written = new Map(mine.map((n) => [n, statSync(join(cacheDir, n)).mtimeMs]));
    const second = rkt(['run', aci]);
    expect(second.status, second.stderr).toBe(0);
    expect(stage1Caches().filter((n) => written.has(n)).map((n) => statSync(join(cacheDir, n)).mtimeMs)).toEqual([...written.values()]);
  });
});
