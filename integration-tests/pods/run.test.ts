// `rkt run` under each stage1 (fly, and systemd, the default): output, exit status, and every per-app
// setting arriving in the app.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { busyboxAciOfFile, ensureBuilt, prepareStage1Stores, STAGE1S, rktBin, RktEnv } from './harness.js';

let env: RktEnv;
let aci: string;

// The stage1s' store templates too: each test's seed is then a copy (harness.ts, prepareStage1Stores).
beforeAll(() => {
  ensureBuilt();
  prepareStage1Stores(...STAGE1S);
}, 600_000);
// Every test hands the same image to rkt, which imports it into the test's own store.
const fileAci = busyboxAciOfFile();
afterEach(async () => {
  await env.cleanup();
});

describe.each(STAGE1S)('rkt run ($name)', (stage1) => {
  beforeEach(() => {
    env = new RktEnv(stage1);
    env.seedStage1();
    aci = fileAci.path;
  });

  it("prints the app's output and exits with its status", () => {
    const r = env.run(['run', aci, '--exec', '/bin/echo', '--', 'hello']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hello\n');
    expect(r.status).toBe(0);
    expect(env.run(['run', aci, '--exec', '/bin/sh', '--', '-c', 'exit 7']).status).toBe(7);
  });

  it("runs the image's own exec when none is given", () => {
    const r = env.run(['run', aci]);
    expect(r.stdout).toBe('image-default\n');
    expect(r.status).toBe(0);
  });

  it('gives the app the environment, user, group, working directory and arguments asked for', () => {
    const envFile = join(env.tmp, 'app.env');
    writeFileSync(envFile, '# comment\nFROM_FILE=file-value\nOVERRIDDEN=from-file\n');
    const script = 'echo "$(id -u):$(id -g) $(pwd) $FROM_IMAGE $FROM_FILE $OVERRIDDEN $FOO $AC_APP_NAME"; echo "$0|$1|$2"; echo "$PATH|$container"';
    const r = env.run([
      'run',
      aci,
      '--name=probe',
      '--exec=/bin/sh',
      '--user=user',
      '--group=50',
      '--working-dir=/tmp',
      `--set-env-file=${envFile}`,
      '--set-env=FOO=bar baz',
      '--set-env=OVERRIDDEN=from-flag',
      '--',
      '-c',
      script,
      'zero',
      'one two',
      '',
    ]);
    expect(r.stderr).toBe('');
    // The spec's default PATH; `container` names the container manager, which fly (a chroot) does not set.
    const container = stage1.name === 'systemd' ? 'rkt' : '';
    expect(r.stdout).toBe(`1000:50 /tmp image-value file-value from-flag bar baz probe\nzero|one two|\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|${container}\n`);
    expect(r.status).toBe(0);
  });

  it('runs as a numeric user and group and the root filesystem has /proc, /sys, /dev and /dev/pts', () => {
    const r = env.run(['run', aci, '--exec=/bin/sh', '--user=1234', '--group=4321', '--', '-c', 'id -u; id -g; ls /proc/self/status /dev/null /sys/kernel /dev/pts/ptmx >/dev/null && echo mounted']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1234\n4321\nmounted\n');
    expect(r.status).toBe(0);
  });

  it("runs as the owner of a file when the user and group are a path in the image (appc)", () => {
    const r = env.run(['run', aci, '--exec=/bin/sh', '--user=/work/owned', '--group=/work/owned', '--', '-c', 'echo "$(id -u):$(id -g)"']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('4242:4343\n');
    const missing = env.run(['run', aci, '--exec=/bin/true', '--user=/no/such/file']);
    expect(missing.status).toBe(254);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('/no/such/file');
  });

  it("gives the app the pod manifest's supplementary groups", () => {
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0); // imports the image
    const manifest = join(env.tmp, 'pod.json');
    const app = { exec: ['/bin/sh', '-c', 'echo "$(id -u) $(id -g) $(id -G)"'], user: '1000', group: '100', supplementaryGIDs: [4000, 50] };
    writeFileSync(manifest, JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [{ name: 'groups', image: { name: 'example.com/busybox' }, app }] }));
    const r = env.run(['run', `--pod-manifest=${manifest}`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1000 100 100 50 4000\n');
  });

  it("gives the app the pod manifest's readOnlyRootFS: / is read-only (EROFS), a writable volume stays writable", () => {
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0); // imports the image
    const vol = join(env.tmp, 'vol');
    mkdirSync(vol);
    const manifest = join(env.tmp, 'pod.json');
    const app = { exec: ['/bin/sh', '-c', 'touch /probe 2>&1; touch /data/probe && echo volume-ok'], user: '0', group: '0' };
    const ro = { name: 'ro', image: { name: 'example.com/busybox' }, app, readOnlyRootFS: true, mounts: [{ volume: 'data', path: '/data' }] };
    writeFileSync(manifest, JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [ro], volumes: [{ name: 'data', kind: 'host', source: vol }] }));
    const r = env.run(['run', `--pod-manifest=${manifest}`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('touch: /probe: Read-only file system\nvolume-ok\n');
    expect(existsSync(join(vol, 'probe'))).toBe(true);
  });

  it('the app writes into its own copy: the image tree stays as it was', () => {
    expect(env.run(['run', aci, '--exec=/bin/sh', '--', '-c', 'echo changed > /etc/passwd && cat /etc/passwd']).stdout).toBe('changed\n');
    expect(env.run(['run', aci, '--exec=/bin/sh', '--', '-c', 'head -c 4 /etc/passwd; echo']).stdout).toBe('root\n');
  });

  it('--no-overlay copies the tree and works the same', () => {
    const r = env.run(['run', '--no-overlay', aci, '--exec=/bin/sh', '--', '-c', 'echo copied > /tmp/x && cat /tmp/x']);
    expect(r.stdout).toBe('copied\n');
    expect(r.status).toBe(0);
  });

  it('--inherit-env passes the environment of rkt to the app, under its own variables', () => {
    const r = env.run(['run', '--inherit-env', aci, '--exec=/bin/sh', '--', '-c', 'echo "$HOME $FROM_IMAGE"']);
    expect(r.stdout).toBe(`${process.env.HOME ?? ''} image-value\n`);
  });

  it('fails with 254 and one line for what rkt itself cannot do', () => {
    const missing = env.run(['run', join(env.tmp, 'nope.aci')]);
    expect(missing.status).toBe(254);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('nope.aci');

    // A relative exec is the stage1's to find (relative-exec.test.ts); an empty one is refused by rkt.
    const empty = env.run(['run', aci, '--exec=']);
    expect(empty.status).toBe(254);
    expect(empty.stderr).toBe('run: app "busybox": exec is an empty string; give a program with --exec\n');

    // Without --insecure-options=image an image file needs its signature (FILE.aci.asc); this one has none.
    const unsigned = spawnSync(rktBin, [`--dir=${env.dataDir}`, 'run', aci], { encoding: 'utf8' });
    expect(unsigned.status).toBe(254);
    expect(unsigned.stderr).toMatch(/^run: .*busybox\.aci: error opening signature file: .*--insecure-options=image\)\n$/);
  });

  it("--net=host runs the pod on the host's network, as a pod without the flag; host or none with other networks, or a malformed list, is refused, leaving no pod", () => {
    // The host's network namespace itself (the same inode), and in it the interfaces a user would look for: lo
    // and those of the host's default routes. Not the whole list: the other test files of the parallel group
    // make and remove veths and bridges meanwhile.
    const r = env.run(['run', '--net=host', aci, '--exec=/bin/sh', '--', '-c', 'busybox readlink /proc/self/ns/net; cat /proc/net/dev']);
    expect(r.status, r.stderr).toBe(0);
    const [netns, ...dev] = r.stdout.split('\n');
    expect(netns).toBe(readlinkSync('/proc/self/ns/net'));
    const defaultRoutes = readFileSync('/proc/net/route', 'utf8').split('\n').slice(1).map((l) => l.split('\t')).filter((f) => f[1] === '00000000').map((f) => f[0]!);
    const podInterfaces = dev.slice(2).map((l) => l.split(':')[0]!.trim()).filter((n) => n !== '');
    expect(podInterfaces).toEqual(expect.arrayContaining(['lo', ...defaultRoutes]));
    // A pod run without the flag is on the host's network too (rkt-ts's default network).
    const plain = env.run(['run', aci, '--exec=/bin/sh', '--', '-c', 'busybox readlink /proc/self/ns/net']);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout).toBe(`${netns}\n`);
    for (const [net, line] of [
      ['--net=,host', '--net=,host: netname must not be empty'],
      ['--net=mynet:a:b', '--net=mynet:a:b: network "mynet" provided with invalid arguments: [a b]'],
      ['--net=all:IP=10.1.0.9', '--net=all:IP=10.1.0.9: arguments are not supported by special netname "all"'],
      ['--net=host,mynet:IP=10.1.0.9', "--net=host,mynet:IP=10.1.0.9: \"host\" (the host's network) cannot be combined with other networks"],
      ['--net=none,default', "--net=none,default: \"none\" (a loopback of the pod's own) cannot be combined with other networks"],
      ['--net=none:IP=10.1.0.9', '--net=none:IP=10.1.0.9: arguments are not supported by special netname "none"'],
      ['--net=none,host', '--net=none,host: "host" (the host\'s network) and "none" (a loopback of the pod\'s own) cannot be combined'],
    ] as const) {
      const refused = env.run(['run', net, aci, '--exec=/bin/true']);
      expect(refused.status).toBe(254);
      expect(refused.stderr).toBe(`run: ${line}\n`);
    }
    // rkt's NetList: a network named twice, in one value or across flags, whatever the name.
    for (const [flags, line] of [
      [['--net=host', '--net=host'], '--net=host: found duplicate netname "host"'],
      [['--net=none,none'], '--net=none,none: found duplicate netname "none"'],
      [['--net=host', '--net=none,host:x'], '--net=none,host:x: found duplicate netname "host"'],
      [['--net=host:x', '--net=host'], '--net=host:x: arguments are not supported by special netname "host"'],
      [['--net=mynet', '--net=mynet:IP=10.1.0.9'], '--net=mynet:IP=10.1.0.9: found duplicate netname "mynet"'],
    ] as const) {
      for (const cmd of ['run', 'run-prepared']) {
        const refused = env.run([cmd, ...flags, ...(cmd === 'run' ? [aci, '--exec=/bin/true'] : ['00000000-0000-0000-0000-000000000000'])]);
        expect(refused.stderr, `${cmd} ${flags.join(' ')}`).toBe(`${cmd}: ${line}\n`);
        expect(refused.status).toBe(254);
      }
    }
    const twoFlags = env.run(['run', '--net=host', '--net=none', aci, '--exec=/bin/true']);
    expect(twoFlags.stderr).toBe('run: --net=host and --net=none: "host" (the host\'s network) and "none" (a loopback of the pod\'s own) cannot be combined\n');
    expect(twoFlags.status).toBe(254);
    // rkt's refusal: the service is on the host's network, out of the pod's reach (checked before the service is asked).
    const mds = env.run(['run', '--net=none', '--mds-register', `--mds-socket=${join(env.tmp, 'no-mds.sock')}`, aci, '--exec=/bin/true']);
    expect(mds.stderr).toBe("run: --mds-register does not work with --net=none: the pod's apps could not reach the metadata service on the host (use --net=host)\n");
    expect(mds.status).toBe(254);
    // The two pods that ran (with the flag and without); none of the refused ones.
    expect(JSON.parse(env.run(['list', '--format=json']).stdout)).toHaveLength(2);
  });

  it('passes standard input to the app only with --interactive', () => {
    expect(env.run(['run', '--interactive', aci, '--exec=/bin/cat'], { input: 'typed\n' }).stdout).toBe('typed\n');
    const closed = env.run(['run', aci, '--exec=/bin/cat'], { input: 'typed\n' });
    expect(closed.stdout).toBe('');
    expect(closed.status).toBe(0);
  });

  it('--uuid-file-save writes the UUID of the pod', () => {
    const file = join(env.tmp, 'uuid');
    expect(env.run(['run', `--uuid-file-save=${file}`, aci, '--exec=/bin/true']).status).toBe(0);
    const list = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string }[];
    expect(list.map((p) => p.name)).toEqual([readFileSync(file, 'utf8')]);
  });

  it('--uuid-file-save to a path that cannot be written fails in one line naming the flag, and leaves no pod', () => {
    expect(env.run(['prepare', aci]).status).toBe(0);
    const pods = () => env.run(['list', '--no-legend', '--full']).stdout.split('\n').map((l) => l.split('\t')[0]);
    const before = pods();
    const file = join(env.tmp, 'no-such-dir', 'uuid');
    for (const cmd of ['run', 'prepare']) {
      const r = env.run([cmd, `--uuid-file-save=${file}`, aci, '--exec=/bin/true']);
      expect(r.status, cmd).toBe(254);
      expect(r.stderr, cmd).toBe(`${cmd}: --uuid-file-save ${file}: cannot write the pod UUID: ENOENT: no such file or directory\n`);
      expect(pods(), cmd).toEqual(before);
    }
    expect(readdirSync(join(env.dataDir, 'pods', 'prepare'))).toEqual([]);
  });
});

