// Stage1 selection (--stage1-path/-url/-hash/-name/-from-dir, configuration, the built-in default: systemd),
// refusal of images that are not stage1s, --pod-manifest, and fly's one-app rule.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { busyboxAciOfFile, ensureBuilt, repoRoot, RktEnv } from './harness.js';

let env: RktEnv;
let aci: string;
// Every test hands the same image to rkt, which imports it into the test's own store.
const fileAci = busyboxAciOfFile();
const flyAci = join(repoRoot, 'packages/stage1-fly/dist/stage1-fly.aci');
/** The name in the manifest of the stage1 a pod ran with, as its pod directory records it. */
const stage1Of = (uuid: string): string => {
  const state = ['run', 'exited-garbage', 'garbage'].find((s) => existsSync(join(env.dataDir, 'pods', s, uuid)))!;
  return (JSON.parse(readFileSync(join(env.dataDir, 'pods', state, uuid, 'stage1', 'manifest'), 'utf8')) as { name: string }).name;
};
const lastPod = (): string => {
  const pods = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string; started_at?: number; created_at?: number }[];
  return pods.sort((a, b) => (a.created_at ?? 0) - (b.created_at ?? 0)).at(-1)!.name;
};

beforeAll(() => ensureBuilt(), 600_000);
beforeEach(() => {
  env = new RktEnv();
  aci = fileAci.path;
});
afterEach(async () => {
  await env.cleanup();
});

const echo = (extra: string[]) => env.run(['run', ...extra, aci, '--exec=/bin/echo', '--', 'ok']);

describe('stage1 selection', () => {
  it('uses the built systemd stage1 by default, finds either built-in stage1 by name, and each --stage1-* flag finds fly too', () => {
    expect(echo([]).stdout).toBe('ok\n');
    expect(stage1Of(lastPod())).toBe('coreos.com/rkt/stage1-systemd');
    // Not in the store yet: imported from where the build put it, as rkt found its stage1 images.
    expect(echo(['--stage1-name=coreos.com/rkt/stage1-fly']).stdout).toBe('ok\n');
    expect(stage1Of(lastPod())).toBe('coreos.com/rkt/stage1-fly');
    expect(echo([`--stage1-path=${flyAci}`]).stdout).toBe('ok\n');
    expect(echo([`--stage1-url=file://${flyAci}`]).stdout).toBe('ok\n');
    // The ACI is uncompressed, so its image ID is the sha512 of the file; a prefix is enough.
    const id = `sha512-${createHash('sha512').update(readFileSync(flyAci)).digest('hex')}`;
    expect(echo([`--stage1-hash=${id.slice(0, 30)}`]).stdout).toBe('ok\n');
    expect(JSON.parse(env.run(['list', '--format=json']).stdout)).toHaveLength(5);
    expect(echo(['--stage1-name=coreos.com/rkt/stage1-systemd']).stdout).toBe('ok\n');
    expect(stage1Of(lastPod())).toBe('coreos.com/rkt/stage1-systemd');
    const unknown = echo(['--stage1-name=example.com/no-such-stage1']);
    expect(unknown.status).toBe(254);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toContain('example.com/no-such-stage1');
  });

  it('--stage1-from-dir and a stage1.d configuration name where stage1 images are', () => {
    const images = join(env.tmp, 'stage1-images');
    mkdirSync(images);
    copyFileSync(flyAci, join(images, 'fly.aci'));
    const config = join(env.tmp, 'local-config');
    mkdirSync(join(config, 'stage1.d'), { recursive: true });
    writeFileSync(
      join(config, 'stage1.d', 'fly.json'),
      JSON.stringify({ rktKind: 'stage1', rktVersion: 'v1', location: join(images, 'fly.aci'), 'images-directory': images }),
    );
    expect(echo([`--local-config=${config}`, '--stage1-from-dir=fly.aci']).stdout).toBe('ok\n');
    expect(echo([`--local-config=${config}`]).stdout).toBe('ok\n');
    writeFileSync(join(config, 'stage1.d', 'fly.json'), '{"rktKind": "stage1", "rktVersion": "v1", "location": 7}');
    const bad = echo([`--local-config=${config}`]);
    expect(bad.status).toBe(254);
    expect(bad.stderr).toMatch(/^run: stage1 configuration .*fly\.json: location: /);
  });

  it('refuses an image that is not a stage1, and two --stage1 flags at once', () => {
    const r = echo([`--stage1-path=${aci}`]);
    expect(r.status).toBe(254);
    expect(r.stderr).toBe(`run: stage1 image ${r.stderr.match(/sha512-[0-9a-f]+/)?.[0]} (example.com/busybox) is not a stage1 image: it has no coreos.com/rkt/stage1/run annotation\n`);
    const two = echo([`--stage1-path=${flyAci}`, '--stage1-name=x']);
    expect(two.status).toBe(254);
    expect(two.stderr).toBe('run: flags --stage1-path and --stage1-name are mutually exclusive\n');
    expect(JSON.parse(env.run(['list', '--format=json']).stdout)).toEqual([]);
  });
});

