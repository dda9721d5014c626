// `rkt export` and `rkt image export` write their output beside it first (`.OUT.aci.<pid>.<starttime>.<random>.tmp`)
// and rename it into place. Stopped by ^C, SIGTERM or SIGHUP they remove that temp file and end quietly with the
// status a shell gives the signal; after a kill -9 the temp file stays, named after a process that is gone, and
// the next export into that directory removes it (a live writer's is kept). The built bin/rkt, real fly pods.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAci } from '@rkt/appc-spec';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, podProcesses, rktBin, RktEnv, STAGE1S } from '../pods/harness.js';

let env: RktEnv;
const started = new Set<ChildProcess>();

beforeAll(() => ensureBuilt(), 600_000);
afterEach(async () => {
  for (const c of started) if (c.pid !== undefined) signalGroup(c.pid, 'SIGKILL');
  started.clear();
  await env.cleanup();
});

const fly = STAGE1S.find((s) => s.name === 'fly')!;

/** The signals a user stops a command with, the status a shell reports for each, and whether they reach the whole process group (a terminal's ^C). */
const SIGNALS = [
  { signal: 'SIGINT', status: 130, group: true },
  { signal: 'SIGTERM', status: 143, group: false },
  { signal: 'SIGHUP', status: 129, group: false },
] as const;

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Gone.
  }
}

const temps = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.tmp')).sort();

