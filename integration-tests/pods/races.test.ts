// Many rkt processes at once on one --dir, each racing others over the same images and pods: image rm and
// image gc against run and prepare, gc against run-prepared, rm, status, stop and list, several rm of one pod,
// fetches against image gc and rm, with `rkt list` and `rkt image list` beside all of it. Every process either
// succeeds or fails cleanly (254 and one line), and afterwards what a user checks holds: the listings agree
// with what happened, every image verifies, every surviving pod runs or is removed, and gc leaves nothing.
// Each race is started in several rounds, its processes spread over a window of 0-150 ms, so that the
// rounds meet at different points.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, renameSync } from 'node:fs';
import { buildAci } from '@rkt/appc-spec';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { busyboxAciOfFile, buildBusyboxAci, ensureBuilt, RktEnv, STAGE1S, type RktResult, prepareStage1Stores } from './harness.js';

const fly = STAGE1S.find((s) => s.name === 'fly')!;
let env: RktEnv;
let aci: string;
// Every test hands the same image to rkt, which imports it into the test's own store.
const fileAci = busyboxAciOfFile();

beforeAll(() => {
  ensureBuilt();
  // The stage1's store template once for the file: each test's seed is then a copy (seedStage1).
  prepareStage1Stores(fly);
}, 600_000);
beforeEach(() => {
  env = new RktEnv(fly);
  aci = fileAci.path;
  // The stage1 stored first: a failed run takes out again what it imported, which would make it come and go.
  // Seeded (a copy of the store `rkt fetch` of it made once for the test run), not fetched again for each test.
  env.seedStage1();
});
afterEach(async () => {
  await env.cleanup();
});

const NAME = 'example.com/busybox';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Job {
  readonly args: readonly string[];
  /** Exit statuses that mean success for this command (a run's is its app's). */
  readonly ok?: readonly number[];
}

interface Outcome extends RktResult {
  readonly args: readonly string[];
}

/**
 * Starts every job within `spreadMs`, each after its own random delay, with a `rkt list --format=json` and an
 * `rkt image list --format=json` among them; waits for all. Each either succeeded or failed cleanly.
 */
async function race(jobs: readonly Job[], spreadMs = 150): Promise<Outcome[]> {
  const all: Job[] = [...jobs, { args: ['list', '--format=json'] }, { args: ['image', 'list', '--format=json'] }];
  const outcomes = await Promise.all(
    all.map(async (job) => {
      await sleep(Math.random() * spreadMs);
      return { ...(await env.start(job.args).done), args: job.args };
    }),
  );
  outcomes.forEach((o, i) => expectClean(o, all[i]!.ok ?? [0]));
  for (const o of outcomes.slice(jobs.length)) expect(() => JSON.parse(o.stdout), show(o)).not.toThrow();
  return outcomes.slice(0, jobs.length);
}

/** Runs each command at once, as set-up: each must succeed. Their outputs, in order. */
async function runAll(commands: readonly (readonly string[])[]): Promise<string[]> {
  const results = await Promise.all(commands.map((args) => env.start(args).done));
  results.forEach((r, i) => expect(r.status, `rkt ${commands[i]!.join(' ')}: ${r.stderr}`).toBe(0));
  return results.map((r) => r.stdout);
}

const show = (o: Outcome): string => `rkt ${o.args.join(' ')} -> ${o.status}\nstdout: ${o.stdout}\nstderr: ${o.stderr}`;

function expectClean(o: Outcome, ok: readonly number[]): void {
  if (ok.includes(o.status ?? -1)) return;
  expect(o.status, show(o)).toBe(254);
  expect(o.stderr.trimEnd().split('\n'), show(o)).toHaveLength(1);
}

/**
 * Why an `rkt rm` of a pod that is not running may fail while other rkt processes work on it: another rm or gc
 * removes it (still, or already), or, when `mayRun`, it is running now (run-prepared took it).
 */
function expectRmFailureReason(o: Outcome, mayRun = false): void {
  if (o.status === 0) return;
  const uuid = o.args[1]!;
  const running = mayRun ? '|is running: stop it first' : '';
  expect(o.stderr, show(o)).toMatch(
    new RegExp(`^rm: error removing pod "${uuid}": (pod ${uuid} (is being removed by another rkt|was removed by another rkt meanwhile${running})|no pod matches "${uuid}")\n$`),
  );
}

