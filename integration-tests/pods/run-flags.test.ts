// rkt 1.30's per-app flags of `rkt run` and `rkt prepare` that rkt-ts lacked: --user-annotation, --user-label,
// --supplementary-gids, --readonly-rootfs and --signature, and --port refused in one line (--private-users: private-users.test.ts).
// Each as the app (or `rkt cat-manifest`) sees it, under both stage1s where it reaches the app.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeKey, sign, type TestKey } from '../../packages/fetcher/test/helpers.js';
import { buildBusyboxAci, ensureBuilt, rktBin, RktEnv, STAGE1S, prepareStage1Stores } from './harness.js';

let env: RktEnv;
let aci: string;

beforeAll(() => {
  ensureBuilt();
  // The stage1s' store templates once for the file: each test's seed is then a copy (seedStage1).
  prepareStage1Stores(...STAGE1S);
}, 600_000);
afterEach(async () => {
  await env.cleanup();
});

interface ManifestApp {
  name: string;
  readOnlyRootFS?: boolean;
  app: { supplementaryGIDs?: number[]; userAnnotations?: Record<string, string>; userLabels?: Record<string, string> };
}

function appsOf(uuid: string): ManifestApp[] {
  const r = env.run(['cat-manifest', uuid]);
  expect(r.stderr).toBe('');
  return (JSON.parse(r.stdout) as { apps: ManifestApp[] }).apps;
}

