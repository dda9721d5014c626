// `rkt run`'s lean bundle (packages/stage0-cli/src/lean-bundle.ts): a run of stored images loads only it; a run
// that needs what it leaves out (an import, a render, the full schemas, the metadata service, NATS) is handed
// whole to the full bundle, and leaves one pod, as if the full bundle had run it from the start.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { busyboxAciOfFile, ensureBuilt, prepareStage1Stores, rktBin, RktEnv, STAGE1S } from './harness.js';

const fly = STAGE1S.find((s) => s.name === 'fly')!;
let env: RktEnv;

beforeAll(() => {
  ensureBuilt();
  prepareStage1Stores(fly);
}, 600_000);
const fileAci = busyboxAciOfFile();
beforeEach(() => {
  env = new RktEnv(fly);
  env.seedStage1();
});
afterEach(async () => {
  await env.cleanup();
});

/** Runs rkt under strace and returns its result and the command bundles it opened, in order. */
function runTraced(args: readonly string[]): { status: number | null; stdout: string; stderr: string; bundles: string[] } {
  const trace = join(env.tmp, `trace-${Date.now()}`);
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat', '-o', trace, '--', rktBin, ...env.args(args)], { cwd: env.tmp, encoding: 'utf8', timeout: 60_000 });
  const bundles = [...readFileSync(trace, 'utf8').matchAll(/"[^"]*\/dist\/commands\/([a-z-]+)\.cjs"/g)].map((m) => m[1]!);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, bundles };
}

const pods = (): string[] =>
  existsSync(join(env.dataDir, 'pods')) ? readdirSync(join(env.dataDir, 'pods'), { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? readdirSync(join(env.dataDir, 'pods', d.name)) : [])) : [];
const refs = (): string[] => readdirSync(join(env.dataDir, 'cas', 'refs'));

describe('rkt run: the lean bundle', () => {
  it('hands a run that imports its image to the full bundle, which leaves one pod; the next run of it loads only the lean bundle', () => {
    const first = runTraced(['run', fileAci.path, '--exec', '/bin/echo', '--', 'first']);
    expect(first.stderr).toBe('');
    expect(first.stdout).toBe('first\n');
    expect(first.status).toBe(0);
    expect(first.bundles).toEqual(['run-lean', 'run']);
    // The lean attempt left nothing: one pod, one reference of the store, nothing in prepare/ or embryo/.
    expect(pods()).toHaveLength(1);
    expect(refs()).toHaveLength(1);
    const list = env.run(['list', '--format=json']);
    expect(JSON.parse(list.stdout)).toHaveLength(1);

    const second = runTraced(['run', fileAci.path, '--exec', '/bin/sh', '--', '-c', 'echo second; exit 3']);
    expect(second.stdout).toBe('second\n');
    expect(second.status).toBe(3);
    expect(second.bundles).toEqual(['run-lean']);
    expect(pods()).toHaveLength(2);
    expect(refs()).toHaveLength(2);
  });

  it('hands over a run whose tree is not rendered, and one with a --pod-manifest (the full schemas)', () => {
    const fetched = env.run(['fetch', '--full', fileAci.path]);
    expect(fetched.status).toBe(0);
    const imageId = fetched.stdout.trim();
    // The fetch rendered the image's tree: take it away, so that the run must render it again.
    const trees = join(env.dataDir, 'cas', 'trees');
    const tree = readdirSync(trees).filter((t) => existsSync(join(trees, t, 'rootfs', 'bin', 'busybox')));
    expect(tree).toHaveLength(1);
    rmSync(join(trees, tree[0]!), { recursive: true });
    const render = runTraced(['run', imageId, '--exec', '/bin/echo', '--', 'rendered']);
    expect(render.stderr).toBe('');
    expect(render.stdout).toBe('rendered\n');
    expect(render.status).toBe(0);
    expect(render.bundles).toEqual(['run-lean', 'run']);
    expect(existsSync(join(trees, tree[0]!, 'rootfs', 'bin', 'busybox'))).toBe(true);
    expect(pods()).toHaveLength(1);

    const manifest = join(env.tmp, 'pod.json');
    writeFileSync(
      manifest,
      JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [{ name: 'm', image: { name: 'example.com/busybox', id: imageId }, app: { exec: ['/bin/echo', 'from-manifest'], user: '0', group: '0' } }] }),
    );
    const fromManifest = runTraced(['run', `--pod-manifest=${manifest}`]);
    expect(fromManifest.stderr).toBe('');
    expect(fromManifest.stdout).toBe('from-manifest\n');
    expect(fromManifest.status).toBe(0);
    expect(fromManifest.bundles).toEqual(['run-lean', 'run']);
    expect(pods()).toHaveLength(2);
  });

  it('refuses up front, for the full bundle, a run with --mds-register', () => {
    // No metadata service listens: the full bundle's own refusal, one line and 254, from the full bundle alone.
    const r = runTraced(['run', '--mds-register', `--mds-socket=${join(env.tmp, 'none.sock')}`, fileAci.path]);
    expect(r.status).toBe(254);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.bundles).toEqual(['run-lean', 'run']);
    expect(pods()).toHaveLength(0);
  });

  it('is not used under --debug', () => {
    const r = runTraced(['--debug', 'run', fileAci.path, '--exec', '/bin/true']);
    expect(r.status).toBe(0);
    expect(r.bundles).toEqual(['run']);
  });
});
