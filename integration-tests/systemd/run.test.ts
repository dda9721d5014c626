// What only the systemd stage1 (the default) does, beyond the scenarios every stage1 passes
// (integration-tests/pods): systemd as the pod's PID 1, rkt's pod semantics for several apps (all start
// together; the first failure ends the pod and is rkt run's status; else the pod ends with its last
// app), the sidekick pattern on the pod's localhost, event handlers, rkt stop's status, the pod's
// hostname and /etc/hosts, --interactive on a terminal and without one (rkt's stdin relayed to the app);
// and its run entrypoint as a module in rkt's own process (rkt-ts.dev/stage1/run-module): no second Node
// in the pod's process tree, the fallback to executing /rkt/run when the module cannot be used, and a
// kill -9 of rkt run, which leaves no process of rkt's own to end the pod, still ending it. Nothing may be
// left behind: no mount, no process, no cgroup, no nspawn propagation directory. The tests whose checks lean
// on time are in run-timing.test.ts, which runs alone.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { appProcess, podCgroups, RktEnv, rktBin } from '../pods/harness.js';
import { appStatusesOf, expectNothingLeft as expectPodGone, nspawnLockFile, onlyPodOf, systemdPodTests, writePodManifest } from './harness.js';

const pods = systemdPodTests();
let env: RktEnv;
let aci: string;
beforeEach(() => ({ env, aci } = pods));

const onlyPod = (): string => onlyPodOf(env);
const appStatuses = (uuid: string): string[] => appStatusesOf(env, uuid);
const expectNothingLeft = (uuid: string): void => expectPodGone(env, uuid);

