// The commands an operator runs all day (list, status, cat-manifest, gc) read stage0's own files and
// need none of the heavy modules: zod (~70 ms of a start here), or Node's streams, net and child_process
// (~7 ms). A bundle that merely names them must not load them (tsup.config.ts, lazy built-ins): this
// runs bin/rkt as a user does, with a preload that reports at exit what got loaded.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePodManifest } from '@rkt/appc-spec';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, rktBin, RktEnv, STAGE1S } from './harness.js';

let env: RktEnv;
beforeAll(() => ensureBuilt(), 600_000);
afterEach(async () => {
  await env.cleanup();
});

const REPORT = `process.on('exit', () => {
  const builtins = new Set(process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)));
  // From node_modules, or the CLI's own copy through its code cache (stage0-cli's src/vendored.ts).
  const zod = Object.keys(require.cache).some((k) => k.includes('/node_modules/zod/')) || globalThis[Symbol.for('rkt-ts.vendored')].loaded.has('zod');
  process.stderr.write('LOADED ' + JSON.stringify({ zod, builtins: ['child_process', 'net', 'stream', 'os'].filter((b) => builtins.has(b)) }) + '\\n');
});
`;

describe('light commands', () => {
  it('list, status, cat-manifest and gc --mark-only of a prepared pod load neither zod nor child_process, net, stream or os', async () => {
    env = new RktEnv(STAGE1S.find((s) => s.name === 'fly'));
    const aci = await buildBusyboxAci(env.tmp);
    const prepared = env.run(['prepare', '--quiet', aci]);
    expect(prepared.status, prepared.stderr).toBe(0);
    const uuid = prepared.stdout.trim();
    const preload = join(env.tmp, 'report-loaded.cjs');
    writeFileSync(preload, REPORT);
    for (const cmd of [['list'], ['list', '--format=json'], ['status', uuid], ['cat-manifest', uuid], ['gc', '--mark-only']]) {
      const r = spawnSync(process.execPath, ['-r', preload, rktBin, `--dir=${env.dataDir}`, ...cmd], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${cmd.join(' ')}: ${r.stderr}`).toBe(0);
      const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
      expect(JSON.parse(line!.slice(7)), cmd.join(' ')).toEqual({ zod: false, builtins: [] });
    }
    // And the pod is still what it was: the commands did their work with what they loaded.
    expect(env.run(['status', uuid]).stdout).toMatch(/^state=prepared\n/);
    expect(env.run(['list', '--no-legend']).stdout).toContain(uuid.slice(0, 8));
  });

  it("rkt prepare with run's flags (per app, isolators, volumes, mounts, annotations, labels, groups, read-only root) loads no zod; a pod manifest goes through the schemas, a bad value is refused naming its flag", async () => {
    env = new RktEnv(STAGE1S.find((s) => s.name === 'fly'));
    const aci = await buildBusyboxAci(env.tmp);
    // The first imports the image (which validates it with the schemas); the others find it in the store.
    expect(env.run(['prepare', '--quiet', aci]).status).toBe(0);
    const preload = join(env.tmp, 'report-loaded.cjs');
    writeFileSync(preload, REPORT);
    const prepare = (flags: string[]) => {
      const r = spawnSync(process.execPath, ['-r', preload, rktBin, ...env.args(['prepare', '--quiet', ...flags])], { encoding: 'utf8', timeout: 60_000 });
      const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
      return { status: r.status, stdout: r.stdout, stderr: r.stderr, zod: (JSON.parse(line!.slice(7)) as { zod: boolean }).zod };
    };
    const common = prepare([
      '--set-env=A=1',
      '--set-env=A=2',
      '--set-env=B=x',
      `--volume=host,kind=host,source=${env.tmp},readOnly=true`,
      '--volume=scratch,kind=empty,mode=0700',
      '--mount=volume=host,target=/mnt/host',
      aci,
      '--exec=/bin/sh',
      '--user=0',
      '--group=0',
      '--working-dir=/tmp',
      '--mount=volume=scratch,target=/scratch',
      '--',
      '-c',
      'echo $A',
    ]);
    expect(common.status, common.stderr).toBe(0);
    expect(common.zod).toBe(false);
    // What was written is what the flags say, and the schemas accept it.
    const manifest = JSON.parse(env.run(['cat-manifest', common.stdout.trim()]).stdout) as { apps: { app: Record<string, unknown> }[] };
    expect(manifest.apps[0]!.app).toMatchObject({
      exec: ['/bin/sh', '-c', 'echo $A'],
      user: '0',
      group: '0',
      workingDirectory: '/tmp',
      // The image's own, then the flags' (a later --set-env of a name wins).
      environment: [{ name: 'FROM_IMAGE', value: 'image-value' }, { name: 'A', value: '2' }, { name: 'B', value: 'x' }],
    });
    expect(parsePodManifest(JSON.stringify(manifest)).volumes).toMatchObject([
      { name: 'host', kind: 'host', source: env.tmp, readOnly: true },
      { name: 'scratch', kind: 'empty', mode: '0700' },
    ]);
    expect((manifest.apps[0] as { mounts?: unknown }).mounts).toEqual([
      { volume: 'host', path: '/mnt/host' },
      { volume: 'scratch', path: '/scratch' },
    ]);
    // Isolator flags too.
    const isolators = prepare([aci, '--memory=64M', '--cpu=500m', '--cpu-shares=512', '--oom-score-adj=100', '--caps-retain=CAP_CHOWN,CAP_KILL', '--seccomp=mode=remove,ptrace']);
    expect(isolators.status, isolators.stderr).toBe(0);
    expect(isolators.zod).toBe(false);
    const withIsolators = JSON.parse(env.run(['cat-manifest', isolators.stdout.trim()]).stdout) as { apps: { app: { isolators: { name: string }[] } }[] };
    expect(withIsolators.apps[0]!.app.isolators.map((i) => i.name).sort()).toEqual([
      'os/linux/capabilities-retain-set',
      'os/linux/cpu-shares',
      'os/linux/oom-score-adj',
      'os/linux/seccomp-remove-set',
      'resource/cpu',
      'resource/memory',
    ]);
    expect(() => parsePodManifest(JSON.stringify(withIsolators))).not.toThrow();
    // And the per-app flags rkt 1.30 has beside those (userAnnotations and userLabels take any key).
    const more = prepare([
      aci,
      '--user-annotation=Any Key=v',
      '--user-annotation=example.com/owner=',
      '--user-label=team=x',
      '--supplementary-gids=0,4294967294',
      '--supplementary-gids=7',
      '--readonly-rootfs=true',
    ]);
    expect(more.status, more.stderr).toBe(0);
    expect(more.zod).toBe(false);
    const withMore = JSON.parse(env.run(['cat-manifest', more.stdout.trim()]).stdout) as { apps: { app: Record<string, unknown>; readOnlyRootFS?: boolean }[] };
    expect(withMore.apps[0]!.app).toMatchObject({
      supplementaryGIDs: [0, 4294967294, 7],
      userAnnotations: { 'Any Key': 'v', 'example.com/owner': '' },
      userLabels: { team: 'x' },
    });
    expect(withMore.apps[0]!.readOnlyRootFS).toBe(true);
    expect(() => parsePodManifest(JSON.stringify(withMore))).not.toThrow();
    // The observation can see zod: a pod manifest from the user goes through the schemas.
    const manifestFile = join(env.tmp, 'pod-manifest.json');
    writeFileSync(manifestFile, JSON.stringify(withIsolators));
    const fromManifest = prepare([`--pod-manifest=${manifestFile}`]);
    expect(fromManifest.status, fromManifest.stderr).toBe(0);
    expect(fromManifest.zod).toBe(true);
    // A bad value is refused as the flag is read, its line naming the flag (not the pod manifest field it
    // would become), and leaves no pod. The pods there are, by UUID (the listing's times move on meanwhile).
    const pods = (): string[] => env.run(['list', '--no-legend', '--full']).stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0]!).sort();
    const before = pods();
    for (const [flag, message] of [
      ['--working-dir=relative', 'prepare: --working-dir "relative": must be an absolute path\n'],
      ['--set-env=1A=x', 'prepare: --set-env: "1A" is not an environment variable name'],
    ] as const) {
      const bad = prepare([aci, flag]);
      expect(bad.status, flag).toBe(254);
      expect(bad.stderr, flag).toContain(message);
    }
    expect(pods()).toEqual(before);
    expect(before).toHaveLength(5);
  });
});

