// A pod's own files are durable before anything relies on them: every directory of the pod that a file is
// renamed (or a directory made, a link made) into is fsync'ed after the last such change in it, as strace -f -y
// shows the calls (the thread pool's fsyncs too, each descriptor with its path). A file's own fsync does not keep
// its name (POSIX): `rkt prepare` syncs them before the pod is renamed into `prepared/`, `rkt run` (fly) before
// the stage1 is executed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { joinCalls } from '../crash/kill-sweep.js';
import { buildBusyboxAci, ensureBuilt, rktBin, RktEnv, STAGE1S, prepareStage1Stores } from './harness.js';

const fly = STAGE1S.find((s) => s.name === 'fly')!;
const straceMissing = spawnSync('strace', ['-V']).status !== 0;
let env: RktEnv;
let aci: string;

beforeAll(() => {
  ensureBuilt();
  // The stage1's store template once for the file: each test's seed is then a copy (seedStage1).
  prepareStage1Stores(fly);
}, 600_000);
beforeEach(async () => {
  env = new RktEnv(fly);
  env.seedStage1();
  aci = await buildBusyboxAci(env.tmp);
  expect(env.run(['fetch', aci]).status).toBe(0);
});
afterEach(async () => {
  await env.cleanup();
});

const esc = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `rkt ARGS` under strace -f -y; its calls, one complete call per line (unfinished and resumed joined), in start order. */
function traced(args: readonly string[]): string[] {
  const trace = join(env.tmp, 'trace');
  const r = spawnSync('strace', ['-f', '-qq', '-y', '-o', trace, '-e', 'trace=rename,renameat,renameat2,symlink,symlinkat,mkdir,mkdirat,fsync,execve', '--', rktBin, ...env.args(args)], { cwd: env.tmp, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return joinCalls(readFileSync(trace, 'utf8').split('\n')).map((c) => c.text);
}

/**
 * The pod's directories (relative to the pod directory, '' for itself) that a call before `end` changed (a
 * rename, link or mkdir into it), each with the index of its last change and of the first fsync of it after
 * that (-1: none before `end`). The app's root filesystem and overlay dirs are the image's and the mount's.
 */
function changesAndSyncs(calls: readonly string[], pod: RegExp, end: number): Map<string, { changed: number; synced: number }> {
  const dirs = new Map<string, { changed: number; synced: number }>();
  const within = (path: string): string | undefined => {
    const m = pod.exec(path);
    return m === null ? undefined : path.slice(m[0].length).replace(/^\//, '');
  };
  for (const [i, c] of calls.slice(0, end).entries()) {
    if (!c.endsWith(' = 0')) continue;
    const sync = /^fsync\([0-9]+<([^>]*)>\)/.exec(c);
    if (sync !== null) {
      const d = within(sync[1]!);
      const seen = d !== undefined ? dirs.get(d) : undefined;
      if (seen !== undefined && seen.synced < 0) seen.synced = i;
      continue;
    }
    // The last path of the call is what it made: rename's new name, symlink's link, mkdir's directory.
    if (!/^(rename|renameat2?|symlink|symlinkat|mkdir|mkdirat)\(/.test(c)) continue;
    const paths = [...c.matchAll(/"([^"]*)"/g)].map((p) => p[1]!);
    const made = within(paths.at(-1) ?? '');
    if (made === undefined || made === '') continue;
    const parent = made.includes('/') ? made.slice(0, made.lastIndexOf('/')) : '';
    if (/(^|\/)(rootfs|upper|work)(\/|$)/.test(parent)) continue;
    dirs.set(parent, { changed: i, synced: -1 });
  }
  return dirs;
}

describe.skipIf(straceMissing)('the pod directory is synced after its files are renamed into it (fly)', () => {
  it('rkt prepare: every directory of the pod it wrote is fsynced after its last change, before the pod is prepared', () => {
    const calls = traced(['prepare', aci]);
    const podsDir = esc(join(env.dataDir, 'pods'));
    const toPrepared = calls.findIndex((c) => new RegExp(`^rename(at2?)?\\(.*"${podsDir}/prepare/[0-9a-f-]{36}", .*"${podsDir}/prepared/[0-9a-f-]{36}".* = 0$`).test(c));
    expect(toPrepared, `the pod's rename into prepared/, among:\n${calls.join('\n')}`).toBeGreaterThan(0);
    const dirs = changesAndSyncs(calls, new RegExp(`^${podsDir}/prepare/[0-9a-f-]{36}`), toPrepared);
    // The pod manifest and the record in the pod directory, the stage1's manifest and the app's files below it.
    expect([...dirs.keys()].sort()).toEqual(['', 'appsinfo', 'appsinfo/busybox', 'appsinfo/busybox/overlay', 'stage1']);
    for (const [d, { changed, synced }] of dirs) expect(synced, `the fsync of ${d === '' ? 'the pod directory' : d} after ${calls[changed]}`).toBeGreaterThan(changed);
  });

  it('rkt run: every directory of the pod is fsynced after its last change, before the stage1 is executed', () => {
    const calls = traced(['run', aci]);
    const podsDir = esc(join(env.dataDir, 'pods'));
    // The stage1's run entrypoint, executed by stage0 in the pod directory (through its stage1/rootfs link).
    const exec = calls.findIndex((c) => /^execve\(/.test(c) && c.includes('/stage1/rootfs/'));
    expect(exec, `the stage1's execve, among:\n${calls.join('\n')}`).toBeGreaterThan(0);
    // The pod moves from prepare/ through prepared/ to run/ meanwhile: its directories are the same whatever the state dir.
    const dirs = changesAndSyncs(calls, new RegExp(`^${podsDir}/(prepare|prepared|run)/[0-9a-f-]{36}`), exec);
    expect([...dirs.keys()].sort()).toEqual(['', 'appsinfo', 'appsinfo/busybox', 'appsinfo/busybox/overlay', 'stage1']);
    for (const [d, { changed, synced }] of dirs) expect(synced, `the fsync of ${d === '' ? 'the pod directory' : d} after ${calls[changed]}`).toBeGreaterThan(changed);
    // The store's reference of the pod, which keeps its trees from image gc: renamed into cas/refs/, which is
    // synced after it (the store hands that sync to the run) and before the stage1 too.
    const refs = esc(join(env.dataDir, 'cas', 'refs'));
    const referenced = calls.findIndex((c) => new RegExp(`^rename(at2?)?\\(.*"${refs}/[0-9a-f-]{36}\\.json".* = 0$`).test(c));
    expect(referenced, `the reference's rename, among:\n${calls.join('\n')}`).toBeGreaterThan(0);
    expect(referenced).toBeLessThan(exec);
    const refsSynced = calls.findIndex((c, i) => i > referenced && new RegExp(`^fsync\\([0-9]+<${refs}>\\) = 0$`).test(c));
    expect(refsSynced, `the fsync of cas/refs after ${calls[referenced]}`).toBeGreaterThan(referenced);
    expect(refsSynced).toBeLessThan(exec);
  });

  // An empty volume is a directory made in the pod's volumes/ (one mounted, one no app mounts): volumes/ is
  // synced after the last of them, by prepare and by run alike.
  const withVolumes = (): string[] => ['--volume=spare,kind=empty', '--volume=data,kind=empty,mode=0700', aci, '--mount=volume=data,target=/data'];

  it('rkt prepare with empty volumes: volumes/ is fsynced after its last volume is made, before the pod is prepared', () => {
    const calls = traced(['prepare', ...withVolumes()]);
    const podsDir = esc(join(env.dataDir, 'pods'));
    const toPrepared = calls.findIndex((c) => new RegExp(`^rename(at2?)?\\(.*"${podsDir}/prepare/[0-9a-f-]{36}", .*"${podsDir}/prepared/[0-9a-f-]{36}".* = 0$`).test(c));
    expect(toPrepared, `the pod's rename into prepared/, among:\n${calls.join('\n')}`).toBeGreaterThan(0);
    const dirs = changesAndSyncs(calls, new RegExp(`^${podsDir}/prepare/[0-9a-f-]{36}`), toPrepared);
    expect([...dirs.keys()].sort()).toEqual(['', 'appsinfo', 'appsinfo/busybox', 'appsinfo/busybox/overlay', 'stage1', 'volumes']);
    for (const [d, { changed, synced }] of dirs) expect(synced, `the fsync of ${d === '' ? 'the pod directory' : d} after ${calls[changed]}`).toBeGreaterThan(changed);
  });

  it('rkt run with empty volumes: volumes/ is fsynced after its last volume is made, before the stage1 is executed', () => {
    const calls = traced(['run', ...withVolumes(), '--exec=/bin/sh', '--', '-c', 'test -d /data']);
    const podsDir = esc(join(env.dataDir, 'pods'));
    const exec = calls.findIndex((c) => /^execve\(/.test(c) && c.includes('/stage1/rootfs/'));
    expect(exec, `the stage1's execve, among:\n${calls.join('\n')}`).toBeGreaterThan(0);
    const dirs = changesAndSyncs(calls, new RegExp(`^${podsDir}/(prepare|prepared|run)/[0-9a-f-]{36}`), exec);
    expect([...dirs.keys()].sort()).toEqual(['', 'appsinfo', 'appsinfo/busybox', 'appsinfo/busybox/overlay', 'stage1', 'volumes']);
    for (const [d, { changed, synced }] of dirs) expect(synced, `the fsync of ${d === '' ? 'the pod directory' : d} after ${calls[changed]}`).toBeGreaterThan(changed);
  });
});