describe('rkt run (stage1-systemd)', () => {
  it("is the default stage1: systemd is the pod's PID 1, the app its service, and nothing is left behind", () => {
    // No --stage1 flag at all: the built-in default.
    const r = spawnSync(rktBin, [`--dir=${env.dataDir}`, '--insecure-options=image', 'run', aci, '--exec=/bin/sh', '--', '-c', 'echo "pid1 $(cat /proc/1/comm)"; exit 5'], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('pid1 systemd\n');
    expect(r.status).toBe(5);
    const uuid = onlyPod();
    expect(appStatuses(uuid)).toEqual(['app-busybox=5']);
    expectNothingLeft(uuid);
  });

  it("refuses in one line, before booting, an app whose root filesystem lacks its exec or its working directory", () => {
    // Left to systemd, the first ended the app with a silent 203, and the second hung the pod for good: the
    // app's status recorder could not enter the directory either, so nothing ended the pod.
    const wd = env.run(['run', aci, '--working-dir=/nonexistent'], { timeoutMs: 30_000 });
    expect(wd.stderr).toBe('stage1-systemd run: app busybox: working directory /nonexistent: no such directory in its root filesystem\n');
    expect(wd.status).toBe(254);
    const exec = env.run(['run', aci, '--exec=/bin/nonexistent'], { timeoutMs: 30_000 });
    expect(exec.stderr).toBe('stage1-systemd run: app busybox: cannot execute /bin/nonexistent: no such file in its root filesystem\n');
    expect(exec.status).toBe(254);
    const pods = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string; state: string }[];
    expect(pods.map((p) => p.state)).toEqual(['exited', 'exited']);
    for (const p of pods) expectNothingLeft(p.name);
  });

  it('ends a pod whose apps all succeed when the slower one ends, with status 0', () => {
    const started = Date.now();
    const r = env.run(['run', aci, '--name=quick', '--exec=/bin/sh', '--', '-c', 'echo quick', '---', aci, '--name=slow', '--exec=/bin/sh', '--', '-c', 'sleep 2; echo slow']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('quick\nslow\n');
    expect(r.status).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    const uuid = onlyPod();
    expect(appStatuses(uuid)).toEqual(['app-quick=0', 'app-slow=0']);
    expectNothingLeft(uuid);
  });

  it('shows an app that ended while its pod runs on: rkt status has app-NAME=0, its JSON the exit_code', async () => {
    const { done } = env.start(['run', aci, '--name=long', '--exec=/bin/sleep', '--', '100', '---', aci, '--name=quick', '--exec=/bin/true']);
    const { uuid } = await env.waitRunning();
    let lines: string[] = [];
    for (let i = 0; i < 200 && !lines.includes('app-quick=0'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      lines = appStatuses(uuid);
    }
    // Before, an app's status reached rkt only once the whole pod had ended.
    expect(lines).toEqual(['app-quick=0']);
    const json = env.status(uuid);
    expect(json.state).toBe('running');
    expect(json.apps).toEqual([{ name: 'long' }, { name: 'quick', exit_code: 0 }]);
    expect(env.run(['stop', uuid]).status).toBe(0);
    expect((await done).status).toBe(143);
    expect(appStatuses(uuid)).toEqual(['app-long=143', 'app-quick=0']);
    expectNothingLeft(uuid);
  });

  it('runs a sidekick: app B reaches app A on the pod localhost, and the pod ends when both ended', () => {
    // --net=none: the pod's own network namespace, whose loopback only its apps share, so a fixed port clashes
    // with nothing on the host or in other tests' pods.
    const port = 8080;
    const r = env.run([
      'run',
      '--net=none',
      aci,
      '--name=server',
      '--exec=/bin/busybox',
      '--',
      'nc',
      '-l',
      '-p',
      String(port),
      '-e',
      '/bin/echo',
      'served by A',
      '---',
      aci,
      '--name=client',
      '--exec=/bin/sh',
      '--',
      '-c',
      `for i in $(busybox seq 100); do got=$(busybox nc 127.0.0.1 ${port} 2>/dev/null) && [ -n "$got" ] && { echo "B got: $got"; exit 0; }; sleep 0.1; done; exit 1`,
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('B got: served by A\n');
    expect(r.status).toBe(0);
    const uuid = onlyPod();
    expect(appStatuses(uuid)).toEqual(['app-client=0', 'app-server=0']);
    expectNothingLeft(uuid);
  });

  it('runs pre-start and post-stop handlers in the app root; rkt stop records 143 and the post-stop handler runs', async () => {
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0); // imports the image
    const manifest = writePodManifest(env.tmp, [
      {
        name: 'handled',
        image: { name: 'example.com/busybox' },
        app: {
          exec: ['/bin/sh', '-c', 'echo "main sees $(cat /pre-start)"; exec sleep 100'],
          user: '1000',
          group: '100',
          eventHandlers: [
            { name: 'pre-start', exec: ['/bin/sh', '-c', 'echo "pre-start as $(id -u)" | tee /pre-start'] },
            { name: 'post-stop', exec: ['/bin/sh', '-c', 'echo "post-stop in $AC_APP_NAME"'] },
          ],
          // uid 1000 writes /pre-start into the root-owned /: a non-root app has no capability unless a
          // retain-set names it (then it is ambient, for the handlers too).
          isolators: [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_DAC_OVERRIDE'] } }],
        },
      },
    ]);
    const { done } = env.start(['run', `--pod-manifest=${manifest}`]);
    const { uuid } = await env.waitRunning();
    const podDir = join(env.dataDir, 'pods', 'run', uuid);
    for (let i = 0; i < 200 && !existsSync(join(podDir, 'appsinfo', 'handled', 'rootfs', 'pre-start')); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300)); // the main process past its echo
    const stop = env.run(['stop', uuid]);
    expect(stop.status).toBe(0);
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('pre-start as 1000\nmain sees pre-start as 1000\npost-stop in handled\n');
    expect(r.status).toBe(143);
    expect(appStatuses(uuid)).toEqual(['app-handled=143']);
    expectNothingLeft(uuid);
  });

  it('names the pod rkt-UUID, or --hostname, in its UTS namespace, /etc/hostname and /etc/hosts', () => {
    const script = 'echo "$(hostname) $(cat /etc/hostname)"; grep -c "^127.0.0.1.*$(hostname)" /etc/hosts';
    const r = env.run(['run', aci, '--exec=/bin/sh', '--', '-c', script]);
    expect(r.stderr).toBe('');
    const uuid = onlyPod();
    expect(r.stdout).toBe(`rkt-${uuid} rkt-${uuid}\n1\n`);
    const named = env.run(['run', '--hostname=web.example.com', aci, '--exec=/bin/sh', '--', '-c', script]);
    expect(named.stderr).toBe('');
    expect(named.stdout).toBe('web.example.com web.example.com\n1\n');

    const bad = env.run(['run', '--hostname=bad_name!', aci, '--exec=/bin/true']);
    expect(bad.status).toBe(254);
    expect(bad.stderr).toMatch(/^run: --hostname "bad_name!": .*\n$/);
    expect(JSON.parse(env.run(['list', '--format=json']).stdout)).toHaveLength(2);
  });

  /**
   * rkt with these arguments on a real pty (util-linux's script): its stdin and stdout are a terminal.
   * script runs the command with $SHELL -c, and a shell left waiting for rkt is in the terminal's
   * foreground process group too: dash (CI has no SHELL, so /bin/sh) would die of the ^C and script
   * report 130 whatever rkt did. `exec` makes rkt the session's only process, under any shell.
   */
  const onTerminal = (args: string[]) => {
    const cmd = `exec ${[rktBin, ...env.args(args)].map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(' ')}`;
    const script = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: env.tmp, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SHELL: '/bin/sh' } });
    env.children.add(script);
    return script;
  };

  it('--interactive attaches the terminal (stdin and tty) to the one app, and refuses a pod of two', async () => {
    // A real pty, from util-linux's script: rkt's stdin and stdout are a terminal, where a user types
    // once the app asks.
    const app = '[ -t 0 ] && [ -t 1 ] && echo "on a terminal: $(tty)"; read line; echo "got: $line"';
    const script = onTerminal(['run', '--interactive', aci, '--exec=/bin/sh', '--', '-c', app]);
    let out = '';
    script.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/on a terminal: \/dev\/\S+\r?\n/.test(out) && !script.stdin.writableEnded) script.stdin.end('typed by a user\n');
    });
    const status = await new Promise<number | null>((resolve) => script.once('close', resolve));
    const text = out.replace(/\r/g, '');
    expect(text).toMatch(/on a terminal: \/dev\/(console|pts\/[0-9]+)\n/);
    expect(text).toContain('got: typed by a user\n');
    expect(status).toBe(0);

    const uuids = () => env.run(['list', '--no-legend', '--full']).stdout.split('\n').map((l) => l.split('\t')[0]).filter((u) => u !== '');
    const podsBefore = uuids();
    const two = env.run(['run', '--interactive', aci, '--name=one', '--exec=/bin/true', '--', '---', aci, '--name=two', '--exec=/bin/true']);
    expect(two.status).toBe(254);
    expect(two.stderr.trim().split('\n')).toHaveLength(1);
    expect(two.stderr).toContain('--interactive');
    // Refused before anything was prepared: no pod is left for gc.
    expect(uuids()).toEqual(podsBefore);
  });

  it("^C on rkt run's terminal stops the pod as rkt stop does: the app gets SIGTERM and records 143", async () => {
    const script = onTerminal(['run', aci, '--exec=/bin/sh', '--', '-c', 'echo up; exec sleep 100']);
    let out = '';
    script.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      // The terminal's interrupt character, typed once the app runs (its line, not any text with "up" in it).
      if (/(^|\n)up\r?\n/.test(out) && !script.stdin.writableEnded) setTimeout(() => script.stdin.end('\x03'), 300);
    });
    const status = await new Promise<number | null>((resolve) => script.once('close', resolve));
    expect(status, out).toBe(143);
    const uuid = onlyPod();
    expect(appStatuses(uuid)).toEqual(['app-busybox=143']);
    expectNothingLeft(uuid);
  });

  it('^C while the pod boots still stops it: nspawn runs, systemd has not started yet', async () => {
    const started = Date.now();
    const script = onTerminal(['run', aci, '--exec=/bin/sh', '--', '-c', 'echo up; exec sleep 100']);
    let out = '';
    script.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    // The run entrypoint writes ppid as soon as nspawn is spawned: the ^C comes before the pod's systemd
    // could take a halt, which it must not lose (the pod would run its app's 100 s).
    const runDir = join(env.dataDir, 'pods', 'run');
    const poll = setInterval(() => {
      const ppid = spawnSync('sh', ['-c', `cat ${runDir}/*/ppid 2>/dev/null`], { encoding: 'utf8' }).stdout.trim();
      if (ppid === '' || script.stdin.writableEnded) return;
      clearInterval(poll);
      script.stdin.end('\x03');
    }, 5);
    const status = await new Promise<number | null>((resolve) => script.once('close', resolve));
    clearInterval(poll);
    expect(Date.now() - started, out).toBeLessThan(60_000);
    const uuid = onlyPod();
    // The app was started and stopped (143), or the halt came first and it never ran (the pod reports the ^C).
    const apps = appStatuses(uuid);
    if (apps.length === 0) expect(status, out).toBe(130);
    else {
      expect(apps).toEqual(['app-busybox=143']);
      expect(status, out).toBe(143);
    }
    expectNothingLeft(uuid);
  });

  it('gc removes what a killed run entrypoint left: the pod cgroups and the propagation directory', async () => {
    const { done } = env.start(['run', aci, '--exec', '/bin/sh', '--', '-c', 'sleep 100']);
    const { uuid } = await env.waitRunning();
    const ppid = Number(readFileSync(join(env.dataDir, 'pods', 'run', uuid, 'ppid'), 'utf8').trim());
    // The run entrypoint (nspawn's parent) and the pod's PID 1 (nspawn's child) die without clean-up.
    const runEntrypoint = Number(readFileSync(`/proc/${ppid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
    const pid1 = Number(readFileSync(`/proc/${ppid}/task/${ppid}/children`, 'utf8').trim().split(/\s+/)[0]);
    process.kill(runEntrypoint, 'SIGKILL');
    process.kill(pid1, 'SIGKILL');
    await done;
    await env.waitState(uuid, 'exited');
    expect(podCgroups(uuid).length).toBeGreaterThan(0);
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expectNothingLeft(uuid);
  });
});

describe('--interactive without a terminal (stage1-systemd)', () => {
  // rkt's stdin is relayed through the socket that the app's unit connects its stdin to (io-relay.ts),
  // which systemd connects for each command the unit runs, the app's pre-start handler first.
  const runPiped = (args: string[], input: Buffer | string) =>
    spawnSync(rktBin, env.args(['run', '--interactive', ...args]), { cwd: env.tmp, input, maxBuffer: 64 << 20, timeout: 60_000 });

  it("gives the app what was written before the pod booted, not to its pre-start handler, which reads end-of-file", () => {
    expect(env.run(['fetch', aci]).status).toBe(0);
    const manifest = writePodManifest(env.tmp, [
      {
        name: 'reader',
        image: { name: 'example.com/busybox' },
        app: {
          exec: ['/bin/sh', '-c', 'echo "pre-start read [$(cat /pre-start-read)]"; cat'],
          user: '0',
          group: '0',
          // Reads its stdin to its end: before, it was given rkt's stdin (the first connection) and took it all.
          eventHandlers: [{ name: 'pre-start', exec: ['/bin/sh', '-c', 'cat > /pre-start-read'] }],
        },
      },
    ]);
    // Written at once, while rkt starts: long before the pod has booted.
    const r = runPiped([`--pod-manifest=${manifest}`], 'typed early\nand more\n');
    expect(r.stderr.toString()).toBe('');
    expect(r.stdout.toString()).toBe('pre-start read []\ntyped early\nand more\n');
    expect(r.status).toBe(0);
    const uuid = onlyPod();
    expect(appStatuses(uuid)).toEqual(['app-reader=0']);
    expectNothingLeft(uuid);
  });

  it('relays a large input intact and in order', () => {
    const input = randomBytes(8 << 20);
    const r = runPiped([aci, '--exec=/bin/cat'], input);
    expect(r.stderr.toString()).toBe('');
    expect(r.stdout.length).toBe(input.length);
    expect(createHash('sha256').update(r.stdout).digest('hex')).toBe(createHash('sha256').update(input).digest('hex'));
    expect(r.status).toBe(0);
    expectNothingLeft(onlyPod());
  });

  it("ends an app that reads to end-of-file when rkt's stdin closes: at once, or after a slow writer", async () => {
    // stdin at its end from the start (/dev/null).
    const empty = spawnSync(rktBin, env.args(['run', '--interactive', aci, '--exec=/bin/cat']), { cwd: env.tmp, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 60_000 });
    expect(empty.stderr).toBe('');
    expect(empty.stdout).toBe('');
    expect(empty.status).toBe(0);

    // A writer that goes on once the app has answered, and then closes.
    const child = spawn(rktBin, env.args(['run', '--interactive', aci, '--exec=/bin/sh', '--', '-c', 'while read line; do echo "got $line"; done; echo eof']), {
      cwd: env.tmp,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    env.children.add(child);
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out === 'got first\n') setTimeout(() => child.stdin.end('second\n'), 500);
    });
    child.stdin.write('first\n');
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    env.children.delete(child);
    expect(err).toBe('');
    expect(out).toBe('got first\ngot second\neof\n');
    expect(status).toBe(0);
    const uuids = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string }[];
    expect(uuids).toHaveLength(2);
    for (const p of uuids) expect(appStatuses(p.name)).toEqual(['app-busybox=0']);
    for (const p of uuids) expectNothingLeft(p.name);
  });
});

describe("rkt run's output reader going away (stage1-systemd)", () => {
  it('rkt run exits 141 without a word, the pod is stopped with its statuses, and the app sees EPIPE on its own writes', async () => {
    // The app ignores the halt's SIGTERM: it can end only by failing a write (7), or by SIGKILL 5 s on (137).
    const { child, done } = env.start(['run', aci, '--exec=/bin/sh', '--', '-c', 'trap "" TERM; i=0; while true; do echo line $i || { echo write-failed >&2; exit 7; }; i=$((i+1)); sleep 0.1; done']);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        // `| head -2`: the reader closes its end after two lines.
        if (out.includes('line 1\n')) {
          child.stdout?.destroy();
          resolve();
        }
      });
    });
    const r = await done;
    // Before, stage0 crashed on the EPIPE ("run: write EPIPE", 254) and its watcher killed the pod unrecorded.
    expect(r.status).toBe(141);
    expect(r.stderr).not.toMatch(/EPIPE|^run:/m);
    expect(r.stderr).toContain('write-failed');
    const uuid = onlyPod();
    expect(appStatuses(uuid)).toEqual(['app-busybox=7']);
    expectNothingLeft(uuid);
  });
});

describe('a kill -9 of systemd-nspawn (stage1-systemd)', () => {
  /** A pod of one app that has printed its first line: rkt run, the pod's PID 1 (systemd) and the app's sleep. */
  const startPod = async (): Promise<{ done: Promise<{ status: number | null; stdout: string }>; child: ReturnType<RktEnv['start']>['child']; uuid: string; pid1: number; app: number; nspawn: number }> => {
    const { child, done } = env.start(['run', aci, '--exec=/bin/sh', '--', '-c', 'echo a-start; sleep 1000']);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const { uuid, pid: pid1 } = await env.waitRunning();
    for (let i = 0; i < 200 && !out.includes('a-start'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(out).toBe('a-start\n');
    let app = appProcess(pid1, 'sleep');
    for (let i = 0; i < 100 && app === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      app = appProcess(pid1, 'sleep');
    }
    expect(app).toBeDefined();
    return { done, child, uuid, pid1, app: app as number, nspawn: nspawnOf(uuid) };
  };

  it('ends what is left of the pod: rkt run exits 137 within seconds, no process of the pod stays, gc leaves nothing', async () => {
    const { done, uuid, pid1, app, nspawn } = await startPod();
    const lock = nspawnLockFile(env, uuid);
    expect(existsSync(lock), 'nspawn takes no lock file').toBe(false);
    process.kill(nspawn, 'SIGKILL');
    const killedAt = Date.now();
    const r = await Promise.race([done, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000))]);
    // Before the fix rkt run never returned: the pod's systemd and app ran on under the host's init, holding
    // their stream sockets open.
    expect(r, 'rkt run exited').toBeDefined();
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect(r?.status).toBe(137);
    expect(alive(pid1)).toBe(false);
    expect(alive(app)).toBe(false);
    expect(appStatuses(uuid)).toEqual(['app-busybox=137']);
    expect(env.status(uuid).state).toBe('exited');
    expectNothingLeft(uuid);
    // Such files were left by every nspawn killed so (76 on one test machine), each named after a root gone since.
    expect(existsSync(lock)).toBe(false);
  });

  it('killed together with rkt run, leaves an orphaned pod that gc kills: no process, mount or cgroup remains', async () => {
    const { child, done, uuid, pid1, app, nspawn } = await startPod();
    const lock = nspawnLockFile(env, uuid);
    // Stopped first, so that rkt run cannot end the orphans itself: then nspawn, then rkt run. The watcher
    // finds nspawn gone, and nobody is left to end the pod's systemd, re-parented to the host's init.
    child.kill('SIGSTOP');
    process.kill(nspawn, 'SIGKILL');
    for (let i = 0; i < 100 && alive(nspawn); i++) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await done;
    await env.waitState(uuid, 'exited', 10_000);
    expect(alive(pid1)).toBe(true);
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    for (let i = 0; i < 100 && (alive(pid1) || alive(app)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid1)).toBe(false);
    expect(alive(app)).toBe(false);
    expectNothingLeft(uuid);
    expect(existsSync(lock)).toBe(false);
  });
});

describe('the stage1 boundary of stage1-systemd', () => {
  it('an app killed with its pod (stop --force) records 137, like fly', async () => {
    const child = spawn(rktBin, env.args(['run', aci, '--exec=/bin/sleep', '--', '100']), { stdio: 'ignore' });
    env.children.add(child);
    const { uuid } = await env.waitRunning();
    for (let i = 0; i < 100 && !existsSync(join(env.dataDir, 'pods', 'run', uuid, 'stage1-status', 'busybox.started')); i++) await new Promise((r) => setTimeout(r, 50));
    expect(env.run(['stop', '--force', uuid]).status).toBe(0);
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(status).toBe(137);
    expect(appStatuses(uuid)).toEqual(['app-busybox=137']);
    expectNothingLeft(uuid);
  });

  it("never writes an app's exit file in place: it appears whole, by rename, during the run and at its end", async () => {
    // An exit file written in place (open with truncation, then write) is empty for a moment, which rkt status
    // reads as "no status", and after a power loss may stay so. inotify names every write to the file
    // itself ('change'); one renamed into place shows only its name appearing ('rename').
    const prepared = env.run(['prepare', '--quiet', aci, '--name=quick', '--exec=/bin/true', '---', aci, '--name=slow', '--exec=/bin/sleep', '--', '1']);
    expect(prepared.status).toBe(0);
    const uuid = prepared.stdout.trim();
    const events: string[] = [];
    // The pod directory moves to run/ as the run starts: the watches follow the directories, not their paths.
    const watchers = ['quick', 'slow'].map((app) =>
      watch(join(env.dataDir, 'pods', 'prepared', uuid, 'appsinfo', app), (event, file) => {
        if (file === 'exit') events.push(`${app}: ${event}`);
      }),
    );
    try {
      const r = await env.start(['run-prepared', uuid]).done;
      expect(r.status).toBe(0);
      expect(appStatuses(uuid)).toEqual(['app-quick=0', 'app-slow=0']);
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      for (const w of watchers) w.close();
    }
    // Each is written twice (as the app ends, and again at the pod's end), both times by rename.
    expect(events.filter((e) => !e.endsWith(': rename'))).toEqual([]);
    expect(events.filter((e) => e.startsWith('quick: ')).length).toBeGreaterThanOrEqual(2);
    expectNothingLeft(uuid);
  });
});

/** The parent pid and command name of a live process, from /proc/PID/stat. */
function stat(pid: number): { ppid: number; comm: string; state: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  const [state, ppid] = text.slice(close + 2).split(' ');
  return { ppid: Number(ppid), comm: text.slice(text.indexOf('(') + 1, close), state: state ?? '' };
}

/** The command names of a process's descendants, itself excluded. */
function descendants(root: number): string[] {
  const all = readdirSync('/proc')
    .filter((p) => /^[0-9]+$/.test(p))
    .map((p) => ({ pid: Number(p), s: stat(Number(p)) }));
  const found: string[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const { pid, s } of all) {
      if (s?.ppid !== parent) continue;
      found.push(s.comm);
      queue.push(pid);
    }
  }
  return found;
}

const alive = (pid: number): boolean => {
  const s = stat(pid);
  return s !== undefined && s.state !== 'Z';
};

const nspawnOf = (uuid: string): number => Number(readFileSync(join(env.dataDir, 'pods', 'run', uuid, 'ppid'), 'utf8').trim());

describe('the systemd run entrypoint in rkt run\'s own process', () => {
  it('is how rkt run starts the pod: rkt is nspawn\'s parent and no second node runs in the pod\'s tree', async () => {
    const { child, done } = env.start(['run', '--debug', aci, '--exec=/bin/sleep', '--', '100']);
    const { uuid } = await env.waitRunning();
    const rkt = child.pid as number;
    expect(stat(nspawnOf(uuid))?.ppid).toBe(rkt);
    const tree = descendants(rkt);
    expect(tree).toContain('systemd');
    expect(tree).not.toContain('node');
    expect(env.run(['stop', uuid]).status).toBe(0);
    const r = await done;
    expect(r.status).toBe(143);
    expect(r.stderr).toContain('running the stage1 run module in this process:');
    expect(r.stderr).not.toContain('starting stage1:');
    expectNothingLeft(uuid);
  });

  it('falls back to executing /rkt/run when the module does not load or has an unknown version, and the pod runs', () => {
    const cases = [
      { annotation: 'rkt-ts.dev/stage1/run-module', value: '/rkt/no-such-module', why: /not using the stage1 run module \S+\/rkt\/no-such-module: it does not load: /u },
      // A file that is no CommonJS module: it throws while loading.
      { annotation: 'rkt-ts.dev/stage1/run-module', value: '/etc/os-release', why: /not using the stage1 run module \S+\/etc\/os-release: it does not load: / },
      { annotation: 'rkt-ts.dev/stage1/run-module-version', value: '99', why: /not using the stage1 run module: its rkt-ts\.dev\/stage1\/run-module-version "99" is not supported/ },
    ];
    for (const c of cases) {
      const prepared = env.run(['prepare', '--quiet', aci, '--exec=/bin/sh', '--', '-c', 'echo "pid1 $(cat /proc/1/comm)"; exit 7']);
      expect(prepared.status, prepared.stderr).toBe(0);
      const uuid = prepared.stdout.trim();
      const manifestPath = join(env.dataDir, 'pods', 'prepared', uuid, 'stage1', 'manifest');
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { annotations: Array<{ name: string; value: string }> };
      const annotation = manifest.annotations.find((a) => a.name === c.annotation);
      expect(annotation, `the built stage1 has ${c.annotation}`).toBeDefined();
      (annotation as { value: string }).value = c.value;
      writeFileSync(manifestPath, JSON.stringify(manifest));

      const r = env.run(['run-prepared', '--debug', uuid]);
      // The app ran in the pod (under --debug its output may come interleaved with systemd's on stderr).
      expect(`${r.stdout}${r.stderr}`).toContain('pid1 systemd\n');
      expect(r.status).toBe(7);
      expect(r.stderr).toMatch(c.why);
      expect(r.stderr).toMatch(/starting stage1: \S+\/rkt\/run /);
      expect(r.stderr).not.toContain('running the stage1 run module in this process');
      expectNothingLeft(uuid);
    }
  });

  it('a kill -9 of rkt run ends the pod it ran in its own process, which shows as exited only then, and gc removes it', async () => {
    const { child, done } = env.start(['run', aci, '--exec=/bin/sleep', '--', '100']);
    const { uuid, pid } = await env.waitRunning();
    const nspawn = nspawnOf(uuid);
    expect(stat(nspawn)?.ppid).toBe(child.pid);
    expect(alive(pid)).toBe(true);
    child.kill('SIGKILL');
    expect((await done).status).toBe(null);
    await env.waitState(uuid, 'exited', 10_000);
    // The pod's PID 1 (systemd), and with it its app, were gone before the lock was let go.
    expect(alive(pid)).toBe(false);
    for (let i = 0; i < 100 && alive(nspawn); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(nspawn)).toBe(false);
    // What a killed run leaves (its cgroups, nspawn's propagation directory) is gc's.
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expectNothingLeft(uuid);
  });
});
