// Images whose /etc, or whose /etc/hostname, /etc/hosts and /etc/resolv.conf, are absolute symlinks (as many
// real images have: /etc -> /usr/etc, /etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf): the pod
// runs, every link is resolved inside the app's root as the app sees it, the app finds the files rkt gives it
// through its own links, and nothing is read, written or made through them on the host. What cannot lead to
// a file is refused in one line, 254, before any app runs. The links point into the test's temp dir, so a
// regression would write there, never elsewhere on the host.
import { existsSync, mkdirSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../volumes/images.js';
import { ensureBuilt, expectOnePodCollected, RktEnv, STAGE1S, type RktResult } from './harness.js';

const [fly, systemd] = [STAGE1S.find((s) => s.name === 'fly')!, STAGE1S.find((s) => s.name === 'systemd')!];

let env: RktEnv;
beforeAll(() => ensureBuilt(), 600_000);
afterEach(async () => {
  await env.cleanup();
});

/** The test's temp dir, resolved: what an image's link would reach on the host. */
const hostTmp = (): string => realpathSync(env.tmp);

function expectRefused(r: RktResult, message: RegExp): void {
  expect(r.status).toBe(254);
  expect(r.stdout).not.toContain('APP-RAN');
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(message);
}

describe('an image whose /etc is an absolute link to /usr/etc', () => {
  it('stage1-systemd: the app reads its /etc/hostname and /etc/hosts through the link, as a user named in /usr/etc/passwd', async () => {
    env = new RktEnv(systemd);
    env.seedStage1();
    const aci = await buildImage(env.tmp, { name: 'usretc', etcAt: '/usr/etc', user: 'appuser', group: 'appgroup' });
    const script = 'echo "$(id -u):$(id -g) $(readlink /etc)"; cat /etc/hostname; grep -c "^127.0.0.1.*etc-link-pod" /usr/etc/hosts';
    const r = env.run(['run', '--hostname=etc-link-pod', aci, '--exec=/bin/sh', '--', '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1000:1001 /usr/etc\netc-link-pod\n1\n');
    expect(r.status).toBe(0);
    expectOnePodCollected(env);
  });

  it('stage1-fly: the user and group come from /usr/etc, a volume mounted at /etc/app lands in /usr/etc/app, /proc through its link', async () => {
    env = new RktEnv(fly);
    // /proc as a link to nothing out of the root: made, and mounted, inside it.
    const outside = join(hostTmp(), 'outside');
    const aci = await buildImage(env.tmp, { name: 'usretc', etcAt: '/usr/etc', user: 'appuser', group: 'appgroup', links: { proc: `/../..${outside}/proc` } });
    const conf = join(hostTmp(), 'conf');
    mkdirSync(conf);
    writeFileSync(join(conf, 'app.conf'), 'x=1\n');
    const r = env.run([
      'run',
      `--volume=conf,kind=host,source=${conf},readOnly=true`,
      '--mount=volume=conf,target=/etc/app',
      aci,
      '--exec=/bin/sh',
      '--',
      '-c',
      `echo "$(id -u):$(id -g)"; cat /usr/etc/app/app.conf; grep -c " /usr/etc/app " /proc/self/mountinfo; grep -c " ${outside}/proc " /proc/self/mountinfo`,
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1000:1001\nx=1\n1\n1\n');
    expect(r.status).toBe(0);
    expect(existsSync(outside)).toBe(false);
    expectOnePodCollected(env);
    expect(readdirSync(conf)).toEqual(['app.conf']);
  });
});

describe('an image whose /etc/hosts, /etc/hostname and /etc/resolv.conf are absolute links', () => {
  it('stage1-systemd: links out of the root (/../../HOST) resolve inside it: the app reads the files there, and nothing is made on the host', async () => {
    env = new RktEnv(systemd);
    env.seedStage1();
    // On the host these name the test's temp dir, where nothing may appear.
    const outside = join(hostTmp(), 'outside');
    const aci = await buildImage(env.tmp, {
      name: 'outlinks',
      links: { 'etc/hostname': `/../../..${outside}/hostname`, 'etc/hosts': `/../..${outside}/sub/hosts`, 'etc/resolv.conf': `${outside}/resolv.conf` },
    });
    const script = `cat /etc/hostname; grep -c localhost /etc/hosts; cat ${outside}/hostname; ls ${outside}; cat /etc/resolv.conf 2>/dev/null || echo no-resolv`;
    const r = env.run(['run', '--hostname=out-pod', aci, '--exec=/bin/sh', '--', '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('out-pod\n2\nout-pod\nhostname\nsub\nno-resolv\n');
    expect(r.status).toBe(0);
    expect(existsSync(outside)).toBe(false);
    expectOnePodCollected(env);
    expect(existsSync(outside)).toBe(false);
  });

  it("stage1-systemd: links to a missing file in a missing directory below /run: the app's unit binds them where the links lead", async () => {
    env = new RktEnv(systemd);
    env.seedStage1();
    const aci = await buildImage(env.tmp, {
      name: 'runlinks',
      links: { 'etc/hostname': '/run/missing/hostname', 'etc/hosts': '../run/systemd/hosts', 'etc/resolv.conf': '/run/systemd/resolve/stub-resolv.conf' },
    });
    const script = 'cat /etc/hostname /run/missing/hostname; grep -c localhost /etc/hosts; readlink /etc/hosts; cat /etc/resolv.conf 2>/dev/null || echo no-resolv';
    const r = env.run(['run', '--hostname=run-pod', aci, '--exec=/bin/sh', '--', '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('run-pod\nrun-pod\n2\n../run/systemd/hosts\nno-resolv\n');
    expect(r.status).toBe(0);
    expectOnePodCollected(env);
  });

  it('stage1-systemd: links to existing files of the image: /etc/hostname is written there, the image\'s hosts file kept', async () => {
    env = new RktEnv(systemd);
    env.seedStage1();
    const aci = await buildImage(env.tmp, {
      name: 'ownlinks',
      files: { 'srv/etc/hostname': 'image-hostname\n', 'srv/etc/hosts': '10.1.2.3 image-hosts\n' },
      links: { 'etc/hostname': '/srv/etc/hostname', 'etc/hosts': '/srv/etc/hosts' },
    });
    const r = env.run(['run', '--hostname=own-pod', aci, '--exec=/bin/sh', '--', '-c', 'cat /etc/hostname /srv/etc/hosts; readlink /etc/hostname']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('own-pod\n10.1.2.3 image-hosts\n/srv/etc/hostname\n');
    expect(r.status).toBe(0);
    expectOnePodCollected(env);
  });
});

describe('a link that cannot lead to a file: one line naming the app and the path, 254, no pod left running', () => {
  it('stage1-systemd: /etc/hostname -> /usr, a directory', async () => {
    env = new RktEnv(systemd);
    env.seedStage1();
    const aci = await buildImage(env.tmp, { name: 'dirlink', links: { 'etc/hostname': '/usr' }, files: { 'usr/keep': '' } });
    const r = env.run(['run', aci, '--exec=/bin/sh', '--', '-c', 'echo APP-RAN']);
    expectRefused(r, /^stage1-systemd run: app dirlink: cannot write \/etc\/hostname in its root filesystem: it resolves to \/usr, a directory\n$/);
    expectOnePodCollected(env);
  });

  it('stage1-fly: /etc -> /etc, with a user named in /etc/passwd', async () => {
    env = new RktEnv(fly);
    const aci = await buildImage(env.tmp, { name: 'loop', etcAt: '/srv/etc', etcLink: '/etc', user: 'appuser' });
    const r = env.run(['run', aci, '--exec=/bin/sh', '--', '-c', 'echo APP-RAN']);
    expectRefused(r, /^stage1-fly run: app "loop": user "appuser" is a name, and \/etc\/passwd of its rootfs cannot be opened: Too many levels of symbolic links\n$/);
    expectOnePodCollected(env);
  });
});