describe.each(STAGE1S)('rkt run ($name): the per-app flags reach the app', (stage1) => {
  beforeEach(async () => {
    env = new RktEnv(stage1);
    env.seedStage1();
    aci = await buildBusyboxAci(env.tmp);
  });

  it('--supplementary-gids gives the app those groups (id -G), replacing the image\'s', () => {
    const r = env.run(['run', aci, '--user=1000', '--group=100', '--supplementary-gids=4000,50', '--supplementary-gids=7', '--exec=/bin/sh', '--', '-c', 'id -G']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('100 7 50 4000\n');
    expect(r.status).toBe(0);
  });

  it('--readonly-rootfs=true makes writing to / fail with EROFS while a volume stays writable; =false leaves the root writable', () => {
    const vol = join(env.tmp, 'vol');
    mkdirSync(vol);
    const script = 'touch /probe 2>&1; touch /work/probe 2>&1; touch /data/probe && echo volume-ok';
    const ro = env.run(['run', `--volume=data,kind=host,source=${vol}`, aci, '--readonly-rootfs=true', '--mount=volume=data,target=/data', '--exec=/bin/sh', '--', '-c', script]);
    expect(ro.stderr).toBe('');
    expect(ro.stdout).toBe("touch: /probe: Read-only file system\ntouch: /work/probe: Read-only file system\nvolume-ok\n");
    expect(ro.status).toBe(0);
    expect(readFileSync(join(vol, 'probe'), 'utf8')).toBe('');
    // A copy of the tree (--no-overlay) is no mount of its own: read-only all the same.
    const copy = env.run(['run', '--no-overlay', aci, '--readonly-rootfs=true', '--exec=/bin/sh', '--', '-c', 'touch /probe']);
    expect([copy.status, copy.stdout, copy.stderr]).toEqual([1, '', 'touch: /probe: Read-only file system\n']);

    const rw = env.run(['run', aci, '--readonly-rootfs=false', '--exec=/bin/sh', '--', '-c', 'touch /probe && echo root-ok']);
    expect(rw.stderr).toBe('');
    expect(rw.stdout).toBe('root-ok\n');
  });
});

describe('rkt prepare: what the per-app flags put in the pod manifest', () => {
  beforeEach(async () => {
    env = new RktEnv(STAGE1S.find((s) => s.name === 'fly'));
    aci = await buildBusyboxAci(env.tmp);
  });

  it('each flag goes to the image before it: userAnnotations, userLabels, supplementaryGIDs, readOnlyRootFS', () => {
    const r = env.run([
      'prepare', '--quiet',
      aci, '--name=first', '--user-annotation=a=1', '--user-annotation=b=x=y', '--user-annotation=a=2', '--user-label=tier=web', '--supplementary-gids=10', '--readonly-rootfs=true',
      aci, '--name=second', '--user-label=tier=db', '--readonly-rootfs=false',
      aci, '--name=third',
    ]);
    expect(r.stderr).toBe('');
    const [first, second, third] = appsOf(r.stdout.trim());
    // A later value of a name wins, as in rkt's map.
    expect(first!.app.userAnnotations).toEqual({ a: '2', b: 'x=y' });
    expect(first!.app.userLabels).toEqual({ tier: 'web' });
    expect(first!.app.supplementaryGIDs).toEqual([10]);
    expect(first!.readOnlyRootFS).toBe(true);
    expect(second!.app.userAnnotations).toBeUndefined();
    expect(second!.app.userLabels).toEqual({ tier: 'db' });
    expect(second!.readOnlyRootFS).toBe(false);
    expect(third!.app).not.toHaveProperty('userLabels');
    expect(third!).not.toHaveProperty('readOnlyRootFS');
  });

  it('refuses a bad value in one line naming the flag, exit 254, and prepares nothing', () => {
    expect(env.run(['prepare', aci]).status).toBe(0);
    const before = env.run(['list', '--no-legend', '--full']).stdout;
    for (const [args, message] of [
      [[aci, '--supplementary-gids=10,x'], 'prepare: --supplementary-gids=10,x: "x" is not a group ID (0 to 4294967294)\n'],
      [[aci, '--supplementary-gids=-1'], 'prepare: --supplementary-gids=-1: "-1" is not a group ID (0 to 4294967294)\n'],
      [[aci, '--readonly-rootfs=maybe'], 'prepare: --readonly-rootfs=maybe: must be a boolean (true or false)\n'],
      [[aci, '--user-annotation=novalue'], 'prepare: --user-annotation=novalue: not NAME=VALUE\n'],
      [[aci, '--user-label==v'], 'prepare: --user-label==v: not NAME=VALUE\n'],
      [['--user-label=a=b', aci], 'prepare: --user-label must follow an image\n'],
      [['--readonly-rootfs=true', aci], 'prepare: --readonly-rootfs must follow an image\n'],
      [[aci, '--signature=a.asc', '--signature=b.asc'], 'prepare: --signature specified multiple times for the same image\n'],
      [['--port=http:8080', aci], 'prepare: port "http": no app of the pod has a port of that name (the apps have no ports)\n'],
      [['--port=http', aci], 'prepare: --port=http: must be NAME:HOSTPORT or NAME:HOSTIP:HOSTPORT (NAME:[HOSTIP:]HOSTPORT)\n'],
      [['--port=http:99999', aci], 'prepare: --port=http:99999: host port "99999" is not 1-65535 (NAME:[HOSTIP:]HOSTPORT)\n'],
      [['--port=http:1.2.3:80', aci], 'prepare: --port=http:1.2.3:80: host IP "1.2.3" is not an IPv4 address (NAME:[HOSTIP:]HOSTPORT)\n'],
    ] as const) {
      const r = env.run(['prepare', ...args]);
      expect(r.stderr, args.join(' ')).toBe(message);
      expect(r.status, args.join(' ')).toBe(254);
    }
    expect(env.run(['list', '--no-legend', '--full']).stdout).toBe(before);
    // A port goes to a pod on a CNI network: on the host's network the pod has the host's ports already. (--private-users:
    // private-users.test.ts.)
    const port = env.run(['run', '--port=http:8080', aci]);
    expect([port.status, port.stderr]).toEqual([254, "run: --port=http:8080: forwards a host port to a pod on a CNI network (--net=default): a pod on the host's network (--net=host, the default) has the host's ports already\n"]);
    expect(env.run(['prepare', '--private-users=false', '--quiet', aci]).status).toBe(0);
  });
});

describe('--signature: a local signature file for the image before it, instead of FILE.asc', () => {
  let key: TestKey;
  let other: TestKey;
  let localConfig: string;

  beforeAll(async () => {
    key = await makeKey('Busybox Signer');
    other = await makeKey('Someone Else');
  }, 60_000);

  beforeEach(async () => {
    env = new RktEnv(STAGE1S.find((s) => s.name === 'fly'));
    aci = await buildBusyboxAci(env.tmp);
    localConfig = join(env.tmp, 'etc');
    mkdirSync(localConfig);
    const keyFile = join(env.tmp, 'signer.asc');
    writeFileSync(keyFile, key.publicArmored);
    const trust = rkt(['trust', '--prefix=example.com/busybox', '--skip-fingerprint-review', keyFile]);
    expect(trust.status, trust.stderr).toBe(0);
  });

  /**
   * bin/rkt without --insecure-options=image: the image's signature is checked. The stage1 is the built fly,
   * found by name (a stage1 given by path would need its own signature).
   */
  function rkt(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
    const [cmd, ...rest] = args;
    const stage1 = cmd === 'run' || cmd === 'prepare' ? ['--stage1-name=coreos.com/rkt/stage1-fly'] : [];
    const r = spawnSync(rktBin, [`--dir=${env.dataDir}`, `--local-config=${localConfig}`, cmd!, ...stage1, ...rest], { cwd: env.tmp, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('runs the image with a good signature file, refuses a bad one and one for another key, in one line, leaving no pod', async () => {
    const image = readFileSync(aci);
    const good = join(env.tmp, 'good.sig');
    writeFileSync(good, await sign(key, image));
    const bad = join(env.tmp, 'bad.sig');
    writeFileSync(bad, await sign(key, Buffer.from('another image')));
    const untrusted = join(env.tmp, 'untrusted.sig');
    writeFileSync(untrusted, await sign(other, image));

    // No busybox.aci.asc beside the image: without --signature it is refused as unsigned.
    const unsigned = rkt(['run', aci, '--exec=/bin/true']);
    expect(unsigned.status).toBe(254);
    expect(unsigned.stderr).toMatch(/busybox\.aci: error opening signature file/);

    const refused = [
      [bad, /^run: image "example.com\/busybox" verification failed: the signature by [0-9a-f]+ does not match the image/],
      [untrusted, /^run: image "example.com\/busybox" verification failed: signed by key [0-9a-f]+, which is not trusted for "example.com\/busybox"/],
    ] as const;
    for (const [sig, why] of refused) {
      const r = rkt(['run', aci, `--signature=${sig}`, '--exec=/bin/true']);
      expect(r.status, r.stderr).toBe(254);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(why);
    }
    const missing = rkt(['run', aci, '--signature=nope.sig', '--exec=/bin/true']);
    expect([missing.status, missing.stderr]).toEqual([254, `run: --signature=nope.sig: no such file (${join(env.tmp, 'nope.sig')})\n`]);
    expect(env.podUuids()).toEqual([]);

    const ok = rkt(['run', aci, '--signature=good.sig', '--exec=/bin/echo', '--', 'signed']);
    expect(ok.stdout).toBe('signed\n');
    expect(ok.stderr).toMatch(/^signature verified:\n {2}Busybox Signer/);
    expect(ok.status).toBe(0);
  });

  it('is refused for an image ID (a URL or a name takes one: fetch-cli.test.ts)', async () => {
    writeFileSync(join(env.tmp, 'good.sig'), await sign(key, readFileSync(aci)));
    const id = `sha512-${'0'.repeat(64)}`;
    const r = rkt(['prepare', id, '--signature=good.sig']);
    expect(r.stderr).toBe(`prepare: ${id}: a signature file (${join(env.tmp, 'good.sig')}) is for an image to fetch, not an image ID (a stored image was verified when it was fetched)\n`);
    expect(r.status).toBe(254);
    expect(env.podUuids()).toEqual([]);
  });
});