describe('pods from a pod manifest and several apps', () => {
  it('--pod-manifest runs the apps it names, resolving image names in the store', () => {
    expect(echo([]).status).toBe(0); // imports the image
    const manifest = join(env.tmp, 'pod.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        acVersion: '0.8.11',
        acKind: 'PodManifest',
        apps: [{ name: 'from-manifest', image: { name: 'example.com/busybox' }, app: { exec: ['/bin/echo', 'manifest'], user: '0', group: '0' } }],
      }),
    );
    const r = env.run(['run', `--pod-manifest=${manifest}`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('manifest\n');
    const listed = JSON.parse(env.run(['list', '--format=json']).stdout) as { app_names: string[] }[];
    expect(listed.map((p) => p.app_names)).toContainEqual(['from-manifest']);
  });

  it('fly refuses a pod of two apps in one line, and the pod shows as exited', () => {
    const r = env.run(['run', `--stage1-path=${flyAci}`, aci, '--name=one', '--exec=/bin/true', '--', '---', aci, '--name=two', '--exec=/bin/true']);
    expect(r.status).toBe(254);
    expect(r.stderr).toBe('stage1-fly run: fly runs exactly one app per pod; this pod has 2\n');
    const listed = JSON.parse(env.run(['list', '--format=json']).stdout) as { state: string; app_names: string[] }[];
    expect(listed).toEqual([expect.objectContaining({ state: 'exited', app_names: ['one', 'two'] })]);
  });
});

describe("stage0 exec'ing the run entrypoint (rkt-ts.dev/stage1/run-exec)", () => {
  /** A stage1 whose run entrypoint is a host shell script (mode `mode`), with the run-exec annotation or not. */
  const scriptStage1 = async (name: string, script: string, o: { runExec?: string; mode?: number } = {}): Promise<string> => {
    const { buildAciFromLayout } = await import('@rkt/appc-spec');
    const layout = join(env.tmp, name);
    mkdirSync(join(layout, 'rootfs', 's1'), { recursive: true });
    writeFileSync(join(layout, 'rootfs', 's1', 'run'), `#!/bin/sh\n${script}\n`, { mode: o.mode ?? 0o755 });
    const annotations = [
      { name: 'coreos.com/rkt/stage1/run', value: '/s1/run' },
      ...(o.runExec !== undefined ? [{ name: 'rkt-ts.dev/stage1/run-exec', value: o.runExec }] : []),
    ];
    writeFileSync(join(layout, 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: `example.com/${name}`, annotations }));
    const out = join(env.tmp, `${name}.aci`);
    await buildAciFromLayout(layout, out);
    return out;
  };
  const probe = 'echo "$$ ${RKT_TS_RUN_EXEC:-unset} $RKT_LOCK_FD $(pwd)"; exit 4';

  it('execs a stage1 that says it may be, with RKT_TS_RUN_EXEC=1 and the lock as fd 3 in the pod directory; starts any other as its child', async () => {
    const execed = env.start(['run', `--stage1-path=${await scriptStage1('execed', probe, { runExec: '1' })}`, aci]);
    const r = await execed.done;
    expect(r.status).toBe(4);
    const dir = join(env.dataDir, 'pods', 'run', lastPod());
    expect(r.stdout).toBe(`${execed.child.pid} 1 3 ${dir}\n`);

    for (const [name, runExec] of [['child', undefined], ['future', '2']] as const) {
      const started = env.start(['run', `--stage1-path=${await scriptStage1(name, probe, runExec === undefined ? {} : { runExec })}`, aci]);
      const s = await started.done;
      expect(s.status).toBe(4);
      const [pid, flag] = s.stdout.split(' ');
      expect(pid).not.toBe(String(started.child.pid));
      expect(flag).toBe('unset');
    }
  });

  it('a run entrypoint that cannot be executed fails rkt run with 254 and one line; the pod shows as exited and gc removes it', async () => {
    const r = env.run(['run', `--stage1-path=${await scriptStage1('broken', 'exit 0', { runExec: '1', mode: 0o644 })}`, aci]);
    expect(r.status).toBe(254);
    expect(r.stderr).toMatch(/^run: cannot execute the stage1 run entrypoint \S+\/stage1\/rootfs\/s1\/run: exec \S+: Permission denied\n$/);
    const uuid = lastPod();
    expect(env.status(uuid).state).toBe('exited');
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(env.podUuids()).toEqual([]);
    expect(env.mounts()).toEqual([]);
  });
});