/** This process's start time (field 22 of /proc/self/stat): with the pid, the name of a live writer. */
function ownStartTime(): string {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

/**
 * rkt in a process group of its own (as a shell's job), signalled once its temp file appears in `dir`.
 * Resolves with how it ended, once nothing of its group (the export's mount helper) is left.
 */
async function signalledOnceWriting(args: string[], dir: string, signal: NodeJS.Signals, group: boolean): Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }> {
  const child = spawn(rktBin, env.args(args), { cwd: env.tmp, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const ended = new Promise<{ status: number | null; signal: string | null }>((resolve) => child.once('close', (status, sig) => resolve({ status, signal: sig })));
  let exited = false;
  void ended.then(() => (exited = true));
  const deadline = Date.now() + 30_000;
  while (temps(dir).length === 0) {
    if (exited || Date.now() > deadline) throw new Error(`rkt ${args.join(' ')} made no temp file in ${dir} (${exited ? 'it ended' : 'timed out'}): ${stderr}`);
    await new Promise((r) => setTimeout(r, 1));
  }
  if (group) signalGroup(child.pid!, signal);
  else child.kill(signal);
  const end = await ended;
  for (let i = 0; i < 500 && spawnSync('pgrep', ['-g', String(child.pid)]).status === 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(spawnSync('pgrep', ['-g', String(child.pid)], { encoding: 'utf8' }).stdout, 'processes left of the export').toBe('');
  started.delete(child);
  return { ...end, stdout, stderr };
}

/** A fly pod that exited, whose app left 24 MB of random data in its root: its export takes a second or more. */
async function bigExitedPod(): Promise<string> {
  const aci = await buildBusyboxAci(env.tmp);
  const r = env.run(['run', aci, '--exec', '/bin/sh', '--', '-c', '/bin/busybox head -c 24000000 /dev/urandom > /big']);
  expect(r.status, r.stderr).toBe(0);
  const pods = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string }[];
  expect(pods).toHaveLength(1);
  return pods[0]!.name;
}

describe('rkt export (fly) stopped or killed while it writes', () => {
  it('^C, SIGTERM or SIGHUP: the temp file removed, nothing said, the signal\'s status; the pod exited and unlocked, nothing mounted', async () => {
    env = new RktEnv(fly);
    const uuid = await bigExitedPod();
    const mountsBefore = env.mounts();
    for (const s of SIGNALS) {
      const r = await signalledOnceWriting(['export', uuid, 'out.aci'], env.tmp, s.signal, s.group);
      expect(r, s.signal).toEqual({ status: s.status, signal: null, stdout: '', stderr: '' });
      expect(temps(env.tmp), s.signal).toEqual([]);
      expect(existsSync(join(env.tmp, 'out.aci')), s.signal).toBe(false);
      expect(env.mounts(), s.signal).toEqual(mountsBefore);
      expect(env.status(uuid).state, s.signal).toBe('exited');
    }
    expect(env.run(['export', uuid, 'out.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(readdirSync(env.tmp).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(env.run(['rm', uuid])).toMatchObject({ status: 0, stderr: '' });
    expect(podProcesses(uuid)).toEqual([]);
  }, 180_000);

  it("after a kill -9 the next export into the directory removes the dead writer's temp file, not a live writer's", async () => {
    env = new RktEnv(fly);
    const uuid = await bigExitedPod();
    const r = await signalledOnceWriting(['export', uuid, 'out.aci'], env.tmp, 'SIGKILL', false);
    expect(r.signal).toBe('SIGKILL');
    const dead = temps(env.tmp);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatch(/^\.out\.aci\.[0-9]+\.[0-9]+\.[0-9a-f]{12}\.tmp$/);
    // One named after this process, which runs: a writer still at work.
    const live = `.other.aci.${process.pid}.${ownStartTime()}.0123456789ab.tmp`;
    writeFileSync(join(env.tmp, live), 'partial');
    expect(env.run(['export', uuid, 'again.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(temps(env.tmp)).toEqual([live]);
    expect(existsSync(join(env.tmp, 'out.aci'))).toBe(false);
    expect(env.status(uuid).state).toBe('exited');
  }, 180_000);
});

describe('rkt image export stopped or killed while it copies', () => {
  /** A 160 MB image (zeros: the store keeps it uncompressed), so that the copy lasts a moment. */
  async function bigImage(): Promise<string> {
    const file = join(env.tmp, 'big.aci');
    const manifest = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/big', labels: [{ name: 'version', value: '1.0' }] };
    await buildAci(JSON.stringify(manifest), [{ type: 'file', path: 'big', data: Buffer.alloc(160 << 20) }], file);
    const r = env.run(['fetch', file]);
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.trim();
  }

  it('^C, SIGTERM or SIGHUP: the temp file removed, nothing said, the signal\'s status', async () => {
    env = new RktEnv();
    const id = await bigImage();
    const out = join(env.tmp, 'out');
    mkdirSync(out);
    for (const s of SIGNALS) {
      const r = await signalledOnceWriting(['image', 'export', id, 'out/image.aci'], out, s.signal, s.group);
      expect(r, s.signal).toEqual({ status: s.status, signal: null, stdout: '', stderr: '' });
      // The copy may have ended before the signal was seen: then the file is whole.
      expect(readdirSync(out).filter((n) => n !== 'image.aci'), s.signal).toEqual([]);
      if (existsSync(join(out, 'image.aci'))) {
        expect(`sha512-${createHash('sha512').update(readFileSync(join(out, 'image.aci'))).digest('hex')}`).toBe(id);
        rmSync(join(out, 'image.aci'));
      }
    }
    expect(env.run(['image', 'export', id, 'out/image.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(readdirSync(out)).toEqual(['image.aci']);
  }, 180_000);

  it("after a kill -9 the next export into the directory removes the dead writer's temp file, not a live writer's", async () => {
    env = new RktEnv();
    const id = await bigImage();
    const out = join(env.tmp, 'out');
    mkdirSync(out);
    const killed = await signalledOnceWriting(['image', 'export', id, 'out/image.aci'], out, 'SIGKILL', false);
    expect(killed.signal).toBe('SIGKILL');
    expect(temps(out)).toHaveLength(1);
    const live = `.other.aci.${process.pid}.${ownStartTime()}.0123456789ab.tmp`;
    writeFileSync(join(out, live), 'partial');
    expect(env.run(['image', 'export', id, 'out/image.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(readdirSync(out).sort()).toEqual([live, 'image.aci'].sort());
  }, 180_000);

  it('the temp files older builds named .OUT.rkt-export-PID: a gone writer\'s removed, a live one\'s kept', async () => {
    env = new RktEnv();
    const file = join(env.tmp, 'small.aci');
    const manifest = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/small', labels: [{ name: 'version', value: '1.0' }] };
    await buildAci(JSON.stringify(manifest), [{ type: 'file', path: 'f', data: Buffer.from('x') }], file);
    const fetched = env.run(['--insecure-options=image', 'fetch', file]);
    expect(fetched.status, fetched.stderr).toBe(0);
    const out = join(env.tmp, 'out');
    mkdirSync(out);
    // A process that has ended: its pid names none now (a pid reused since would keep its temp, which is safe).
    const gone = spawnSync('true').pid!;
    const dead = [`.image.aci.rkt-export-${gone}`, `.old.aci.rkt-export-${gone}`];
    const live = `.other.aci.rkt-export-${process.pid}`;
    for (const n of [...dead, live]) writeFileSync(join(out, n), 'partial');
    expect(env.run(['image', 'export', fetched.stdout.trim(), 'out/image.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(readdirSync(out).sort()).toEqual([live, 'image.aci'].sort());
  }, 60_000);
});
