// Many pods at once from one image: all run, and all of them share one rendered tree on disk.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, RktEnv, STAGE1S } from './harness.js';

let env: RktEnv;
let aci: string;

beforeAll(() => ensureBuilt(), 600_000);
afterEach(async () => {
  await env.cleanup();
});

describe.each(STAGE1S)('many pods at once ($name)', (stage1) => {
  beforeEach(async () => {
    env = new RktEnv(stage1);
    aci = await buildBusyboxAci(env.tmp);
  });

  it('20 pods started at once from one image all run, over one lower tree', async () => {
    // Import once, so the 20 runs below name the image by ID and race only on rendering and running.
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0);
    const gc = env.run(['gc', '--grace-period=0s']);
    expect(gc.status, gc.stderr).toBe(0);
    const pods = Array.from({ length: 20 }, (_, i) =>
      env.start(['run', aci, `--name=app-${i}`, '--exec=/bin/sh', '--', '-c', `sleep 1; echo pod-${i}`]),
    );
    const results = await Promise.all(pods.map((p) => p.done));
    results.forEach((r, i) => {
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`pod-${i}\n`);
      expect(r.status).toBe(0);
    });
    const listed = JSON.parse(env.run(['list', '--format=json']).stdout) as { state: string; app_names: string[] }[];
    expect(listed).toHaveLength(20);
    expect(listed.every((p) => p.state === 'exited')).toBe(true);
    // One tree for busybox and one for the stage1, however many pods.
    expect(readdirSync(join(env.dataDir, 'cas', 'trees'))).toHaveLength(2);
    // The apps' roots share busybox's tree; the systemd stage1's pods boot roots of their own over its one tree.
    const lowers = (of: RegExp): Set<string | undefined> =>
      new Set(
        env
          .mounts()
          .filter((l) => l.includes(' - overlay ') && of.test(l.split(' ')[4] ?? ''))
          .map((l) => /lowerdir=([^,]+)/.exec(l)?.[1]),
      );
    expect(lowers(/\/appsinfo\/[^/]+\/rootfs$/).size).toBe(1);
    expect(lowers(/\/stage1-root\/rootfs$/).size).toBe(stage1.name === 'systemd' ? 1 : 0);
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(env.mounts()).toEqual([]);
  }, 180_000);
});
