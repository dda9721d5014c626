// A relative exec (`sh`, `bin/sh`), as most Docker images name their command and appc allows: the pod manifest
// keeps it as given, and each stage1 finds it inside the app's root filesystem as rkt's stage1 did (findBinPath):
// in the PATH of the app's environment, or without one in the working directory, /bin and /usr/bin; one with a
// slash after the working directory; links followed inside the root, never on the host. Under both stage1s.
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAciFromLayout } from '@rkt/appc-spec';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, expectOnePodCollected, RktEnv, STAGE1S, prepareStage1Stores } from './harness.js';

let env: RktEnv;
let busybox: string;

beforeAll(() => {
  ensureBuilt();
  // The stage1s' store templates once for the file: each test's seed is then a copy (seedStage1).
  prepareStage1Stores(...STAGE1S);
}, 600_000);
afterEach(async () => {
  await env.cleanup();
});

interface ImageOptions {
  /** A merged /usr: busybox and its applets in /usr/bin, /bin a link to usr/bin (Debian's layout). */
  merged?: boolean;
  /** The PATH of the image's environment; none when absent. */
  path?: string;
  /** More links in the root, path -> target. */
  links?: Record<string, string>;
  workingDirectory?: string;
}

/** A busybox image whose exec is `sh -c 'echo "ran $0"'`: it prints the path the stage1 gave as its argv[0]. */
async function buildImage(name: string, o: ImageOptions): Promise<string> {
  const layout = join(env.tmp, `${name}-layout`);
  const rootfs = join(layout, 'rootfs');
  const bin = join(rootfs, o.merged === true ? 'usr/bin' : 'bin');
  mkdirSync(bin, { recursive: true });
  mkdirSync(join(rootfs, 'etc'));
  mkdirSync(join(rootfs, 'srv'));
  // No `env` applet: the host has /usr/bin/env, which a lookup on the host would find.
  copyFileSync('/bin/busybox', join(bin, 'busybox'));
  for (const applet of ['sh', 'echo']) symlinkSync('busybox', join(bin, applet));
  if (o.merged === true) symlinkSync('usr/bin', join(rootfs, 'bin'));
  for (const [path, target] of Object.entries(o.links ?? {})) symlinkSync(target, join(rootfs, path));
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\n');
  writeFileSync(
    join(layout, 'manifest'),
    JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: `example.com/${name}`,
      labels: [
        { name: 'version', value: '1.0' },
        { name: 'os', value: 'linux' },
        { name: 'arch', value: 'amd64' },
      ],
      app: {
        exec: ['sh', '-c', 'echo "ran $0"'],
        user: '0',
        group: '0',
        ...(o.workingDirectory !== undefined ? { workingDirectory: o.workingDirectory } : {}),
        ...(o.path !== undefined ? { environment: [{ name: 'PATH', value: o.path }] } : {}),
      },
    }),
  );
  const out = join(env.tmp, `${name}.aci`);
  await buildAciFromLayout(layout, out);
  return out;
}

/** `rkt run`, and its output when it ran. */
function ran(args: readonly string[]): string {
  const r = env.run(['run', ...args]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

describe.each(STAGE1S)('rkt run ($name): a relative exec is found inside the app\'s root filesystem', (stage1) => {
  beforeEach(async () => {
    env = new RktEnv(stage1);
    env.seedStage1();
    busybox = await buildBusyboxAci(env.tmp);
  });
  // The stage1's one line for a name it cannot find: systemd's quotes no app name, fly's does.
  const notFound = (app: string, rest: string) =>
    stage1.name === 'systemd' ? `stage1-systemd run: app ${app}: cannot execute ${rest}\n` : `stage1-fly run: app "${app}": cannot execute ${rest}\n`;

  it("runs an image whose exec is `sh`, found in the PATH of its environment; the pod manifest keeps `sh`", async () => {
    const aci = await buildImage('pathed', { path: '/usr/local/bin:/bin' });
    expect(ran([aci])).toBe('ran /bin/sh\n');
    const pods = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string }[];
    const manifest = JSON.parse(env.run(['cat-manifest', pods[0]!.name]).stdout) as { apps: { app: { exec: string[] } }[] };
    expect(manifest.apps[0]!.app.exec).toEqual(['sh', '-c', 'echo "ran $0"']);
  });

  it('runs --exec=echo given on the command line, with its arguments', () => {
    expect(ran([busybox, '--exec=echo', '--', 'hello', 'there'])).toBe('hello there\n');
  });

  it('finds the exec of an app without PATH in /bin (after its working directory)', async () => {
    const aci = await buildImage('no-path', { workingDirectory: '/srv' });
    expect(ran([aci])).toBe('ran /bin/sh\n');
  });

  it('joins a relative path with a slash to the working directory', () => {
    expect(ran([busybox, '--exec=bin/sh', '--working-dir=/', '--', '-c', 'echo "ran $0"'])).toBe('ran /bin/sh\n');
    expect(ran([busybox, '--exec=./sh', '--working-dir=/bin', '--', '-c', 'echo "ran $0"'])).toBe('ran /bin/sh\n');
  });

  it('finds it through a merged /usr (/bin -> usr/bin, the binary in /usr/bin)', async () => {
    const aci = await buildImage('merged', { merged: true, path: '/bin' });
    expect(ran([aci])).toBe('ran /bin/sh\n');
  });

  it('resolves a PATH entry that is an absolute link out of the root inside the root, never on the host', async () => {
    // /tools -> /usr/bin: the image's own /usr/bin (sh, echo), not the host's (which has env).
    expect(existsSync('/usr/bin/env')).toBe(true);
    const aci = await buildImage('linked', { merged: true, path: '/tools', links: { tools: '/usr/bin' } });
    expect(ran([aci])).toBe('ran /tools/sh\n');
    const r = env.run(['run', aci, '--exec=env']);
    expect(r.stderr).toBe(notFound('linked', 'env: not found in its PATH (/tools) in its root filesystem'));
    expect(r.status).toBe(254);
    expect(r.stdout).toBe('');
  });

  it('refuses a name it cannot find in one line naming it and where it looked, 254, leaving no pod running', () => {
    const r = env.run(['run', busybox, '--exec=nope']);
    expect(r.stderr).toBe(notFound('busybox', 'nope: not found in /, /bin or /usr/bin (its environment has no PATH) in its root filesystem'));
    expect(r.status).toBe(254);
    expect(r.stdout).toBe('');
    expectOnePodCollected(env);
  });
});