/** Waits (polling its open files) until process `pid` has a file under `dir` open; false if it ended first. */
async function openedUnder(pid: number, dir: string, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      return false;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(dir)) return true;
      } catch {
        // Closed meanwhile.
      }
    }
    // Not a timer's pause: a chunk's read lasts milliseconds.
    await new Promise((r) => setImmediate(r));
  }
  return false;
}

/** A pod run to its end (fly, /bin/true): its UUID. */
async function exitedPod(uuidFile: string): Promise<string> {
  await runAll([['run', aci, '--exec=/bin/true', `--uuid-file-save=${uuidFile}`]]);
  return readFileSync(uuidFile, 'utf8');
}

/**
 * An exited pod that an rm, killed (kill -9) while it deleted it, left in garbage/ for rm or gc to finish: its UUID.
 * An rm that this process, off the CPU, let finish is tried again on another pod.
 */
async function podLeftInGarbage(uuidFile: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const uuid = await exitedPod(`${uuidFile}-${attempt}`);
    const r = await stepThrough(['rm', uuid], async (held) => (held.some((p) => p.startsWith(`${env.dataDir}/pods/garbage/`)) ? 'kill' : undefined));
    if (r.status === 0 && attempt < 5) continue;
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(null);
    expect(readdirSync(`${env.dataDir}/pods/garbage`)).toContain(uuid);
    return uuid;
  }
}

/** A pod directory a process has open: where it is now, and whether the process holds its lock (exclusive). */
interface PodDirFd {
  readonly path: string;
  readonly locked: boolean;
}

