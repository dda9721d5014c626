// rkt 1.30's flags on the commands other than run, prepare and export, through bin/rkt as a user runs them:
// --uuid-file on rm, stop and cat-manifest (the file `rkt run --uuid-file-save` writes), status's
// --wait/--wait-ready timeouts and a pod removed while they wait, a bare --net, fetch's per-image --signature
// and its deprecated store flags, `rkt image fetch`, trust's --insecure-allow-http, and `rkt completion bash`
// sourced into a real bash.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, watch, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeAci, makeKey, sign, type TestKey } from '../../packages/fetcher/test/helpers.js';
import { buildBusyboxAci, ensureBuilt, rktBin, RktEnv, STAGE1S } from '../pods/harness.js';

const fly = STAGE1S.find((s) => s.name === 'fly')!;
let env: RktEnv;
let server: Server | undefined;
let key: TestKey;

beforeAll(async () => {
  ensureBuilt();
  key = await makeKey('App Signer');
}, 600_000);

afterEach(async () => {
  try {
    if (server !== undefined) await new Promise((r) => server!.close(r));
  } finally {
    server = undefined;
    await env.cleanup();
  }
});

/** bin/rkt with the test's data directory and none of the harness's defaults (no --insecure-options=image). */
function rkt(args: readonly string[], o: { input?: string } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(rktBin, [`--dir=${env.dataDir}`, `--local-config=${join(env.tmp, 'etc')}`, ...args], { cwd: env.tmp, encoding: 'utf8', timeout: 60_000, ...o });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One line on stderr and 254, nothing on stdout. */
function expectOneLine(r: { status: number | null; stdout: string; stderr: string }, line: string | RegExp): void {
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  if (typeof line === 'string') expect(r.stderr).toBe(`${line}\n`);
  else expect(r.stderr).toMatch(line);
  expect(r.stdout).toBe('');
  expect(r.status).toBe(254);
}

describe('--uuid-file (rm, stop, cat-manifest)', () => {
  it('a pod run with --uuid-file-save is shown, stopped and removed through the file; status waits for it with timeouts', async () => {
    env = new RktEnv(fly);
    const aci = await buildBusyboxAci(env.tmp);
    const file = join(env.tmp, 'pod.uuid');
    env.start(['run', `--uuid-file-save=${file}`, aci, '--exec=/bin/sleep', '--', '60']);
    const { uuid } = await env.waitRunning();

    const manifest = env.run(['cat-manifest', '--uuid-file=pod.uuid']);
    expect(manifest.status, manifest.stderr).toBe(0);
    expect((JSON.parse(manifest.stdout) as { apps: { app: { exec: string[] } }[] }).apps[0]?.app.exec).toEqual(['/bin/sleep', '60']);
    expect(env.run(['cat-manifest', '--pretty-print=false', `--uuid-file=${file}`]).stdout).toBe(`${JSON.stringify(JSON.parse(manifest.stdout))}\n`);

    // status: a timeout that passes is one line and 254; ready at once; --wait=false does not wait.
    expect(env.run(['status', '--wait-ready=10s', uuid])).toMatchObject({ status: 0, stdout: expect.stringMatching(/^state=running\n/) });
    expectOneLine(env.run(['status', '--wait=300ms', uuid]), `status: pod ${uuid} (running) did not finish within 300ms`);
    expect(env.run(['status', '--wait=false', uuid])).toMatchObject({ status: 0, stdout: expect.stringMatching(/^state=running\n/) });
    expectOneLine(env.run(['status', '--wait=soon', uuid]), 'status: invalid value "soon" for --wait: expected true, false or a duration such as 30s or 2m (run "rkt help status" for usage)');

    // rm of a running pod through the file: refused, the pod untouched.
    const notYet = env.run(['rm', `--uuid-file=${file}`]);
    expect(notYet.status).toBe(254);
    expect(env.status(uuid).state).toBe('running');

    const stopped = env.run(['stop', `--uuid-file=${file}`]);
    expect(stopped, stopped.stderr).toMatchObject({ status: 0, stdout: `"${uuid}"\n` });
    const waited = env.run(['status', '--wait=20s', uuid]);
    expect(waited.status, waited.stderr).toBe(0);
    expect(waited.stdout).toMatch(/^state=exited\n/);

    const removed = env.run(['rm', `--uuid-file=${file}`]);
    expect(removed, removed.stderr).toMatchObject({ status: 0, stdout: `"${uuid}"\n` });
    expect(env.podUuids()).toEqual([]);
  });

  it('a missing, empty or malformed file, or a file and a UUID together, is one line naming --uuid-file and 254; the pod stays', async () => {
    env = new RktEnv(fly);
    const aci = await buildBusyboxAci(env.tmp);
    const prepared = env.run(['prepare', '--quiet', `--uuid-file-save=${join(env.tmp, 'good')}`, aci]);
    expect(prepared.status, prepared.stderr).toBe(0);
    const uuid = prepared.stdout.trim();
    writeFileSync(join(env.tmp, 'empty'), ' \n');
    writeFileSync(join(env.tmp, 'bad'), 'not-a-uuid\n');
    mkdirSync(join(env.tmp, 'dir'));
    for (const cmd of ['rm', 'stop', 'cat-manifest']) {
      expectOneLine(env.run([cmd, '--uuid-file=missing']), `${cmd}: --uuid-file=missing: cannot read the pod UUID: no such file`);
      expectOneLine(env.run([cmd, '--uuid-file=dir']), `${cmd}: --uuid-file=dir: cannot read the pod UUID: is a directory`);
      expectOneLine(env.run([cmd, '--uuid-file=empty']), `${cmd}: --uuid-file=empty: the file is empty`);
      expectOneLine(env.run([cmd, '--uuid-file=bad']), `${cmd}: --uuid-file=bad: "not-a-uuid" is not a pod UUID`);
      expectOneLine(env.run([cmd, '--uuid-file=good', uuid]), `${cmd}: --uuid-file=good and a UUID argument (${JSON.stringify(uuid)}) are mutually exclusive`);
    }
    expectOneLine(env.run(['rm']), 'rm: needs a pod UUID or --uuid-file=FILE (run "rkt help rm" for usage)');
    expect(env.status(uuid).state).toBe('prepared');
    // The file rkt's --uuid-file-save wrote (no newline) is read back; a trailing newline is as good.
    expect(env.run(['cat-manifest', '--uuid-file=good']).status).toBe(0);
  });

  it('--uuid-file-save appears whole (a rename, never a write in place), replaces an old file whole, and sweeps a killed writer\'s temp', async () => {
    env = new RktEnv(fly);
    const aci = await buildBusyboxAci(env.tmp);
    const dir = join(env.tmp, 'saved');
    mkdirSync(dir);
    // A temp a --uuid-file-save killed part way left (its writer's pid runs nothing: pid_max is below it).
    const dead = '.pod.uuid.4194305.12345.0123456789ab.tmp';
    writeFileSync(join(dir, dead), '');
    const events: string[] = [];
    const watcher = watch(dir, (event, file) => {
      if (file === 'pod.uuid') events.push(event);
    });
    try {
      const first = env.run(['prepare', '--quiet', `--uuid-file-save=${join(dir, 'pod.uuid')}`, aci]);
      expect(first.status, first.stderr).toBe(0);
      expect(readFileSync(join(dir, 'pod.uuid'), 'utf8')).toBe(first.stdout.trim());
      // A file there from an earlier pod: a script reading it meanwhile sees the old UUID or the new one.
      const second = env.run(['prepare', '--quiet', `--uuid-file-save=${join(dir, 'pod.uuid')}`, aci]);
      expect(second.status, second.stderr).toBe(0);
      expect(readFileSync(join(dir, 'pod.uuid'), 'utf8')).toBe(second.stdout.trim());
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      watcher.close();
    }
    // Written in place, the file was empty between its creation (or truncation) and the write: 'change' events.
    expect(events).toEqual(['rename', 'rename']);
    expect(readdirSync(dir)).toEqual(['pod.uuid']);
  });
});

/** Resolves once `child` has written `text` on stderr; fails after 20 s. */
function stderrShows(child: ChildProcess, text: string): Promise<void> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`never printed ${JSON.stringify(text)}; stderr: ${seen}`)), 20_000);
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** How many times the main thread of process `pid` has gone to sleep and been woken (voluntary_ctxt_switches). */
function wakeups(pid: number): number {
  return Number(/^voluntary_ctxt_switches:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** Processes other than the pod's own with the pod's directory open: a `status --wait`'s lock waiter. */
function lockWaiters(uuid: string): string[] {
  return readdirSync('/proc').filter((pid) => {
    if (!/^\d+$/.test(pid)) return false;
    try {
      return readlinkSync(`/proc/${pid}/fd/3`).endsWith(`/pods/run/${uuid}`) && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'flock';
    } catch {
      return false;
    }
  });
}

describe('status --wait of a running pod', () => {
  it("returns once the pod has exited, with its state and the app's exit code, and sleeps on the pod's lock meanwhile", async () => {
    env = new RktEnv(fly);
    env.seedStage1();
    const aci = await buildBusyboxAci(env.tmp);
    // The app ends when the test says so (a file in a host volume), not after a time a loaded machine may
    // spend before the waiter is even watched.
    const gate = join(env.tmp, 'gate');
    mkdirSync(gate);
    const running = env.start(['run', `--volume=gate,kind=host,source=${gate}`, aci, '--mount=volume=gate,target=/gate', '--exec=/bin/sh', '--', '-c', 'while [ ! -e /gate/go ]; do sleep 0.05; done; exit 3']);
    const { uuid } = await env.waitRunning();
    const exitedAt = running.done.then((r) => ({ ...r, at: Date.now() }));
    const waiting = env.start(['--debug', 'status', '--wait=10s', uuid]);
    const returnedAt = waiting.done.then((r) => ({ ...r, at: Date.now() }));
    await stderrShows(waiting.child, `status: waiting for pod ${uuid} to finish\n`);
    // A second of the wait: polled (a look every 50 ms), the waiter woke 20 times here; asleep on the pod's
    // lock, once (the 1 s timer of the reaper of its lock waiter).
    await new Promise((r) => setTimeout(r, 150));
    const before = wakeups(waiting.child.pid!);
    await new Promise((r) => setTimeout(r, 1000));
    const woken = wakeups(waiting.child.pid!) - before;
    writeFileSync(join(gate, 'go'), '');
    const [ran, r] = await Promise.all([exitedAt, returnedAt]);
    expect(ran.status, ran.stderr).toBe(3);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^state=exited\n/);
    expect(r.stdout).toContain('\nexited=true\n');
    expect(r.stdout).toMatch(/\napp-busybox=3\n$/);
    expect(woken, `woken ${woken} times in 1 s`).toBeLessThan(8);
    // Not a timing test (a loaded machine may delay either process): only that the wait ends with the pod.
    expect(r.at - ran.at).toBeLessThan(2000);
  });

  it('that does not finish within the timeout is one line and 254, and leaves no process behind', async () => {
    env = new RktEnv(fly);
    env.seedStage1();
    const aci = await buildBusyboxAci(env.tmp);
    env.start(['run', aci, '--exec=/bin/sleep', '--', '60']);
    const { uuid } = await env.waitRunning();
    const started = Date.now();
    expectOneLine(env.run(['status', '--wait=500ms', uuid]), `status: pod ${uuid} (running) did not finish within 500ms`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    // Its lock waiter went with it; and with a waiter killed meanwhile (no timeout: it would wait for ever).
    expect(lockWaiters(uuid)).toEqual([]);
    const waiting = env.start(['--debug', 'status', '--wait', uuid]);
    await stderrShows(waiting.child, `status: waiting for pod ${uuid} to finish\n`);
    await new Promise((r) => setTimeout(r, 200));
    expect(lockWaiters(uuid)).toHaveLength(1);
    waiting.child.kill('SIGKILL');
    await waiting.done;
    await new Promise((r) => setTimeout(r, 100));
    expect(lockWaiters(uuid)).toEqual([]);
    expect(env.status(uuid).state).toBe('running');
    expect(env.run(['stop', uuid]).status).toBe(0);
  });
});

describe('status --wait and --wait-ready of a pod removed while waiting', () => {
  it('is one line naming the pod and that it was removed while waiting, 254, not "no pod matches"', async () => {
    env = new RktEnv(fly);
    const aci = await buildBusyboxAci(env.tmp);
    for (const [flag, goal] of [['--wait', 'to finish'], ['--wait-ready', 'to be ready']] as const) {
      const prepared = env.run(['prepare', '--quiet', aci]);
      expect(prepared.status, prepared.stderr).toBe(0);
      const uuid = prepared.stdout.trim();
      // --debug says when the wait has begun. Stopped from then until the rm has finished, the waiter's next
      // look finds the pod gone, never in the garbage or deleting states the rm passes through (which end a
      // wait as rkt's did: the pod is finished).
      const waiting = env.start(['--debug', 'status', flag, uuid]);
      await stderrShows(waiting.child, `status: waiting for pod ${uuid} ${goal}\n`);
      process.kill(waiting.child.pid!, 'SIGSTOP');
      try {
        expect(env.run(['rm', uuid])).toMatchObject({ status: 0, stdout: `"${uuid}"\n` });
      } finally {
        process.kill(waiting.child.pid!, 'SIGCONT');
      }
      const r = await waiting.done;
      expect(r.status, r.stderr).toBe(254);
      expect(r.stdout).toBe('');
      // The line, then (under --debug) its chain of causes.
      const lines = r.stderr.split('\n');
      expect(lines[lines.indexOf(`status: waiting for pod ${uuid} ${goal}`) + 1], r.stderr).toBe(`status: pod ${uuid} was removed while waiting for it ${goal}`);
    }
  });
});

describe('--net without a value', () => {
  it("is rkt's --net=default (refused by fly as that is), not a flag that takes the UUID as its value", async () => {
    env = new RktEnv(fly);
    const aci = await buildBusyboxAci(env.tmp);
    const uuid = env.run(['prepare', '--quiet', aci]).stdout.trim();
    expectOneLine(
      env.run(['run-prepared', '--net', uuid]),
      'run-prepared: --net=default: stage1 coreos.com/rkt/stage1-fly cannot set up CNI networks (its image has no rkt-ts.dev/stage1/cni-networks annotation of version 1); use the systemd stage1',
    );
    expect(env.status(uuid).state).toBe('prepared');
  });
});

describe('rkt fetch --signature, --store-only, --no-store; rkt image fetch', () => {
  async function signedAci(): Promise<{ aci: string; sig: string }> {
    const body = await makeAci(env.tmp, { name: 'example.com/app', labels: [{ name: 'version', value: '1.0' }] }, { 'bin/app': 'app\n' });
    const aci = join(env.tmp, 'app.aci');
    writeFileSync(aci, body);
    mkdirSync(join(env.tmp, 'sigs'));
    const sig = join(env.tmp, 'sigs', 'the-signature');
    writeFileSync(sig, await sign(key, body));
    const keyFile = join(env.tmp, 'key.asc');
    writeFileSync(keyFile, key.publicArmored);
    const trusted = rkt(['trust', '--prefix=example.com/app', '--skip-fingerprint-review', keyFile]);
    expect(trusted.status, trusted.stderr).toBe(0);
    return { aci, sig };
  }

  it('verifies the image before it with the signature file given, as rkt fetch IMAGE --signature=FILE', async () => {
    env = new RktEnv();
    const { aci, sig } = await signedAci();
    // Without it, FILE.aci.asc is looked for and there is none.
    const unsigned = rkt(['fetch', aci]);
    expect(unsigned.status).toBe(254);
    expect(unsigned.stdout).toBe('');
    const fetched = rkt(['fetch', aci, '--signature=sigs/the-signature']);
    expect(fetched.status, fetched.stderr).toBe(0);
    expect(fetched.stdout).toMatch(/^sha512-[0-9a-f]{12}\n$/);
    expect(fetched.stderr).toContain('signature verified:');
    // rkt's hidden `rkt image fetch` is the same command.
    expect(rkt(['image', 'fetch', '--full', aci, `--signature=${sig}`])).toMatchObject({ status: 0, stdout: expect.stringMatching(/^sha512-[0-9a-f]{128}\n$/) });
  });

  it('a --signature before any image, twice for one, or for an image ID is one line and 254, nothing fetched', async () => {
    env = new RktEnv();
    const { aci, sig } = await signedAci();
    expectOneLine(rkt(['fetch', `--signature=${sig}`, aci]), `fetch: --signature=${sig}: --signature must follow an image`);
    expectOneLine(rkt(['fetch', aci, `--signature=${sig}`, `--signature=${sig}`]), `fetch: --signature=${sig}: --signature specified multiple times for the same image (${aci})`);
    // A URL or a name takes one (fetch-cli.test.ts); an image ID names an image stored already.
    const id = `sha512-${'0'.repeat(64)}`;
    expectOneLine(rkt(['fetch', id, `--signature=${sig}`]), `fetch: ${id}: a signature file (${sig}) is for an image to fetch, not an image ID (a stored image was verified when it was fetched)`);
    expectOneLine(rkt(['fetch', aci, '--signature=nowhere.asc']), `fetch: --signature=nowhere.asc: no such file (${join(env.tmp, 'nowhere.asc')})`);
    expect(rkt(['image', 'list', '--no-legend']).stdout).toBe('');
  });

  it('with --insecure-options=image a --signature FILE is not opened, missing or not, by fetch, run or prepare alike (rkt skipped the check)', async () => {
    env = new RktEnv();
    const { aci } = await signedAci();
    const fetched = rkt(['--insecure-options=image', 'fetch', aci, '--signature=nowhere.asc']);
    expect(fetched.stderr).toBe('warning: image signature verification has been disabled (--insecure-options=image)\n');
    expect(fetched.stdout).toMatch(/^sha512-[0-9a-f]{12}\n$/);
    expect(fetched.status).toBe(0);
    const busybox = await buildBusyboxAci(env.tmp);
    const stage1 = `--stage1-path=${fly.aci}`;
    const prepared = rkt(['--insecure-options=image', 'prepare', '--quiet', stage1, busybox, '--signature=nowhere.asc']);
    expect(prepared.stderr).toBe('');
    expect(prepared.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    expect(prepared.status).toBe(0);
    const ran = rkt(['--insecure-options=image', 'run', stage1, busybox, '--signature=nowhere.asc', '--exec=/bin/echo', '--', 'ran']);
    expect(ran.stderr).toBe('');
    expect(ran.stdout).toBe('ran\n');
    expect(ran.status).toBe(0);
    // Without it the signature is looked for, by each of them, before anything is fetched, and refused in the
    // same words: the flag as given, and the path it was taken for.
    for (const cmd of ['fetch', 'run', 'prepare']) {
      expectOneLine(rkt([cmd, aci, '--signature=nowhere.asc']), `${cmd}: --signature=nowhere.asc: no such file (${join(env.tmp, 'nowhere.asc')})`);
      expectOneLine(rkt([cmd, aci, `--signature=${env.tmp}`]), `${cmd}: --signature=${env.tmp}: not a file`);
    }
  });

  it("--store-only and --no-store are rkt's deprecated --pull-policy=never and update: obeyed, with cobra's line", async () => {
    env = new RktEnv();
    const never = rkt(['fetch', '--store-only', 'example.com/absent:1.0']);
    expect(never.status).toBe(254);
    const lines = never.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('Flag --store-only has been deprecated, please use --pull-policy=never');
    // pull policy never: the store only, no discovery.
    expect(lines[1]).toMatch(/^fetch: .*example\.com\/absent.*/);
    expect(lines).toHaveLength(2);
    expectOneLine(rkt(['fetch', '--store-only', '--no-store', 'example.com/absent:1.0']), 'fetch: both --store-only and --no-store specified');
    expect(rkt(['fetch', '--help']).stdout).not.toContain('store-only');
  });
});

describe('rkt rm of a pod in each state', () => {
  it("says on stderr what rkt 1.30's rm said: a prepared pod and a failed prepare are moved to garbage, an exited, exited garbage or garbage pod silently", async () => {
    env = new RktEnv(fly);
    const aci = await buildBusyboxAci(env.tmp);
    const prepare = () => env.run(['prepare', '--quiet', aci, '--exec=/bin/true']).stdout.trim();
    const run = () => {
      const file = join(env.tmp, `uuid-${Math.random()}`);
      const r = env.run(['run', `--uuid-file-save=${file}`, aci, '--exec=/bin/true']);
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(file, 'utf8').trim();
    };
    const garbage = prepare();
    expect(env.run(['gc', '--mark-only', '--expire-prepared=0s']).status).toBe(0);
    const exitedGarbage = run();
    expect(env.run(['gc', '--mark-only']).status).toBe(0);
    const prepared = prepare();
    const failed = prepare();
    // What a prepare killed midway leaves: its directory in prepare/, unlocked.
    renameSync(join(env.dataDir, 'pods', 'prepared', failed), join(env.dataDir, 'pods', 'prepare', failed));
    const exited = run();
    const pods = { prepared, 'aborted prepare': failed, exited, 'exited garbage': exitedGarbage, garbage };
    for (const [state, uuid] of Object.entries(pods)) expect(env.status(uuid).state, uuid).toBe(state);
    for (const [state, uuid] of Object.entries(pods)) {
      const r = env.run(['rm', uuid]);
      const said = state === 'prepared' ? `rm: moving expired prepared pod "${uuid}" to garbage\n` : state === 'aborted prepare' ? `rm: moving failed prepare "${uuid}" to garbage\n` : '';
      expect({ stderr: r.stderr, stdout: r.stdout, status: r.status }, state).toEqual({ stderr: said, stdout: `"${uuid}"\n`, status: 0 });
    }
    expect(JSON.parse(env.run(['list', '--format=json']).stdout)).toEqual([]);
  });
});

describe('rkt trust --insecure-allow-http', () => {
  it('fetches a key over plain http only with the flag, and says so', async () => {
    env = new RktEnv();
    server = createServer((_req, res) => res.end(key.publicArmored));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/key.asc`;
    // In a child process that does not block this one, whose server answers meanwhile.
    const trust = (flags: readonly string[]) => {
      const child = spawn(rktBin, [`--dir=${env.dataDir}`, `--local-config=${join(env.tmp, 'etc')}`, 'trust', '--prefix=example.com/app', '--skip-fingerprint-review', ...flags, url], { cwd: env.tmp });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
    };
    const refused = await trust([]);
    expect(refused.status).toBe(254);
    expect(refused.stderr).toMatch(/plain http is not allowed/);
    const trusted = await trust(['--insecure-allow-http']);
    expect(trusted.status, trusted.stderr).toBe(0);
    expect(trusted.stderr).toContain(`warning: ${url}: fetching a key over plain http (--insecure-allow-http)`);
    expect(trusted.stdout).toBe(`Added key for prefix "example.com/app" at "${join(env.tmp, 'etc', 'trustedkeys/prefix.d/example.com/app', key.fingerprint)}"\n`);
  });
});

describe('rkt completion bash', () => {
  /** Sources the script in a real bash and completes each line (its last word being the one under the cursor). */
  function complete(lines: readonly (readonly string[])[]): { registered: string; words: string[][] } {
    const script = rkt(['completion', 'bash']);
    expect(script.status, script.stderr).toBe(0);
    const file = join(env.tmp, 'rkt.bash');
    writeFileSync(file, script.stdout);
    const calls = lines.map((l) => `COMP_WORDS=(${l.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${l.length - 1}; COMPREPLY=(); _rkt; echo "\${COMPREPLY[*]}"`);
    // bin/rkt first on PATH: the script asks `rkt` for pods and images.
    const { NODE_EXTRA_CA_CERTS: _, ...parent } = process.env;
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', `source ${file} && complete -p rkt && ${calls.join(' && ')}`], {
      encoding: 'utf8',
      env: { ...parent, PATH: `${join(rktBin, '..')}:${parent.PATH ?? ''}` },
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    const [registered = '', ...words] = r.stdout.trimEnd().split('\n');
    return { registered, words: words.map((w) => (w === '' ? [] : w.split(' '))) };
  }

  it("registers _rkt for rkt and offers the commands, subcommands and flags of rkt's own table, and the pods", async () => {
    env = new RktEnv(fly);
    const aci = await buildBusyboxAci(env.tmp);
    const uuid = env.run(['prepare', '--quiet', aci]).stdout.trim();
    const imageHelp = rkt(['image', '--help']).stdout;
    const listed = imageHelp.slice(imageHelp.indexOf('COMMANDS:')).split('\n\n')[0] ?? '';
    const imageSubs = listed.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[0] ?? '');
    const { registered, words } = complete([
      ['rkt', 'im'],
      ['rkt', 'image', ''],
      ['rkt', `--dir=${env.dataDir}`, 'image', 'ex'],
      ['rkt', 'status', '--w'],
      ['rkt', 'rm', '--'],
      ['rkt', 'comp'],
      ['rkt', '--dir', env.dataDir, 'status', ''],
    ]);
    expect(registered).toBe('complete -o default -F _rkt rkt');
    expect(words[0]).toEqual(['image']);
    expect(words[1]).toEqual(imageSubs);
    expect(imageSubs).toEqual(expect.arrayContaining(['list', 'rm', 'render', 'extract', 'cat-manifest']));
    expect(words[2]).toEqual(['export', 'extract']);
    expect(words[3]).toEqual(['--wait', '--wait-ready']);
    expect(words[4]).toEqual(expect.arrayContaining(['--uuid-file=', '--dir=', '--help']));
    expect(words[5]).toEqual(['completion']);
    expect(words[6]).toEqual([uuid]);
  });

  it("any shell but bash is one line and 254, as rkt's \"shell is not supported\"", () => {
    env = new RktEnv();
    expectOneLine(rkt(['completion', 'zsh']), "completion: 'zsh' shell is not supported (only bash)");
  });
});

describe("rkt 1.30's api-service and help texts", () => {
  it("api-service is listed as rkt listed it, with rkt's --listen and its default; extra arguments are one line and 254", () => {
    env = new RktEnv();
    expect(rkt(['--help']).stdout).toMatch(/\n\tapi-service\t+Run API service \(experimental, DO NOT USE IT\)\n/);
    const help = rkt(['api-service', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--listen="localhost:15441"\t+address to listen on client API requests/);
    expectOneLine(rkt(['api-service', 'extra']), /^api-service: /);
  });

  it("gc --mark-only and image list's --fields and --sort say what rkt's said", () => {
    env = new RktEnv();
    expect(rkt(['gc', '--help']).stdout).toContain('if set to true, then the exited/aborted pods will be moved to the garbage directories without actually deleting them, this is useful for marking the exit time of a pod');
    const list = rkt(['image', 'list', '--help']).stdout;
    expect(list).toContain('comma-separated list of fields to display. Accepted values:');
    expect(list).toContain('sort the output according to the provided comma-separated list of fields. Accepted values:');
  });

  it("lays out the global options as rkt 1.29's `rkt --help` printed them (pflag's FlagUsages, tab-aligned)", () => {
    env = new RktEnv();
    const out = rkt(['--help']).stdout;
    const options = out.slice(out.indexOf('GLOBAL OPTIONS:\n') + 'GLOBAL OPTIONS:\n'.length).split('\n');
    // rkt 1.29's lines, flag and default, before the tabs that align the descriptions (the directories are
    // rkt's absDir type, so their defaults are not quoted as a Go string's would be).
    const heads = options.filter((l) => l.startsWith(' ')).map((l) => l.split('\t')[0]);
    expect(heads).toEqual(expect.arrayContaining([
      '      --debug[=false]',
      '      --dir=/var/lib/rkt',
      '      --insecure-options=none',
      '      --local-config=/etc/rkt',
      '      --system-config=/usr/lib/rkt',
      '      --trust-keys-from-https[=false]',
      '      --user-config=',
      '  -h, --help[=false]',
    ]));
    for (const l of options.filter((o) => o.includes('--'))) expect(l).toMatch(/^(      --|  -[a-z], --)[^\t ]+\t+[^\t]/);
  });
});