describe("per-app flags, as rkt's: each applies to the image before it", () => {
  beforeEach(() => {
    env = new RktEnv(STAGE1S.find((s) => s.name === 'fly'));
    aci = fileAci.path;
  });

  const appsOf = (uuid: string) =>
    (JSON.parse(env.run(['cat-manifest', uuid]).stdout) as { apps: { name: string; app: { exec: string[] } }[] }).apps.map((a) => [a.name, a.app.exec.join(' ')]);

  it('a flag between two images goes to the first, and --- between two images needs no --', () => {
    const two = env.run(['prepare', '--quiet', aci, '--name=first', '--exec=/bin/true', aci, '--name=second', '--exec=/bin/echo', '--', 'hi']);
    expect(two.stderr).toBe('');
    expect(appsOf(two.stdout.trim())).toEqual([
      ['first', '/bin/true'],
      ['second', '/bin/echo hi'],
    ]);
    const dashes = env.run(['prepare', '--quiet', aci, '--name=one', '---', aci, '--name=two']);
    expect(dashes.stderr).toBe('');
    expect(appsOf(dashes.stdout.trim())).toEqual([
      ['one', '/bin/sh -c echo image-default'],
      ['two', '/bin/sh -c echo image-default'],
    ]);
    // The app's arguments end at ---; what follows is read as flags again.
    const r = env.run(['run', aci, '--exec=/bin/sh', '--', '-c', 'echo "$A"', '---', '--set-env=A=after']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('after\n');
  });

  it('refuses a per-app flag before any image and a second --exec for one image, in one line, leaving no pod', () => {
    expect(env.run(['prepare', aci]).status).toBe(0);
    const before = env.run(['list', '--no-legend', '--full']).stdout;
    for (const [args, message] of [
      [['--exec=/bin/true', aci], 'prepare: --exec must follow an image\n'],
      [[aci, '--exec=/bin/true', '--exec=/bin/echo'], 'prepare: --exec specified multiple times for the same image\n'],
      [['--memory=64M', aci], 'prepare: --memory must follow an image\n'],
    ] as const) {
      const r = env.run(['prepare', ...args]);
      expect(r.status, args.join(' ')).toBe(254);
      expect(r.stderr, args.join(' ')).toBe(message);
    }
    expect(env.run(['list', '--no-legend', '--full']).stdout).toBe(before);
  });
});

describe("rkt run (fly) becomes the stage1, as rkt exec'd it", () => {
  const fly = STAGE1S.find((s) => s.name === 'fly');
  beforeEach(() => {
    env = new RktEnv(fly);
    aci = fileAci.path;
  });

  it("the app's parent is the process the user started; with --debug rkt stays beside the stage1 and reports the pod's end", async () => {
    const direct = env.start(['run', aci, '--exec=/bin/sh', '--', '-c', 'echo $PPID']);
    const r = await direct.done;
    expect(r).toEqual({ status: 0, stdout: `${direct.child.pid}\n`, stderr: '' });

    const debug = env.start(['--debug', 'run', aci, '--exec=/bin/sh', '--', '-c', 'echo $PPID; exit 3']);
    const d = await debug.done;
    expect(d.status).toBe(3);
    expect(d.stdout).not.toBe(`${debug.child.pid}\n`);
    expect(d.stderr).toContain('event pod/exited');
    expect(d.stderr).toContain('"exitStatus":3');
  });

  it('the pod outlives the shell that started rkt run in the background, and its status is the app\'s', async () => {
    const file = join(env.tmp, 'uuid');
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const args = env.args(['run', `--uuid-file-save=${file}`, aci, '--exec=/bin/sh', '--', '-c', 'sleep 2; exit 5']);
    // The shell exits once the app runs (the stage1 has written its pid); a stage1 tied to its parent's life
    // would die with it, and the app with the stage1.
    const started = `for i in $(seq 400); do [ -s ${quote(env.dataDir)}/pods/run/*/pid ] && exit 0; sleep 0.05; done; exit 1`;
    expect(spawnSync('sh', ['-c', `${quote(rktBin)} ${args.map(quote).join(' ')} </dev/null >/dev/null 2>&1 & ${started}`]).status).toBe(0);
    const end = Date.now() + 20_000;
    while (Date.now() < end && !existsSync(file)) await new Promise((r) => setTimeout(r, 50));
    const uuid = readFileSync(file, 'utf8');
    const r = env.run(['status', '--wait', '--format=json', uuid]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'exited', apps: [{ exit_code: 5 }] });
  });
});