/** The pod directories process `pid` has open; none once it is gone. */
function podDirFds(pid: number): PodDirFd[] {
  const open: PodDirFd[] = [];
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return open;
  }
  for (const fd of fds) {
    try {
      const path = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (!/\/pods\/[^/]+\/[0-9a-f-]{36}( \(deleted\))?$/.test(path) || !path.startsWith(`${env.dataDir}/pods/`)) continue;
      open.push({ path, locked: /\bFLOCK\s+ADVISORY\s+WRITE\b/.test(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8')) });
    } catch {
      // Closed meanwhile.
    }
  }
  return open;
}

/** Whether process `pid` is stopped, or gone (a zombie, or reaped). */
function stoppedOrGone(pid: number): boolean {
  try {
    const state = /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    return state === 'T' || state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

/**
 * An rkt process run in small steps: stopped (SIGSTOP) every ~0.1-0.3 ms of its run, and looked at while stopped,
 * so that a test can hold it at a point of its work (holding a pod's lock, waiting for one) while other rkt
 * processes act. Its end is awaited by `finish`; the test's clean-up kills it if the test fails first.
 */
class Stepped {
  readonly done: Promise<RktResult>;
  readonly pid: number;
  /** What it has written to stderr so far (as this process has read it). */
  stderr = '';
  private ended = false;

  constructor(args: readonly string[]) {
    const { child, done } = env.start(args);
    this.pid = child.pid!;
    this.done = done;
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    void done.then(() => (this.ended = true));
  }

  /** Steps it until `at` holds of the pod directories it has open, and leaves it stopped there; false if it ended first. */
  async stepUntil(at: (fds: PodDirFd[]) => boolean): Promise<boolean> {
    for (;;) {
      if (this.ended) return false;
      try {
        process.kill(this.pid, 'SIGSTOP');
      } catch {
        return false; // reaped
      }
      while (!stoppedOrGone(this.pid));
      if (at(podDirFds(this.pid))) return true;
      this.signal('SIGCONT');
      const until = performance.now() + 0.1 + Math.random() * 0.2;
      while (performance.now() < until);
      // Lets its exit be seen.
      await new Promise((r) => setImmediate(r));
    }
  }

  signal(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch {
      // Reaped meanwhile.
    }
  }

  /** Lets it run to its end: its result. */
  finish(): Promise<RktResult> {
    this.signal('SIGCONT');
    return this.done;
  }
}

/**
 * Runs rkt with `args` in steps until it ends; whenever it is stopped holding pod directories' locks other than
 * at the stop before, `check` runs (with their paths) before it goes on, or, if `check` says so, it is killed
 * there (SIGKILL). Its result.
 */
async function stepThrough(args: readonly string[], check: (held: string[]) => Promise<void | 'kill'>): Promise<RktResult> {
  const stepped = new Stepped(args);
  let last = '';
  let held: string[] = [];
  const heldAt = (fds: PodDirFd[]) => fds.filter((f) => f.locked).map((f) => f.path);
  while (await stepped.stepUntil((fds) => (held = heldAt(fds)).join() !== last)) {
    last = held.join();
    if (held.length > 0 && (await check(held)) === 'kill') {
      stepped.signal('SIGKILL');
      break;
    }
    stepped.signal('SIGCONT');
  }
  return stepped.finish();
}

/**
 * What `rkt list`, `rkt status`, `rkt status --wait-ready` and `rkt status --wait` (given 10 s) say the pod is,
 * each as `command: state`, or as `command -> status: stderr` when it failed; nothing of a pod gone.
 */
async function podStates(uuid: string): Promise<string[]> {
  const commands = [['list', '--format=json'], ['status', '--format=json', uuid], ['status', '--wait-ready', '--format=json', uuid], ['status', '--wait', '--format=json', uuid]];
  const results = await Promise.all(
    commands.map(async (args) => {
      const run = env.start(args);
      const timer = setTimeout(() => run.child.kill('SIGKILL'), 10_000);
      const r = await run.done.finally(() => clearTimeout(timer));
      return { ...r, args };
    }),
  );
  return results.flatMap((r) => {
    const what = `rkt ${r.args.join(' ')}`;
    if (r.status !== 0) {
      if (r.status === 254 && r.stderr === `status: no pod matches "${uuid}"\n`) return [];
      return [`${what} -> ${r.status}: ${r.stderr}`];
    }
    if (r.args[0] === 'list') return (JSON.parse(r.stdout) as { name: string; state: string }[]).filter((p) => p.name === uuid).map((p) => `${what}: ${p.state}`);
    return [`${what}: ${(JSON.parse(r.stdout) as { state: string }).state}`];
  });
}

const imageIds = (): string[] => {
  const r = env.run(['image', 'list', '--format=json']);
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { id: string }[]).map((i) => i.id);
};
const pods = (): { name: string; state: string; images: { id: string }[] }[] => {
  const r = env.run(['list', '--format=json']);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as ReturnType<typeof pods>;
};

/**
 * What a user checks after the race: every listed image verifies (no repair), every pod's images are listed,
 * every prepared pod runs, and gc then removes every pod and leaves no mount and no pod directory.
 */
async function expectConsistent(): Promise<void> {
  const ids = imageIds();
  if (ids.length > 0) {
    const verify = env.run(['image', 'verify', '--no-repair', ...ids]);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
  }
  const listed = pods();
  for (const pod of listed) {
    expect(['prepared', 'exited', 'exited garbage'], JSON.stringify(pod)).toContain(pod.state);
    for (const img of pod.images) expect(ids, `pod ${pod.name} (${pod.state}) uses ${img.id}`).toContain(img.id);
  }
  await runAll(listed.filter((p) => p.state === 'prepared').map((p) => ['run-prepared', p.name]));
  const gc = env.run(['gc', '--grace-period=0s']);
  expect(gc.status, gc.stderr).toBe(0);
  expect(gc.stderr).toBe('');
  expect(env.mounts()).toEqual([]);
  expect(env.podUuids()).toEqual([]);
}

// RKT_RACE_ROUNDS runs more rounds, to hunt for a rare interleaving.
const ROUNDS = Number(process.env.RKT_RACE_ROUNDS ?? 2);
const TIMEOUT_MS = 20_000 * ROUNDS;

describe('rkt processes racing over images and pods (fly)', () => {
  it('image rm against run and prepare by name: the pod has its image, or it fails cleanly', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      expect(env.run(['fetch', aci]).status).toBe(0);
      const out = await race([
        { args: ['run', '--pull-policy=never', NAME, '--exec=/bin/true'] },
        { args: ['run', '--pull-policy=never', NAME, '--exec=/bin/true'] },
        { args: ['prepare', '--pull-policy=never', NAME, '--exec=/bin/true'] },
        { args: ['prepare', '--pull-policy=never', NAME, '--exec=/bin/true'] },
        { args: ['image', 'rm', NAME] },
        { args: ['image', 'rm', NAME] },
      ]);
      const podsMade = out.slice(0, 4).filter((o) => o.status === 0).length;
      const removed = out.slice(4).filter((o) => o.status === 0).length;
      // One rm at most removes it, and only if no pod got it first: a pod that has it keeps it from rm, and once
      // it is removed, a pod that had not referenced it yet fails (--pull-policy=never).
      expect(removed, out.map(show).join('\n')).toBe(podsMade === 0 ? 1 : 0);
      expect(pods()).toHaveLength(podsMade);
      expect(imageIds()).toHaveLength(removed === 1 ? 1 : 2); // the stage1's, and busybox's unless removed
      await expectConsistent();
    }
  }, TIMEOUT_MS);

  it('image gc against run and prepare: images in use stay, every pod made has its images', async () => {
    const other = await buildBusyboxAci(env.tmp, 'example.com/other');
    for (let round = 0; round < ROUNDS; round++) {
      // Busybox is in use by a prepared pod throughout; the other image by nothing until a pod takes it.
      const [prepared] = await runAll([['prepare', aci, '--exec=/bin/true'], ['fetch', other]]);
      const out = await race([
        { args: ['image', 'gc', '--grace-period=0s'] },
        { args: ['image', 'gc', '--grace-period=0s'] },
        { args: ['run', '--pull-policy=never', NAME, '--exec=/bin/true'] },
        { args: ['prepare', '--pull-policy=never', NAME, '--exec=/bin/true'] },
        { args: ['run', '--pull-policy=never', 'example.com/other', '--exec=/bin/true'] },
        { args: ['prepare', '--pull-policy=never', 'example.com/other', '--exec=/bin/true'] },
        // A file is imported again if gc took it: this one always runs.
        { args: ['run', other, '--exec=/bin/true'] },
      ]);
      for (const o of [out[0]!, out[1]!, out[2]!, out[3]!, out[6]!]) expect(o.status, show(o)).toBe(0);
      expect(imageIds()).toContain(pods().find((p) => p.name === prepared!.trim())?.images[0]?.id);
      await expectConsistent();
    }
  }, TIMEOUT_MS);

  it('gc against run-prepared, rm, status, stop and list of the same pods', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const files = [1, 2].map((i) => `${env.tmp}/exited-${round}-${i}`);
      const [p1, p2, p3] = (
        await runAll([
          ...[1, 2, 3].map(() => ['prepare', aci, '--exec=/bin/sh', '--', '-c', 'echo ran']),
          ...files.map((f) => ['run', aci, '--exec=/bin/true', `--uuid-file-save=${f}`]),
        ])
      ).map((out) => out.trim()) as [string, string, string];
      const exited = files.map((f) => readFileSync(f, 'utf8'));
      const long = env.start(['run', aci, '--exec=/bin/sleep', '--', '5']);
      const { uuid: running } = await env.waitRunning();
      const out = await race([
        { args: ['gc', '--grace-period=0s'] },
        { args: ['gc', '--grace-period=0s'] },
        { args: ['run-prepared', p1] },
        { args: ['run-prepared', p1] },
        { args: ['rm', p1] },
        { args: ['rm', p2] },
        { args: ['status', p2] },
        // Its stop may reach the app while it runs (a stop waits for a starting pod's pid): SIGTERM's 143.
        { args: ['run-prepared', p3], ok: [0, 143] },
        { args: ['stop', p3] },
        { args: ['status', p3] },
        { args: ['rm', exited[0]!] },
        { args: ['status', exited[0]!] },
        { args: ['rm', exited[1]!] },
        { args: ['status', '--format=json', exited[1]!] },
        { args: ['stop', running] },
        { args: ['status', running] },
        { args: ['rm', running] },
      ]);
      // gc never fails over a pod another rkt moved, ran or removed.
      for (const o of out.slice(0, 2)) {
        expect(o.status, show(o)).toBe(0);
        expect(o.stderr, show(o)).toBe('');
      }
      for (const o of out.filter((x) => x.args[0] === 'rm')) expectRmFailureReason(o, o.args[1] === p1 || o.args[1] === running);
      // Of two run-prepared of one pod (and an rm) one at most ran it; a run shows the app's output.
      const ran = [out[2]!, out[3]!, out[7]!].filter((o) => o.status === 0);
      expect(ran.filter((o) => o.args[1] === p1).length).toBeLessThanOrEqual(1);
      for (const o of ran) expect(o.stdout, show(o)).toBe('ran\n');
      // A run-prepared ended by SIGTERM was ended by the stop of its pod, which then says it stopped it.
      if (out[7]!.status === 143) expect(out[8]!.stdout, show(out[8]!)).toBe(`"${p3}"\n`);
      // The stop of the running pod either reached it or found it ended: it ends either way.
      const ended = await long.done;
      expect([0, 143], `${ended.status} ${ended.stderr}`).toContain(ended.status);
      await expectConsistent();
    }
  }, TIMEOUT_MS);

  it('stop --force against run-prepared of the same pod: a stop that says it stopped the pod killed it', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const uuids = (await runAll([0, 1, 2, 3].map(() => ['prepare', aci, '--exec=/bin/sleep', '--', '1']))).map((out) => out.trim());
      // Each stop lands somewhere in its pod's start: before it runs, between its move to run/ and its pid, or after.
      const runs = uuids.map((uuid) => env.start(['run-prepared', uuid]).done);
      const stops = await Promise.all(
        uuids.map(async (uuid, i) => {
          await sleep(i * 25 + Math.random() * 25);
          return { ...(await env.start(['stop', '--force', uuid]).done), args: ['stop', '--force', uuid] };
        }),
      );
      const ran = await Promise.all(runs);
      stops.forEach((stop, i) => {
        expectClean(stop, [0]);
        const runOut = `${show(stop)}\nrun-prepared: ${ran[i]!.status} ${ran[i]!.stderr}`;
        // Stopped (its UUID printed): its app was killed (128 + SIGKILL). Stopped already (on a slow machine:
        // the pod ended first) or refused (not running yet): the pod ran its course.
        if (stop.status !== 0) expect(stop.stderr).toMatch(new RegExp(`^stop: error stopping "${uuids[i]}": pod ${uuids[i]} is prepared, not running\n$`));
        else if (stop.stdout === `"${uuids[i]}"\n`) expect(ran[i]!.status, runOut).toBe(137);
        else {
          expect(stop.stdout, show(stop)).toBe(`pod "${uuids[i]}" is already stopped\n`);
          expect(ran[i]!.status, runOut).toBe(0);
        }
      });
      await expectConsistent();
    }
  }, TIMEOUT_MS);

  it('several rm of one pod: the pod is removed, each rm succeeds or fails cleanly', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const file = `${env.tmp}/exited-${round}`;
      const p = (await runAll([['prepare', aci, '--exec=/bin/true'], ['run', aci, '--exec=/bin/true', `--uuid-file-save=${file}`]]))[0]!.trim();
      const e = readFileSync(file, 'utf8');
      const out = await race([p, p, p, p, e, e, e, e].map((uuid) => ({ args: ['rm', uuid] })));
      for (const o of out) expectRmFailureReason(o);
      for (const uuid of [p, e]) {
        const mine = out.filter((o) => o.args[1] === uuid);
        // Exactly one removed it and said so; the others found it gone or being removed.
        expect(mine.filter((o) => o.status === 0).length, mine.map(show).join('\n')).toBe(1);
        for (const o of mine) expect(o.stdout, show(o)).toBe(o.status === 0 ? `"${uuid}"\n` : '');
      }
      expect(pods()).toEqual([]);
      expect(env.podUuids()).toEqual([]);
      expect(env.mounts()).toEqual([]);
    }
  }, TIMEOUT_MS);

  it('six rm of one exited pod: exactly one removes it, each other fails in one line naming it', async () => {
    // More rounds than the others: the losing rm that claimed the removal took the lock of the directory the
    // winner had just deleted, a window of a few milliseconds.
    for (let round = 0; round < 3 * ROUNDS; round++) {
      const uuid = await exitedPod(`${env.tmp}/exited-${round}`);
      const out = await race(Array.from({ length: 6 }, () => ({ args: ['rm', uuid] })), 60);
      const removed = out.filter((o) => o.status === 0);
      expect(removed.length, out.map(show).join('\n')).toBe(1);
      expect(removed[0]!.stdout).toBe(`"${uuid}"\n`);
      for (const o of out.filter((x) => x.status !== 0)) {
        expect(o.stdout, show(o)).toBe('');
        expectRmFailureReason(o);
      }
      expect(pods()).toEqual([]);
      expect(env.podUuids()).toEqual([]);
      expect(env.mounts()).toEqual([]);
    }
  }, 2 * TIMEOUT_MS);

  it('rm of a prepared pod or a failed prepare says so as it moves it, and holds it to its end: another rm fails in one line, gc leaves it', async () => {
    for (const state of ['prepared', 'aborted prepare']) {
      const uuid = (await runAll([['prepare', '--quiet', aci, '--exec=/bin/true']]))[0]!.trim();
      // What a prepare killed midway leaves: its directory in prepare/, unlocked.
      if (state === 'aborted prepare') renameSync(`${env.dataDir}/pods/prepared/${uuid}`, `${env.dataDir}/pods/prepare/${uuid}`);
      expect(env.status(uuid).state).toBe(state);
      const said = state === 'prepared' ? `rm: moving expired prepared pod "${uuid}" to garbage\n` : `rm: moving failed prepare "${uuid}" to garbage\n`;
      const rm = new Stepped(['rm', uuid]);
      // Held once the pod is in garbage/ under its lock: rkt said it before the move, and so this has.
      const garbage = `${env.dataDir}/pods/garbage/${uuid}`;
      expect(await rm.stepUntil((fds) => fds.some((f) => f.locked && f.path === garbage)), 'rm never moved the pod').toBe(true);
      await sleep(50); // its stderr read here
      expect(rm.stderr).toBe(said);
      const other = env.run(['rm', uuid]);
      expect([other.status, other.stdout, other.stderr]).toEqual([254, '', `rm: error removing pod "${uuid}": pod ${uuid} is being removed by another rkt\n`]);
      const gc = env.run(['gc', '--grace-period=0s']);
      expect([gc.status, gc.stdout, gc.stderr]).toEqual([0, '', '']);
      const removed = await rm.finish();
      expect([removed.status, removed.stdout, removed.stderr]).toEqual([0, `"${uuid}"\n`, said]);
      expect(pods()).toEqual([]);
      expect(env.podUuids()).toEqual([]);
    }
  }, TIMEOUT_MS);

  it('gc waiting for the lock of a pod an rm is deleting: only the rm says it removed the pod', async () => {
    // Forced, not hoped for: gc lists two pods left in garbage/, and is held while it deletes the first; an rm
    // takes the second meanwhile and is held while it deletes it; gc, let go, waits for that pod's lock and is
    // held there while the rm finishes. gc then found the lock free and went on "removing" the deleted pod.
    // gc waits for 50 ms: a round in which this process was off the CPU all that time (a loaded machine) did not
    // catch it waiting, and is run again.
    let caught = 0;
    for (let round = 0; caught < ROUNDS && round < 4 * ROUNDS; round++) {
      const uuids = [await podLeftInGarbage(`${env.tmp}/a-${round}`), await podLeftInGarbage(`${env.tmp}/b-${round}`)];
      const gc = new Stepped(['gc', '--grace-period=0s']);
      expect(await gc.stepUntil((fds) => fds.some((f) => f.locked)), 'gc never deleted a pod').toBe(true);
      const first = uuids.find((u) => podDirFds(gc.pid).some((f) => f.locked && f.path.includes(u)))!;
      const second = uuids.find((u) => u !== first)!;
      const rm = new Stepped(['rm', second]);
      expect(await rm.stepUntil((fds) => fds.some((f) => f.locked && f.path.endsWith(second))), 'rm never deleted the pod').toBe(true);
      gc.signal('SIGCONT');
      if (await gc.stepUntil((fds) => fds.some((f) => !f.locked && f.path.includes(second)))) caught++;
      const removed = await rm.finish();
      const collected = await gc.finish();
      expect(removed.status, removed.stderr).toBe(0);
      expect(removed.stdout).toBe(`"${second}"\n`);
      expect(collected.status, collected.stderr).toBe(0);
      expect(collected.stderr).toBe('');
      expect(collected.stdout).toBe(`Garbage collecting pod "${first}"\n`);
      expect(pods()).toEqual([]);
      expect(env.podUuids()).toEqual([]);
      expect(env.mounts()).toEqual([]);
    }
    expect(caught, 'gc was never caught waiting for the pod the rm deleted').toBeGreaterThan(0);
  }, 4 * TIMEOUT_MS);

  it('rm against gc --grace-period=0s of one exited pod: removed once, and only its remover says it removed it', async () => {
    for (let round = 0; round < 3 * ROUNDS; round++) {
      const uuid = await exitedPod(`${env.tmp}/exited-${round}`);
      const out = await race([['rm', uuid], ['rm', uuid], ['gc', '--grace-period=0s'], ['gc', '--grace-period=0s']].map((args) => ({ args })), 60);
      const rms = out.filter((o) => o.args[0] === 'rm');
      const gcs = out.filter((o) => o.args[0] === 'gc');
      for (const o of rms) {
        expect(o.stdout, show(o)).toBe(o.status === 0 ? `"${uuid}"\n` : '');
        expectRmFailureReason(o);
      }
      for (const o of gcs) {
        // gc never fails over a pod an rm took, and says only what it did: marked it, removed it, or nothing.
        expect(o.status, show(o)).toBe(0);
        expect(o.stderr, show(o)).toBe('');
        expect(o.stdout, show(o)).toMatch(new RegExp(`^(Moving pod "${uuid}" to garbage\n)?(Garbage collecting pod "${uuid}"\n)?$`));
      }
      const claims = rms.filter((o) => o.status === 0).length + gcs.filter((o) => o.stdout.includes(`Garbage collecting pod "${uuid}"`)).length;
      expect(claims, out.map(show).join('\n')).toBe(1);
      expect(pods()).toEqual([]);
      expect(env.podUuids()).toEqual([]);
      expect(env.mounts()).toEqual([]);
    }
  }, 2 * TIMEOUT_MS);

  it('an exited pod that rm or gc is removing never shows as running to list or status', async () => {
    // The remover is stopped (SIGSTOP) at many points of its life, a fraction of a millisecond apart; each time it
    // holds a pod directory's lock, list and status are asked what the pod is. A pod whose lock is held in run/
    // counts as running, so a remover that locked it there made an exited pod look running (and status
    // --wait-ready return it as running, status --wait wait for it). Rounds go on (up to 12) until each remover
    // was caught holding the lock of the pod still in run/, a window of a millisecond or less, if it takes it there.
    const caught = { rm: { any: 0, inRun: 0 }, gc: { any: 0, inRun: 0 } };
    for (let round = 0; round < ROUNDS || (round < 12 && (caught.rm.inRun === 0 || caught.gc.inRun === 0)); round++) {
      for (const remover of [['rm'], ['gc', '--grace-period=0s']] as const) {
        const uuid = await exitedPod(`${env.tmp}/exited-${round}-${remover[0]}`);
        const r = await stepThrough(remover[0] === 'rm' ? [...remover, uuid] : remover, async (held) => {
          caught[remover[0]].any++;
          if (held.some((p) => p.startsWith(`${env.dataDir}/pods/run/`))) caught[remover[0]].inRun++;
          for (const what of await podStates(uuid)) expect(what, `while rkt ${remover.join(' ')} held ${held.join(', ')}`).toMatch(/: (exited|exited garbage|garbage|deleting)$/);
        });
        expect(r.status, r.stderr).toBe(0);
        expect(pods()).toEqual([]);
        expect(env.podUuids()).toEqual([]);
        expect(env.mounts()).toEqual([]);
      }
    }
    // Each was caught holding a lock of the pod (a round may miss it when this process is off the CPU throughout),
    // or nothing was checked.
    expect(Math.min(caught.rm.any, caught.gc.any), JSON.stringify(caught)).toBeGreaterThan(0);
  }, 12 * TIMEOUT_MS);

  it('image verify whose tree is removed while it hashes it: removed, not damaged', async () => {
    // An 8 MB file first in the tree, read in chunks: long enough to find the verify in the middle of it. The
    // verify is stopped there (SIGSTOP), the image removed by another rkt, and the verify let go on: the
    // interleaving a slow disk or a busy machine gives, every time.
    const file = `${env.tmp}/big.aci`;
    const manifest = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/big' });
    await buildAci(manifest, [{ type: 'file', path: 'a-big', data: randomBytes(8 << 20) }, { type: 'file', path: 'z-after', data: 'z\n' }], file);
    // One round: the interleaving is forced, not hoped for.
    for (let round = 0; round < Math.ceil(ROUNDS / 2); round++) {
      const id = env.run(['fetch', '--full', file]).stdout.trim();
      // On a loaded machine this process can be off the CPU for the whole hash (a few ms): such a verify is let
      // finish and another started, until one is caught hashing.
      let verify: ReturnType<typeof env.start> | undefined;
      for (let attempt = 0; attempt < 10 && verify === undefined; attempt++) {
        const v = env.start(['image', 'verify', '--no-repair', id]);
        if (await openedUnder(v.child.pid!, `${env.dataDir}/cas/trees/`)) {
          verify = v;
        } else {
          const missed = await v.done;
          expect(missed.status, missed.stderr).toBe(0);
        }
      }
      if (verify === undefined) throw new Error('none of 10 verifies was caught hashing the tree');
      const pid = verify.child.pid!;
      process.kill(pid, 'SIGSTOP');
      try {
        const rm = env.run(['image', 'rm', id]);
        expect(rm.status, rm.stderr).toBe(0);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const r = await verify.done;
      // The image was intact when it was looked at, and its tree is gone, not damaged.
      expect(r.stdout, r.stderr).toBe(`${id.slice(0, 19)} (example.com/big): ok\n`);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(imageIds()).not.toContain(id);
    }
  }, TIMEOUT_MS);

  it('fetches of the same and of different images against image gc and image rm', async () => {
    const others = await Promise.all(['example.com/b', 'example.com/c'].map((n) => buildBusyboxAci(env.tmp, n)));
    for (let round = 0; round < ROUNDS; round++) {
      const out = await race([
        ...[aci, aci, aci, others[0]!, others[0]!, others[1]!].map((f) => ({ args: ['fetch', '--full', f] })),
        { args: ['image', 'gc', '--grace-period=0s'] },
        { args: ['image', 'gc', '--grace-period=0s'] },
        { args: ['image', 'rm', NAME] },
        { args: ['image', 'rm', 'example.com/b'] },
        { args: ['image', 'rm', 'example.com/c'] },
      ]);
      // A fetch always ends with its image stored and rendered: nothing takes it from under it.
      const fetched = out.slice(0, 6);
      for (const o of fetched) {
        expect(o.status, show(o)).toBe(0);
        expect(o.stdout, show(o)).toMatch(/^sha512-[0-9a-f]{128}\n$/);
      }
      for (const o of out.slice(6, 8)) expect(o.status, show(o)).toBe(0);
      // An image rm fails only because the image is gone already or a fetch holds it.
      for (const o of out.slice(8)) {
        if (o.status !== 0) expect(o.stderr, show(o)).toMatch(/^image rm: (no image named example\.com\/\w+ in the store|no image with ID sha512-[0-9a-f]+ in the store|image sha512-[0-9a-f]{12} \(example\.com\/\w+\) is being fetched by rkt process \d+)\n$/);
      }
      await expectConsistent();
      expect(env.run(['image', 'gc', '--grace-period=0s']).status).toBe(0);
      expect(imageIds()).toEqual([]);
    }
  }, TIMEOUT_MS);
});

