// kill -9 at many points of one rkt command, deterministically: strace stops the command at the Nth call of a
// system call and kills it there with SIGKILL (`-e inject=SYSCALL:signal=SIGKILL:when=N`: the signal is
// delivered on entry, so the call itself never runs). strace counts `when` per thread and per process (checked:
// with -f a child's first execve is its own number 1; the exec strace starts the command with is not counted),
// so most points trace without -f: only rkt's main thread (and, after `rkt run` execs the fly stage1, that
// stage1's process), where the store and the pod directories are written and where the order of calls is the
// program's own. A third as many again are in rkt's other threads (LevelDB's writes and syncs, fs/promises'
// recursive removals, the blob's writes), killed under -f at the first thread to make that many calls of the
// kind: close to, not always exactly, the same call run after run. Children (tar, the app) are never chosen.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { openStore } from '@rkt/image-store';
import { podProcesses, rktBin, type RktEnv } from '../pods/harness.js';

/** How many points a sweep kills at: RKT_KILL_POINTS, or what the test asks for (a longer run searches more). */
export function pointCount(fallback: number): number {
  const n = Number(process.env.RKT_KILL_POINTS);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** The calls a kill point can be: everything that changes the filesystem, the mount table or a process. */
const TRACED = [
  'openat', 'write', 'pwrite64', 'ftruncate', 'rename', 'renameat', 'renameat2', 'link', 'linkat', 'symlink', 'symlinkat',
  'mkdir', 'mkdirat', 'unlink', 'unlinkat', 'rmdir', 'fsync', 'fdatasync', 'utimensat', 'flock', 'mount', 'umount2',
  'execve', 'clone', 'clone3', 'vfork', 'kill', 'close',
];

export interface KillPoint {
  /** The system call and its number among the thread's calls of it, as strace's `when` counts. */
  readonly syscall: string;
  readonly when: number;
  /** That call in the run that chose the point (what it was expected to be). */
  readonly line: string;
  /**
   * A call of another thread (LevelDB's writes and syncs, fs/promises' recursive removals on the thread pool):
   * killed under `strace -f`, at the first thread to make its Nth call of that kind, which is not always the
   * same thread run after run.
   */
  readonly anyThread: boolean;
  /** A call on this path only (strace -P): `when` counts that thread's calls of the kind on it. */
  readonly path?: string;
}

export interface KilledRun {
  /** Whether the kill happened (the command can end before its Nth call, e.g. after a path taken once). */
  readonly killed: boolean;
  /** strace's line of the call the command was killed at (`= ?`), or its exit status. */
  readonly at: string;
  readonly stdout: string;
  readonly stderr: string;
}

export function straceMissing(): string | undefined {
  return spawnSync('strace', ['-V'], { encoding: 'utf8' }).status === 0 ? undefined : 'strace is not installed (Debian package strace)';
}

const strace = (trace: string, inject: string[]) => ['-qq', '-o', trace, '-e', `trace=${TRACED.join(',')}`, ...inject];

/** A run of a command to the end under `strace -f`, which kill points are chosen from. */
export interface TracedRun {
  readonly status: number | null;
  readonly trace: string[];
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the command once to the end under `strace -f` (it must succeed): both choosers below take such a run, so
 * that one run can give the points of both (the command's own and its child's) where a test wants both.
 */
export async function traceToEnd(env: RktEnv, args: readonly string[]): Promise<TracedRun> {
  const r = await traced(env, args, [], true);
  if (r.status !== 0) throw new Error(`rkt ${args.join(' ')} (traced) failed (${r.status}): ${r.stderr}`);
  return r;
}

/**
 * Runs the command once to the end under `strace -f` (or takes such a run: `run`), and chooses `count` kill
 * points spread over what its main thread did to `dataDir` (and to the directories in `alsoIn`: where `rkt
 * export` writes its output), plus up to a third as many in its other threads (below, `anyThread`).
 */
export async function chooseKillPoints(env: RktEnv, args: readonly string[], count: number, alsoIn: readonly string[] = [], run?: TracedRun): Promise<{ points: KillPoint[]; stdout: string }> {
  const r = run ?? (await traceToEnd(env, args));
  const calls = joinCalls(r.trace);
  const main = calls[0]?.pid;
  // rkt's own threads: everything but the processes it started (tar, sync, the app) and theirs.
  const children = new Set<string>();
  for (const c of calls) {
    const started = /^(clone3?|vfork)\(/.test(c.text) && !c.text.includes('CLONE_THREAD') ? / = ([0-9]+)$/.exec(c.text)?.[1] : undefined;
    if (started !== undefined) children.add(started);
    if (children.has(c.pid) && /^(clone3?|vfork)\(/.test(c.text)) children.add(/ = ([0-9]+)$/.exec(c.text)?.[1] ?? '');
  }
  const seen = new Map<string, number>();
  const mainCount = new Map<string, number>();
  const mainPoints: KillPoint[] = [];
  const poolPoints: KillPoint[] = [];
  // The files the data directory's writes go to, by descriptor (a write names only its descriptor).
  const fds = new Map<string, string>();
  for (const { pid, text } of calls) {
    if (children.has(pid)) continue;
    const syscall = /^([a-z0-9_]+)\(/.exec(text)?.[1];
    // strace does not count the exec that starts the command it runs.
    if (syscall === undefined || (syscall === 'execve' && text.includes('bin/rkt"'))) continue;
    const when = (seen.get(`${pid} ${syscall}`) ?? 0) + 1;
    seen.set(`${pid} ${syscall}`, when);
    if (pid === main) mainCount.set(syscall, when);
    if (syscall === 'openat') {
      const fd = / = ([0-9]+)$/.exec(text)?.[1];
      if (fd !== undefined) fds.set(fd, text);
    }
    if (syscall === 'close') fds.delete(/^close\(([0-9]+)/.exec(text)?.[1] ?? '');
    if (!interesting(syscall, text, [env.dataDir, ...alsoIn], fds) || when > 65_535) continue;
    (pid === main ? mainPoints : poolPoints).push({ syscall, when, line: text, anyThread: pid !== main });
  }
  // A point in another thread is the Nth call of a thread to reach it first: only where the main thread
  // never makes N calls of that kind is it sure to land outside the main thread.
  const pool = poolPoints.filter((p) => (mainCount.get(p.syscall) ?? 0) < p.when);
  return { points: [...pick(mainPoints, count), ...pick(pool, Math.ceil(count / 3))], stdout: r.stdout };
}

/**
 * Kill points inside the processes rkt starts whose exec `isChild` accepts (a stage1's app entrypoint) and their
 * own children (its nsenter), from a run of the command to the end (`run`, or one made here): up to `count` of
 * what they change in `dataDir` and the programs they run. Each is
 * a call on one path, counted as strace counts under `-P PATH` (only that path's calls, per thread): the Nth
 * such call of that thread, kept only where no other thread of the run reaches its Nth call of the kind on
 * that path before it (every nsenter's first execve is its own number 1: only the first of the run is a point).
 */
export async function chooseChildKillPoints(env: RktEnv, args: readonly string[], count: number, isChild: (execve: string) => boolean, run?: TracedRun): Promise<KillPoint[]> {
  const r = run ?? (await traceToEnd(env, args));
  const inChild = new Set<string>();
  const counts = new Map<string, number>();
  const firstReached = new Set<string>();
  const fds = new Map<string, string>();
  const candidates: KillPoint[] = [];
  for (const { pid, text } of joinCalls(r.trace)) {
    const syscall = /^([a-z0-9_]+)\(/.exec(text)?.[1];
    if (syscall === undefined || (syscall === 'execve' && text.includes('bin/rkt"'))) continue;
    if (syscall === 'execve' && / = 0$/.test(text) && isChild(text)) inChild.add(pid);
    // What the child starts, threads and processes, is the child's too.
    if (inChild.has(pid) && /^(clone3?|vfork)\(/.test(text)) inChild.add(/ = ([0-9]+)$/.exec(text)?.[1] ?? '');
    const fd = /^(?:write|pwrite64|ftruncate|fsync|fdatasync|flock)\(([0-9]+)/.exec(text)?.[1];
    const path = fd !== undefined ? fds.get(`${pid} ${fd}`) : /^[a-z0-9]+\((?:AT_FDCWD, )?"(\/[^"]*)"/.exec(text)?.[1];
    if (syscall === 'openat') {
      const opened = / = ([0-9]+)$/.exec(text)?.[1];
      if (opened !== undefined && path !== undefined) fds.set(`${pid} ${opened}`, path);
    }
    // A descriptor's path as -P finds it: its name then (a file renamed since is not; close is not a point).
    if (path === undefined || syscall === 'close') continue;
    const when = (counts.get(`${pid} ${syscall} ${path}`) ?? 0) + 1;
    counts.set(`${pid} ${syscall} ${path}`, when);
    const kind = `${syscall} ${path} ${when}`;
    const first = !firstReached.has(kind);
    firstReached.add(kind);
    if (!first || !inChild.has(pid) || (syscall === 'execve' && isChild(text))) continue;
    const keep = syscall === 'execve' ? / = 0$/.test(text) : path.startsWith(env.dataDir) && (syscall !== 'openat' || /O_(CREAT|WRONLY|RDWR)/.test(text));
    if (keep) candidates.push({ syscall, when, line: `${pid} ${text}`, anyThread: true, path });
  }
  return pick(candidates, count);
}

/**
 * The whole command killed at the point: strace stops the thread that reaches it (SIGSTOP on entry, the call
 * failed with EINTR so that it never runs), and every process of the command's group is then killed with
 * SIGKILL at once, as a user's kill of rkt's group (or a crash) would leave them: rkt waiting on its child, the
 * child at that call. Waits for the group to be gone.
 */
export async function killGroupAt(env: RktEnv, args: readonly string[], p: KillPoint): Promise<KilledRun> {
  const dir = mkdtempSync(join(tmpdir(), 'rkt-kill-trace-'));
  const trace = join(dir, 'trace');
  try {
    const only = p.path !== undefined ? ['-P', p.path] : [];
    const child = spawn('strace', ['-f', ...only, ...strace(trace, ['-e', `inject=${p.syscall}:error=EINTR:signal=SIGSTOP:when=${p.when}`]), '--', rktBin, ...env.args(args)], { cwd: env.tmp, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const closed = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code));
    });
    let ended = false;
    void closed.then(() => { ended = true; });
    let killed = false;
    // Reached (strace says so, line by line; a thread in one of strace's own syscall stops looks the same in
    // /proc as a stopped one): the group is killed whole. A run that never reaches the point ends by itself.
    while (!ended && !killed) {
      // The injected call's line is written as it returns, before the stop: the call did not run.
      if (existsSync(trace) && readFileSync(trace, 'utf8').includes('(INJECTED)')) {
        process.kill(-child.pid!, 'SIGKILL');
        killed = true;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const status = await closed;
    await waitGroupGone(child.pid!);
    const lines = existsSync(trace) ? readFileSync(trace, 'utf8').split('\n') : [];
    // The call as this run made it (strace's line of the injected call), else the one chosen.
    const at = lines.find((l) => l.includes('(INJECTED)')) ?? p.line;
    return { killed, at: killed ? at : `exited ${status} (last call: ${lines.filter((l) => l !== '').at(-1) ?? 'none'})`, stdout, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** strace -f's lines as one complete call each (an `<unfinished ...>` line and its `<... resumed>` joined), in start order. */
export function joinCalls(trace: readonly string[]): { pid: string; text: string }[] {
  const out: { pid: string; text: string }[] = [];
  const open = new Map<string, { pid: string; text: string }>();
  for (const line of trace) {
    const m = /^([0-9]+) +(.*)$/.exec(line);
    if (m === null) continue;
    const [, pid, rest] = m as unknown as [string, string, string];
    const resumed = /^<\.\.\. [a-z0-9_]+ resumed>(.*)$/.exec(rest);
    if (resumed !== null) {
      const call = open.get(pid);
      if (call !== undefined) call.text += resumed[1];
      open.delete(pid);
      continue;
    }
    const call = { pid, text: rest.replace(/ <unfinished \.\.\.>$/, '') };
    if (rest.endsWith('<unfinished ...>')) open.set(pid, call);
    out.push(call);
  }
  return out;
}

/** Calls that move something from one state to the next (publish, lock, mount, start): first in line for a slot. */
const TRANSITIONS = new Set(['rename', 'renameat', 'renameat2', 'link', 'linkat', 'symlink', 'symlinkat', 'unlink', 'unlinkat', 'rmdir', 'flock', 'mount', 'umount2', 'execve', 'clone', 'clone3', 'vfork', 'kill']);

/**
 * `count` points: one of each distinct operation first (the same call on the same kind of path: UUIDs,
 * image IDs, temp names and descriptors set aside), state transitions before the rest, each group spread over
 * the run when it has more than the slots left; then, with slots left, repeats of them spread the same way.
 */
function pick(candidates: readonly KillPoint[], count: number): KillPoint[] {
  if (candidates.length <= count) return [...candidates];
  const byKind = new Map<string, KillPoint>();
  for (const p of candidates) if (!byKind.has(kindOf(p.line))) byKind.set(kindOf(p.line), p);
  const kinds = [...byKind.values()];
  const chosen = new Set(spread(kinds.filter((p) => TRANSITIONS.has(p.syscall)), count));
  for (const p of spread(kinds.filter((p) => !chosen.has(p)), count - chosen.size)) chosen.add(p);
  for (const p of spread(candidates.filter((c) => !chosen.has(c)), count - chosen.size)) chosen.add(p);
  return candidates.filter((p) => chosen.has(p));
}

function kindOf(line: string): string {
  return line
    .replace(/ = .*$/, '')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'UUID')
    .replace(/sha512-[0-9a-f]+/g, 'ID')
    .replace(/-[0-9]+\.[0-9]+\.[a-z0-9]+/g, '-OWNER')
    .replace(/\.[0-9]+\.[a-z0-9]+\.tmp/g, '.TMP')
    .replace(/[0-9]+/g, 'N');
}

/** What changes something a crash can leave behind: the data directory (and `dirs`' others), mounts, the pod's processes. */
function interesting(syscall: string, line: string, dirs: readonly string[], fds: Map<string, string>): boolean {
  // The stage1 works in the pod's directory, with relative paths.
  const inData = dirs.some((d) => line.includes(d)) || /^[a-z0-9]+\((AT_FDCWD, )?"[^/]/.test(line);
  switch (syscall) {
    case 'openat':
      return inData && /O_(CREAT|WRONLY|RDWR)/.test(line);
    case 'write':
    case 'pwrite64':
    case 'ftruncate':
    case 'fsync':
    case 'fdatasync':
    case 'flock':
      // Not Node's own wake-ups (pipes, eventfds) nor its output.
      return interestingFile(fds.get(/\(([0-9]+)/.exec(line)?.[1] ?? ''), dirs);
    case 'clone':
    case 'clone3':
    case 'vfork':
      return !line.includes('CLONE_THREAD'); // a process started (tar, sync, the stage1's app), not a thread
    case 'execve':
      return !line.includes('bin/rkt"');
    case 'mount':
    case 'umount2':
    case 'kill':
      return true;
    default:
      return inData;
  }
}

function interestingFile(openedBy: string | undefined, dirs: readonly string[]): boolean {
  return openedBy !== undefined && (dirs.some((d) => openedBy.includes(d)) || /^openat\(AT_FDCWD, "[^/]/.test(openedBy));
}

function spread<T>(items: readonly T[], n: number): T[] {
  if (n <= 0) return [];
  if (n >= items.length) return [...items];
  if (n === 1) return [items[Math.floor(items.length / 2)]!];
  return Array.from({ length: n }, (_, i) => items[Math.round((i * (items.length - 1)) / (n - 1))]!);
}

/** The command, killed with SIGKILL on entering the point's call; waits for what it started (tar, the app) to end. */
export async function killAt(env: RktEnv, args: readonly string[], p: KillPoint): Promise<KilledRun> {
  const r = await traced(env, args, ['-e', `inject=${p.syscall}:signal=SIGKILL:when=${p.when}`], p.anyThread);
  // The call killed at is the one strace shows without a result (`= ?`); with -f, in the thread killed.
  const lines = p.anyThread ? joinCalls(r.trace).map((c) => `${c.pid} ${c.text}`) : r.trace;
  const killed = r.trace.some((l) => /^([0-9]+ +)?\+\+\+ killed by SIGKILL/.test(l));
  const call = (l: string): boolean => l.startsWith(`${p.syscall}(`) || l.includes(` ${p.syscall}(`);
  const at = lines.findLast((l) => call(l) && / = \?$/.test(l)) ?? lines.findLast(call) ?? '';
  return { killed, at: killed ? at : `exited ${r.status} (last call: ${r.trace.filter((l) => l !== '').at(-1) ?? 'none'})`, stdout: r.stdout, stderr: r.stderr };
}

async function traced(env: RktEnv, args: readonly string[], inject: string[], follow: boolean): Promise<TracedRun> {
  const dir = mkdtempSync(join(tmpdir(), 'rkt-kill-trace-'));
  const trace = join(dir, 'trace');
  try {
    // Its own process group: the children a killed rkt leaves behind are found by it and waited for.
    const child = spawn('strace', [...(follow ? ['-f'] : []), ...strace(trace, inject), '--', rktBin, ...env.args(args)], { cwd: env.tmp, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const status = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code));
    });
    await waitGroupGone(child.pid!);
    return { status, trace: existsSync(trace) ? readFileSync(trace, 'utf8').split('\n') : [], stdout, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits up to 10 s for every process of the group to end, then kills what is left. */
async function waitGroupGone(pgid: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (groupMembers(pgid).length === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Gone meanwhile.
  }
}

function groupMembers(pgid: number): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // A zombie no one reaps yet (its parent is gone) ends as soon as init reaps it.
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') found.push(Number(pid));
    } catch {
      // Ended while listing.
    }
  }
  return found;
}

/** Entries of a directory, or [] when it does not exist. */
export function entries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Every path under `dir` whose name says it is a temp file of rkt's (temp + rename, or a store's temp entry). */
export function tempFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    let names;
    try {
      names = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of names) {
      const p = join(d, e.name);
      if (/\.tmp$|^(write|import|render|claim|hold|index|new|old|embryo)-[0-9]+\.|^\.overlay-probe-/.test(e.name)) found.push(p);
      // Never into a pod's app root filesystems (the image's own files) or the store's trees.
      if (e.isDirectory() && !e.isSymbolicLink() && e.name !== 'rootfs' && e.name !== 'trees' && e.name !== 'index') walk(p);
    }
  };
  walk(dir);
  return found;
}

/**
 * Runs `check` for every point and collects the failures, so that one run names every kill point that breaks
 * the standard; fails if fewer than 80% of the points were reached (a sweep that kills nothing proves nothing;
 * a point in another thread, or a call a run makes fewer times than the chosen one, may not be).
 * RKT_KILL_SWEEP_LOG=1 prints each point and the call it killed at.
 */
export async function sweep(points: readonly KillPoint[], check: (p: KillPoint) => Promise<KilledRun>): Promise<void> {
  const failures: string[] = [];
  let killed = 0;
  for (const p of points) {
    try {
      const k = await check(p);
      if (process.env.RKT_KILL_SWEEP_LOG !== undefined) console.log(`${p.anyThread ? 'any thread ' : ''}${p.syscall}#${p.when} -> ${k.at.slice(0, 240)}`);
      if (k.killed) killed++;
    } catch (err) {
      failures.push(`${p.syscall}#${p.when} (${p.line}): ${(err as Error).message.split('\n').slice(0, 12).join('\n')}`);
      if (process.env.RKT_KILL_SWEEP_LOG !== undefined) console.log(`FAILED ${failures.at(-1)}`);
    }
  }
  expect(failures).toEqual([]);
  expect(killed, `kill points reached: ${killed} of ${points.length}`).toBeGreaterThanOrEqual(Math.ceil(points.length * 0.8));
}

export interface AfterKillChecks {
  /** Images the store may list after the kill. */
  readonly mayList: readonly string[];
  /** Images it must still list. */
  readonly kept?: readonly string[];
}

/**
 * What a user checks after a kill: the store opens and lists only complete images (`rkt image verify` passes),
 * `rkt list` works, `rkt gc --grace-period=0s` and `rkt image gc` succeed and leave no temp or partial files,
 * no pod half made or half removed, and no mount or process of a pod gone. Returns the images listed.
 */
export async function expectRecovers(env: RktEnv, where: string, c: AfterKillChecks): Promise<string[]> {
  const list = env.run(['image', 'list', '--no-legend', '--full', '--fields=id']);
  expect(list.status, `${where}: rkt image list: ${list.stderr}`).toBe(0);
  const ids = list.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '').sort();
  for (const id of ids) expect(c.mayList, `${where}: image list shows ${id}`).toContain(id);
  for (const id of c.kept ?? []) expect(ids, `${where}: image ${id} is gone`).toContain(id);
  if (ids.length > 0) {
    const verify = env.run(['image', 'verify', ...ids]);
    expect(verify.status, `${where}: rkt image verify: ${verify.stdout}${verify.stderr}`).toBe(0);
  }
  const pods = env.run(['list', '--format=json']);
  expect(pods.status, `${where}: rkt list: ${pods.stderr}`).toBe(0);

  const podsBefore = env.podUuids();
  const gc = env.run(['gc', '--grace-period=0s']);
  expect(gc.status, `${where}: rkt gc: ${gc.stderr}`).toBe(0);
  const imageGc = env.run(['image', 'gc']);
  expect(imageGc.status, `${where}: rkt image gc: ${imageGc.stderr}`).toBe(0);

  // What is left is whole: no temp entry anywhere, nothing in the store's work and trash directories, every
  // image and tree directory recorded, no pod half made or half removed, nothing mounted or running for a pod
  // gone. (An image gc keeps images used within a day: the same as listed before it.)
  const cas = join(env.dataDir, 'cas');
  expect(tempFiles(env.dataDir), `${where}: temp files left`).toEqual([]);
  expect(entries(join(cas, 'tmp')), `${where}: cas/tmp`).toEqual([]);
  expect(entries(join(cas, 'trash')), `${where}: cas/trash`).toEqual([]);
  expect(entries(join(cas, 'images')), `${where}: image directories`).toEqual(ids);
  if (existsSync(cas)) {
    const trees = (await (await openStore({ dir: env.dataDir })).trees()).map((t) => t.id).sort();
    expect(entries(join(cas, 'trees')), `${where}: tree directories`).toEqual(trees);
  }
  for (const state of ['embryo', 'prepare', 'run', 'exited-garbage', 'garbage']) {
    expect(entries(join(env.dataDir, 'pods', state)), `${where}: pods/${state}`).toEqual([]);
  }
  const prepared = entries(join(env.dataDir, 'pods', 'prepared'));
  const refs = entries(join(cas, 'refs')).map((f) => f.replace(/\.json$/, ''));
  expect(refs.filter((u) => !prepared.includes(u)), `${where}: references of pods gone`).toEqual([]);
  expect(env.mounts(), `${where}: mounts left`).toEqual([]);
  for (const uuid of podsBefore) if (!prepared.includes(uuid)) expect(podProcesses(uuid), `${where}: processes of pod ${uuid}`).toEqual([]);
  return ids;
}

/**
 * For a file whose every rkt, the traced ones too, runs with rkt's app experiment on (RKT_EXPERIMENT_APP) and
 * whose sweeps need strace: the variable set before its tests and put back after them.
 */
/** Sets these experiments' variables (RKT_EXPERIMENT_APP...) to `true` for the file's tests, restored after them. */
export function withExperiments(...names: readonly string[]): void {
  const before = new Map<string, string | undefined>();
  beforeAll(() => {
    for (const v of names) {
      before.set(v, process.env[v]);
      process.env[v] = 'true';
    }
  });
  afterAll(() => {
    for (const v of names) {
      const was = before.get(v);
      if (was === undefined) delete process.env[v];
      else process.env[v] = was;
    }
  });
}

export function withAppExperimentAndStrace(): void {
  beforeAll(() => {
    const missing = straceMissing();
    if (missing !== undefined) throw new Error(missing);
  });
  withExperiments('RKT_EXPERIMENT_APP');
}

/** The processes whose parent is `ppid`, with their command lines: a command's child to kill by itself. */
export function childrenOf(ppid: number): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== ppid) continue;
      found.push({ pid: Number(pid), cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ') });
    } catch {
      // Ended while listing.
    }
  }
  return found;
}
