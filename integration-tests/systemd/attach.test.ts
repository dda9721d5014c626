// rkt's experimental `rkt attach` and the per-app `--stdin/--stdout/--stderr` modes (RKT_EXPERIMENT_ATTACH=true) on
// real systemd pods, as a user sees them: the modes in the pod manifest, the endpoints listed, input given to a
// running app and its output read back through attach, detaching and attaching again, the attach returning when
// the app ends; each refusal one line, exit 254, nothing changed; nothing left once the pod is collected.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rktBin, RktEnv, STAGE1S, type RktResult } from '../pods/harness.js';
import { expectNothingLeft, systemdPodTests, writePodManifest } from './harness.js';

const pods = systemdPodTests();
let env: RktEnv;
let aci: string;
beforeEach(() => ({ env, aci } = pods));
/** The process groups of the background rkt commands: killed whole (rkt and its entrypoint) after each test. */
const groups = new Set<number>();
afterEach(() => {
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  groups.clear();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * rkt's environment with the attach experiment on (or, with `experiment` false, without it at all), and the
 * app experiment (`rkt app`) when the test runs a sandbox.
 */
function rktEnv(experiment = true, app = false): NodeJS.ProcessEnv {
  const { RKT_EXPERIMENT_ATTACH: _, RKT_EXPERIMENT_APP: __, ...rest } = process.env;
  return { ...rest, ...(experiment ? { RKT_EXPERIMENT_ATTACH: 'true' } : {}), ...(app ? { RKT_EXPERIMENT_APP: 'true' } : {}) };
}

function rkt(args: readonly string[], o: { input?: string; experiment?: boolean; app?: boolean; timeoutMs?: number } = {}): RktResult {
  const r = spawnSync(rktBin, env.args(args), {
    cwd: env.tmp,
    encoding: 'utf8',
    timeout: o.timeoutMs ?? 60_000,
    env: rktEnv(o.experiment, o.app),
    ...(o.input !== undefined ? { input: o.input } : {}),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A process in the background: its output so far, and its result once it has closed. */
type Background = { child: ChildProcess; done: Promise<RktResult>; stdoutSoFar: () => string; stderrSoFar: () => string };

/**
 * Starts `cmd` in the background, in a process group of its own as a shell's job (^C on a terminal signals the
 * whole group; the clean-up kills the group), with rkt's environment, collecting its output as it comes (bytes
 * kept whole: a check of exact bytes sees what was written).
 */
function spawnCollecting(cmd: string, args: readonly string[], stdin: 'ignore' | 'pipe' = 'ignore', app = false): Background {
  const child = spawn(cmd, args, { cwd: env.tmp, env: rktEnv(true, app), stdio: [stdin, 'pipe', 'pipe'], detached: true });
  env.children.add(child);
  groups.add(child.pid!);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => stdout.push(d));
  child.stderr!.on('data', (d: Buffer) => stderr.push(d));
  const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString();
  const done = new Promise<RktResult>((resolve) => child.once('close', (status) => (env.children.delete(child), resolve({ status, stdout: text(stdout), stderr: text(stderr) }))));
  return { child, done, stdoutSoFar: () => text(stdout), stderrSoFar: () => text(stderr) };
}

/** rkt with the experiment on, in the background (killed by the test's clean-up if still there). */
function rktAsync(args: readonly string[], stdin: 'ignore' | 'pipe' = 'ignore'): Background {
  return spawnCollecting(rktBin, env.args(args), stdin);
}

/** A refusal: exit 254 and one line on stderr that says `says`. */
function expectRefused(r: RktResult, says: RegExp): void {
  expect(r.status, r.stderr).toBe(254);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(says);
}

async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) {
    const v = check();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

type Targets = { version: number; targets: Array<{ name: string; domain: string; address: string }> };

/** `rkt attach --mode=list` once the app's endpoints are up (the pod boots after `rkt list` shows it running). */
function listEndpoints(uuid: string, app?: string): Promise<Targets> {
  return waitFor(`the endpoints of pod ${uuid}`, () => {
    const r = rkt(['attach', '--mode=list', ...(app !== undefined ? [`--app=${app}`] : []), uuid]);
    return r.status === 0 ? (JSON.parse(r.stdout) as Targets) : undefined;
  });
}

/** Starts a pod of one busybox app given stream modes and a shell script, in the background; resolves once it runs. */
async function startPod(modes: readonly string[], script: string): Promise<{ uuid: string; done: Promise<RktResult> }> {
  const { done } = rktAsync(['run', aci, ...modes, '--exec=/bin/sh', '--', '-c', script]);
  const { uuid } = await env.waitRunning();
  return { uuid, done };
}

describe('rkt attach (RKT_EXPERIMENT_ATTACH=true), systemd stage1', () => {
  it('is an unknown command, and the stream flags unknown flags, without RKT_EXPERIMENT_ATTACH, as in rkt', () => {
    expectRefused(rkt(['attach', '--mode=list', 'abc'], { experiment: false }), /unknown command "attach" for "rkt"/);
    expectRefused(rkt(['run', aci, '--stdin=stream'], { experiment: false }), /unknown flag: --stdin/);
    expectRefused(rkt(['prepare', aci, '--stdout=stream'], { experiment: false }), /unknown flag: --stdout/);
    expect(rkt(['help'], { experiment: false }).stdout).not.toMatch(/^\tattach\t/m);
    expect(rkt(['help']).stdout).toMatch(/^\tattach\t+Attach to an app running within a rkt pod$/m);
    // No pod was made by any of them.
    expect(env.podUuids()).toEqual([]);
  });

  it("gives a running app its input and reads its output through attach; the attach returns when the app ends", async () => {
    const { uuid, done } = await startPod(['--stdin=stream', '--stdout=stream'], 'read x; echo got $x; echo err >&2');
    // rkt's annotations in the pod manifest, as cat-manifest shows them.
    const manifest = JSON.parse(rkt(['cat-manifest', uuid]).stdout) as { apps: Array<{ annotations?: Array<{ name: string; value: string }> }> };
    expect(manifest.apps[0]!.annotations).toEqual([
      { name: 'coreos.com/rkt/stage2/stdin', value: 'stream' },
      { name: 'coreos.com/rkt/stage2/stdout', value: 'stream' },
    ]);
    const listed = await listEndpoints(uuid);
    expect(listed.version).toBe(1);
    expect(listed.targets.map((t) => [t.name, t.domain])).toEqual([
      ['stdin', 'unix'],
      ['stdout', 'unix'],
    ]);
    for (const t of listed.targets) expect(lstatSync(t.address).isSocket(), t.address).toBe(true);

    const attached = rkt(['attach', '--mode=stdin,stdout', uuid], { input: 'hello\n' });
    expect(attached, attached.stderr).toMatchObject({ status: 0, stdout: 'got hello\n' });
    const ran = await done;
    expect(ran.status, ran.stderr).toBe(0);
    // The app's stdout went to the attach only; its stderr (the default, log) to rkt run's, as before.
    expect(ran.stdout).not.toContain('got hello');
    expect(ran.stderr).toContain('err');
    expectRefused(rkt(['attach', uuid]), /isn't currently running/);
    // The app's attach sockets and endpoints went with it, before any gc.
    const podDir = ['run', 'exited-garbage'].map((s) => join(env.dataDir, 'pods', s, uuid)).find((d) => existsSync(d))!;
    expect(readdirSync(join(podDir, 'stage1-attach'))).toEqual([]);
    expectNothingLeft(env, uuid);
  });

  it('detaches without stopping the app, takes input from one attach after another, and ends its attaches with the app', async () => {
    const { uuid, done } = await startPod(['--stdin=stream', '--stdout=stream', '--stderr=stream'], 'while read x; do echo "got $x"; echo "e $x" >&2; done; echo bye');
    const listed = await listEndpoints(uuid);
    expect(listed.targets.map((t) => t.name)).toEqual(['stdin', 'stdout', 'stderr']);

    // An attach to the output only, detached with ^C: the app runs on.
    const first = rktAsync(['attach', '--mode=stdout', uuid]);
    await sleep(300);
    // Input alone: returns at its end, the app's stdin left open for the next.
    expect(rkt(['attach', '--mode=stdin', uuid], { input: 'one\n' })).toMatchObject({ status: 0, stdout: '' });
    await waitFor('the output of the first input', () => (first.child.exitCode === null && /got one\n/.test(first.stdoutSoFar()) ? true : undefined));
    // ^C as a terminal sends it: to the attach's whole process group (rkt and its stage1 entrypoint).
    process.kill(-first.child.pid!, 'SIGINT');
    expect((await first.done).stdout).toBe('got one\n');
    expect(env.status(uuid).state).toBe('running');

    // Everything attached (auto, the default), in the background: sees only what comes after it.
    const second = rktAsync(['attach', uuid], 'pipe');
    await sleep(300);
    second.child.stdin!.write('two\n');
    await waitFor('the output of the second input', () => (/got two\n/.test(second.stdoutSoFar()) ? true : undefined));
    second.child.stdin!.write('three\n');
    await waitFor('the output of the third input', () => (/got three\n/.test(second.stdoutSoFar()) ? true : undefined));
    // The attach's stdin still open (a terminal's): the app's end (rkt stop) ends the attach all the same.
    await sleep(500);
    expect(env.status(uuid).state).toBe('running');
    expect(env.run(['stop', uuid]).status).toBe(0);
    const r = await second.done;
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('got two\ngot three\n');
    expect(r.stderr).toBe('e two\ne three\n');
    expect((await done).stdout).toBe('');
    expectNothingLeft(env, uuid);
  });

  it('refuses bad modes, unknown apps and missing endpoints in one line, the pod untouched', async () => {
    // Two apps: one with its stdin streamed, one with none of its streams.
    const { done } = rktAsync(['run', aci, '--name=in', '--stdin=stream', '--exec=/bin/sh', '--', '-c', 'read x; echo "got $x"', '---', aci, '--name=plain', '--exec=/bin/sleep', '--', '60']);
    const { uuid } = await env.waitRunning();
    // No waiting for the endpoints: the attach entrypoint waits for them while the pod boots.
    expect(rkt(['attach', '--mode=list', '--app=in', uuid]).status).toBe(0);
    expectRefused(rkt(['attach', '--mode=bogus', '--app=in', uuid]), /--mode=bogus: unknown endpoint "bogus"/);
    expectRefused(rkt(['attach', '--mode=tty,stdin', '--app=in', uuid]), /cannot simultaneously attach TTY and streams/);
    expectRefused(rkt(['attach', uuid]), /contains multiple apps \(in, plain\).*rkt attach --app=/);
    expectRefused(rkt(['attach', '--app=nope', uuid]), /app "nope" is not in pod/);
    expectRefused(rkt(['attach', '--app=plain', uuid]), /app "plain" has no endpoints to attach to \(none of its streams is in stream or tty mode/);
    expectRefused(rkt(['attach', '--mode=stdout', '--app=in', uuid]), /has no stdout endpoint \(its endpoints: stdin\)/);
    expectRefused(rkt(['attach', '--mode=tty', '--app=in', uuid]), /has no tty endpoint/);
    expect(env.status(uuid).state).toBe('running');
    // Still attachable after all that: its output (log, the default) goes to rkt run's.
    expect(rkt(['attach', '--mode=stdin', '--app=in', uuid], { input: 'x\n' }).status).toBe(0);
    await waitFor('the app to end', () => (env.status(uuid).apps.find((a) => a.name === 'in')?.exit_code === 0 ? true : undefined));
    expectRefused(rkt(['attach', '--app=in', uuid]), /app "in" has ended/);
    expect(env.run(['stop', uuid]).status).toBe(0);
    expect((await done).stdout).toBe('got x\n');
    expectNothingLeft(env, uuid);
  });

  it('refuses bad stream flags, and stream modes with fly or --interactive, before any pod is made', () => {
    expectRefused(rkt(['run', aci, '--stdin=log']), /--stdin=log: invalid stdin mode "log"/);
    expectRefused(rkt(['prepare', aci, '--stdout=bogus']), /invalid stdout mode "bogus"/);
    expectRefused(rkt(['run', aci, '--stdin=tty', '--stdout=stream']), /--stdin=tty cannot be combined with --stdout=stream/);
    expectRefused(rkt(['run', '--stdin=stream', aci]), /--stdin must follow an image/);
    expectRefused(rkt(['run', '--interactive', aci, '--stdin=stream']), /--interactive cannot be combined with --stdin/);
    const fly = STAGE1S.find((s) => s.name === 'fly')!;
    expectRefused(rkt(['run', `--stage1-path=${fly.aci}`, aci, '--stdout=stream']), /need a stage1 with an attach entrypoint.*stage1-fly has none/);
    // The same modes from a pod manifest's annotations, of an image in the store.
    expect(rkt(['fetch', aci]).status).toBe(0);
    const app = (value: string) => ({
      name: 'sh',
      image: { name: 'example.com/busybox' },
      app: { exec: ['/bin/true'], user: '0', group: '0' },
      annotations: [{ name: 'coreos.com/rkt/stage2/stdin', value }],
    });
    expectRefused(rkt(['run', `--stage1-path=${fly.aci}`, `--pod-manifest=${writePodManifest(env.tmp, [app('stream')])}`]), /app sh: .*stage1-fly has none/);
    expectRefused(rkt(['run', `--pod-manifest=${writePodManifest(env.tmp, [app('log')])}`]), /pod manifest: app sh: annotation coreos.com\/rkt\/stage2\/stdin="log" is not a stdin mode/);
    expectRefused(rkt(['run', `--stage1-path=${fly.aci}`, aci, '--stdin=tty', '--stdout=tty']), /need a stage1 with an attach entrypoint.*stage1-fly has none/);
    // tty and stream in one app, from a pod manifest: refused as the flags are.
    const mixed = { ...app('tty'), annotations: [...app('tty').annotations, { name: 'coreos.com/rkt/stage2/stdout', value: 'stream' }] };
    expectRefused(rkt(['run', `--pod-manifest=${writePodManifest(env.tmp, [mixed])}`]), /pod manifest: app sh: --stdin=tty cannot be combined with --stdout=stream/);
    expect(env.podUuids()).toEqual([]);
  });

  it('drops the output of --stdout=null, prepared or run; --stdout=log is the output as before', () => {
    const prepared = rkt(['prepare', '--quiet', aci, '--stdout=null', '--exec=/bin/echo', '--', 'hi']);
    expect(prepared.status, prepared.stderr).toBe(0);
    const dropped = rkt(['run-prepared', prepared.stdout.trim()]);
    expect(dropped, dropped.stderr).toMatchObject({ status: 0, stdout: '' });
    expect(rkt(['run', aci, '--stdout=null', '--stderr=null', '--exec=/bin/sh', '--', '-c', 'echo out; echo err >&2'])).toMatchObject({ status: 0, stdout: '', stderr: '' });
    const logged = rkt(['run', aci, '--stdout=log', '--exec=/bin/echo', '--', 'hi']);
    expect(logged, logged.stderr).toMatchObject({ status: 0, stdout: 'hi\n' });
    expect(rkt(['gc', '--grace-period=0s']).status).toBe(0);
    expect(env.mounts()).toEqual([]);
  });

  it("writes no stream annotations for --interactive, as rkt's stage0 wrote none (its stage1 took the terminal from run's flag)", () => {
    const r = rkt(['run', '--interactive', aci, '--exec=/bin/cat'], { input: 'typed\n' });
    expect(r, r.stderr).toMatchObject({ status: 0, stdout: 'typed\n' });
    const [uuid] = env.podUuids();
    const manifest = JSON.parse(rkt(['cat-manifest', uuid!]).stdout) as { apps: Array<{ annotations?: unknown[] }> };
    expect(manifest.apps).toHaveLength(1);
    expect(manifest.apps[0]!.annotations ?? []).toEqual([]);
    expect(rkt(['gc', '--grace-period=0s']).status).toBe(0);
    expect(env.mounts()).toEqual([]);
  });

  it('refuses rkt attach on a fly pod in one line', async () => {
    const fly = STAGE1S.find((s) => s.name === 'fly')!;
    const { done } = rktAsync(['run', `--stage1-path=${fly.aci}`, aci, '--exec=/bin/sleep', '--', '30']);
    const { uuid } = await env.waitRunning();
    expectRefused(rkt(['attach', uuid]), /has no attach entrypoint/);
    expect(env.run(['stop', uuid]).status).toBe(0);
    await done;
    expect(rkt(['gc', '--grace-period=0s']).status).toBe(0);
    expect(existsSync(join(env.dataDir, 'pods', 'run', uuid))).toBe(false);
  });

  it('serves the stream modes of an app added to a running sandbox (rkt app add --stdin=stream --stdout=stream), run after run', async () => {
    const sandbox = spawnCollecting(rktBin, env.args(['app', 'sandbox', `--stage1-path=${env.stage1!.aci}`]), 'ignore', true);
    const { uuid } = await env.waitRunning();
    const app = (args: readonly string[], input?: string) => rkt(args, { app: true, ...(input !== undefined ? { input } : {}) });
    const added = app(['app', 'add', uuid, aci, '--name=talk', '--stdin=stream', '--stdout=stream', '--exec=/bin/sh', '--', '-c', 'echo unheard; while read x; do [ "$x" = quit ] && break; echo "got $x"; done; echo bye']);
    expect(added.status, added.stderr).toBe(0);
    // rkt's annotations, as for `rkt run`'s apps.
    const manifest = JSON.parse(rkt(['cat-manifest', uuid]).stdout) as { apps: Array<{ name: string; annotations?: Array<{ name: string; value: string }> }> };
    expect(manifest.apps.find((a) => a.name === 'talk')!.annotations).toEqual([
      { name: 'coreos.com/rkt/stage2/stdin', value: 'stream' },
      { name: 'coreos.com/rkt/stage2/stdout', value: 'stream' },
    ]);
    // Its endpoints from the add on, before it starts.
    const listed = await listEndpoints(uuid, 'talk');
    expect(listed.targets.map((t) => [t.name, t.domain])).toEqual([
      ['stdin', 'unix'],
      ['stdout', 'unix'],
    ]);
    for (const run of ['one', 'two']) {
      const start = app(['app', 'start', uuid, '--app=talk']);
      expect(start.status, start.stderr).toBe(0);
      // What the app prints with nobody attached is dropped (rkt's iomux); the attach sees the rest, and
      // returns when the app ends.
      const attached = rkt(['attach', '--app=talk', uuid], { input: `${run}\nquit\n` });
      expect(attached, attached.stderr).toMatchObject({ status: 0, stdout: `got ${run}\nbye\n` });
      await waitFor(`run ${run} of the app to end`, () => (env.status(uuid).apps.find((a) => a.name === 'talk')?.exit_code === 0 ? true : undefined));
    }
    expect(env.status(uuid).state).toBe('running');
    // Removed: nothing left to attach to.
    expect(app(['app', 'rm', uuid, '--app=talk']).status).toBe(0);
    expectRefused(rkt(['attach', '--app=talk', uuid]), /app "talk" is not in pod/);
    // (tty mode for an added app: app-tty.test.ts.)
    expect(app(['app', 'list', uuid]).stdout).toBe('NAME\tSTATE\n');
    expect(env.run(['stop', uuid]).status).toBe(0);
    const ended = await sandbox.done;
    expect(ended.status, ended.stderr).toBe(0);
    // The app's output went to its attaches only.
    expect(ended.stdout).not.toMatch(/unheard|got/);
    const podDir = join(env.dataDir, 'pods', existsSync(join(env.dataDir, 'pods', 'run', uuid)) ? 'run' : 'exited-garbage', uuid);
    expect(readdirSync(join(podDir, 'stage1-attach'))).toEqual([]);
    expectNothingLeft(env, uuid);
  }, 120_000);

  describe('tty mode (rkt\'s ttymux)', () => {
    /**
     * A terminal for `rkt attach`, as a user's: a pty from python3, its slave the command's stdin, stdout and
     * stderr, this test's pipe relayed to its master and the master to stdout, 30 rows of 100 columns (40 of 120
     * after a SIGUSR1). It says on stderr `raw` once the terminal no longer echoes (the attach made it raw) and,
     * after the command, whether its echo is back.
     */
    const RELAY = [
      'import fcntl, os, pty, select, signal, struct, sys, termios',
      'size = lambda f, rows, cols: fcntl.ioctl(f, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))',
      'pid, fd = pty.fork()',
      'if pid == 0:',
      '    size(0, 30, 100)',
      '    os.execvp(sys.argv[1], sys.argv[1:])',
      // SIGUSR1: the terminal resized, as a user's window.
      'signal.signal(signal.SIGUSR1, lambda *_: size(fd, 40, 120))',
      'echo = lambda: bool(termios.tcgetattr(fd)[3] & termios.ECHO)',
      'told, stdin_open = False, True',
      'while True:',
      '    if not told and not echo():',
      '        sys.stderr.write("raw\\n"); sys.stderr.flush(); told = True',
      '    r = select.select([fd] + ([0] if stdin_open else []), [], [], 0.05)[0]',
      '    if fd in r:',
      '        try:',
      '            data = os.read(fd, 4096)',
      '        except OSError:',
      '            data = b""',
      '        if not data:',
      '            break',
      '        os.write(1, data)',
      '    if 0 in r:',
      '        data = os.read(0, 4096)',
      '        if data:',
      '            os.write(fd, data)',
      '        else:',
      '            stdin_open = False',
      'status = os.waitpid(pid, 0)[1]',
      'sys.stderr.write("echo-restored\\n" if echo() else "echo-off\\n")',
      'sys.exit(os.waitstatus_to_exitcode(status))',
      '',
    ].join('\n');

    function attachOnTerminal(args: readonly string[]): Background {
      const relay = join(env.tmp, 'pty-relay.py');
      writeFileSync(relay, RELAY);
      return spawnCollecting('python3', [relay, rktBin, ...env.args(args)], 'pipe');
    }

    it('gives the app a terminal of its own; attach relays a terminal to it both ways and returns when the app ends', async () => {
      const script = [
        'read x',
        'test -t 0 && echo stdin-is-a-terminal',
        'test -t 1 && echo stdout-is-a-terminal',
        'tty',
        // The attach's terminal's size, then each change of it.
        'stty size',
        "trap 'stty size' WINCH",
        'echo "got $x"',
        'echo "on stderr" >&2',
        // ^C from the attach's terminal reaches the app as its terminal's SIGINT.
        "trap 'echo caught-int; exit 7' INT",
        'while :; do sleep 0.1; done',
      ].join('; ');
      const { uuid, done } = await startPod(['--stdin=tty', '--stdout=tty', '--stderr=tty'], script);
      const manifest = JSON.parse(rkt(['cat-manifest', uuid]).stdout) as { apps: Array<{ annotations?: Array<{ name: string; value: string }> }> };
      expect(manifest.apps[0]!.annotations?.map((a) => a.value)).toEqual(['tty', 'tty', 'tty']);
      const listed = await listEndpoints(uuid);
      expect(listed.targets.map((t) => [t.name, t.domain])).toEqual([['tty', 'unix']]);
      expect(lstatSync(listed.targets[0]!.address).isSocket()).toBe(true);
      // A tty app has no stream endpoints.
      expectRefused(rkt(['attach', '--mode=stdin,stdout', uuid]), /has no stdin, stdout endpoint \(its endpoints: tty\)/);

      // A second attach that only watches (no terminal of its own): the same output, from when it attached.
      const watcher = rktAsync(['attach', '--mode=tty-out', uuid]);
      const attach = attachOnTerminal(['attach', '--mode=tty', uuid]);
      // Typed once the attach made its terminal raw: not echoed there, but by the app's.
      await waitFor('the attach to make its terminal raw', () => (attach.stderrSoFar() === 'raw\n' ? true : undefined));
      attach.child.stdin!.write('hello\r');
      // The app's terminal echoes the line (its own line discipline: the attach's terminal is raw), then the app answers.
      await waitFor('the app to answer', () => (/got hello/.test(attach.stdoutSoFar()) ? true : undefined));
      process.kill(attach.child.pid!, 'SIGUSR1');
      await waitFor('the app to see its terminal resized', () => (/40 120/.test(attach.stdoutSoFar()) ? true : undefined));
      attach.child.stdin!.write('\x03');
      const r = await attach.done;
      expect(r.status, r.stdout + r.stderr).toBe(0);
      // The terminal as it was before the attach.
      expect(r.stderr).toBe('raw\necho-restored\n');
      // The exact bytes the app's terminal gave, through a terminal made raw as cfmakeraw makes one: each line
      // ends `\r\n` as the app's terminal ends it (a terminal left to post-process its output made it `\r\r\n`).
      // The typed line echoed once, by the app's terminal; its answers; the new size after the resize; ^C echoed
      // by the app's terminal as it signals the app.
      expect(JSON.stringify(r.stdout)).toBe(
        JSON.stringify('hello\r\nstdin-is-a-terminal\r\nstdout-is-a-terminal\r\n/rkt/tty/busybox\r\n30 100\r\ngot hello\r\non stderr\r\n40 120\r\n^Ccaught-int\r\n'),
      );
      const lines = r.stdout.split(/\r?\n/).map((l) => l.replace(/\r/g, ''));
      // Echoed once, by the app's terminal (the attach's is raw).
      expect(lines.filter((l) => l === 'hello')).toHaveLength(1);
      // The terminal's path in the app, as tty(1) finds it (rkt's was under /rkt/iottymux).
      expect(lines, r.stdout).toContain('/rkt/tty/busybox');
      expect(lines).toContain('stdin-is-a-terminal');
      expect(lines).toContain('stdout-is-a-terminal');
      expect(lines).toContain('got hello');
      expect(lines.indexOf('30 100'), r.stdout).toBeGreaterThan(-1);
      expect(lines.indexOf('30 100')).toBeLessThan(lines.indexOf('got hello'));
      expect(lines).toContain('on stderr');
      expect(lines.some((l) => l.endsWith('caught-int')), r.stdout).toBe(true);
      const watched = await watcher.done;
      expect(watched.status, watched.stderr).toBe(0);
      expect(watched.stdout).toMatch(/got hello\r\n[^]*caught-int/);
      const ran = await done;
      expect(ran.status).toBe(7);
      // Nothing of it went to rkt run's own output.
      expect(ran.stdout).not.toContain('got hello');
      const podDir = ['run', 'exited-garbage'].map((d) => join(env.dataDir, 'pods', d, uuid)).find((d) => existsSync(d))!;
      expect(readdirSync(join(podDir, 'stage1-attach'))).toEqual([]);
      expectNothingLeft(env, uuid);
    });

    it('gives a terminal to an app of a pod in its own user namespace (--private-users): the pty is its root\'s', async () => {
      const script = 'read x; echo "got $x as $(id -u)"; tty; test -t 0 && echo stdin-is-a-terminal';
      const { done } = rktAsync(['run', '--private-users', aci, '--stdin=tty', '--stdout=tty', '--stderr=tty', '--exec=/bin/sh', '--', '-c', script]);
      const { uuid } = await env.waitRunning();
      const attach = attachOnTerminal(['attach', '--mode=tty', uuid]);
      await waitFor('the attach to make its terminal raw', () => (attach.stderrSoFar() === 'raw\n' ? true : undefined));
      attach.child.stdin!.write('hello\r');
      const r = await attach.done;
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stderr).toBe('raw\necho-restored\n');
      // The pod's root (0 in its namespace) read the line from its own terminal, which the app's unit opened.
      expect(JSON.stringify(r.stdout)).toBe(JSON.stringify('hello\r\ngot hello as 0\r\n/rkt/tty/busybox\r\nstdin-is-a-terminal\r\n'));
      const ran = await done;
      expect(ran.status, ran.stderr).toBe(0);
      expectNothingLeft(env, uuid);
    });
  });
});
