// A mutable pod's watcher of app exits (watchMutableAppExits) on a real pod directory, with the manifest lock held
// by a real process (util-linux flock(1), as `rkt app start` holds it): an exit waits while a command holds the lock,
// is told once the holder is killed with -9, and an exit older than the run's mark is not that run's.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { watchMutableAppExits } from '../src/app-exits.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pod: string;
const holders: ChildProcess[] = [];
let stops: Array<() => void> = [];

beforeEach(() => {
  pod = mkdtempSync(join(tmpdir(), 'rkt-app-exits-'));
  mkdirSync(join(pod, 'appsinfo', 'quitter'), { recursive: true });
});

afterEach(async () => {
  for (const s of stops) s();
  stops = [];
  for (const h of holders.splice(0)) {
    if (h.exitCode === null && h.signalCode === null) await killGroup(h);
  }
  rmSync(pod, { recursive: true, force: true });
});

/** kill -9 of a holder's whole group (flock(1) and its command, which shares its lock): as of `rkt app start`'s. */
async function killGroup(h: ChildProcess): Promise<void> {
  const exited = new Promise((r) => h.once('exit', r));
  process.kill(-(h.pid as number), 'SIGKILL');
  await exited;
}

/** A process group holding the pod's manifest lock, resolved once it has it. */
async function holdLock(): Promise<ChildProcess> {
  const child = spawn('flock', [join(pod, 'pod.lck'), 'sh', '-c', 'echo locked; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  holders.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', () => reject(new Error('flock(1) ended before it had the lock')));
  });
  return child;
}

function watch(): Array<[string, number]> {
  const told: Array<[string, number]> = [];
  const w = watchMutableAppExits(pod, (app, status) => told.push([app, status]), 20);
  stops.push(() => w.stop());
  return told;
}

const app = (f: string) => join(pod, 'appsinfo', 'quitter', f);

describe('watchMutableAppExits', () => {
  it('holds an exit while an app command holds the manifest lock, and tells it once the holder is killed -9', async () => {
    const holder = await holdLock();
    const told = watch();
    writeFileSync(app('started'), '');
    writeFileSync(app('exit'), '3\n');
    await sleep(300);
    expect(told).toEqual([]);
    await killGroup(holder);
    await sleep(300);
    expect(told).toEqual([['quitter', 3]]);
    // Told once per run: the exit written again for the same run (the stage1's stop and its status watcher both write it).
    writeFileSync(app('exit'), '3\n');
    await sleep(200);
    expect(told).toEqual([['quitter', 3]]);
  });

  it("tells each run's exit once, and not the last run's exit left beside a new run's mark", async () => {
    const told = watch();
    writeFileSync(app('started'), '');
    writeFileSync(app('exit'), '3\n');
    await sleep(200);
    expect(told).toEqual([['quitter', 3]]);
    // A new run marked a second later, its stage1's start not yet past: the exit there is the last run's.
    const later = new Date(Date.now() + 1000);
    utimesSync(app('started'), later, later);
    await sleep(200);
    expect(told).toEqual([['quitter', 3]]);
    // Its own exit, written after its mark.
    const after = new Date(later.getTime() + 1000);
    writeFileSync(app('exit'), '7\n');
    utimesSync(app('exit'), after, after);
    await sleep(200);
    expect(told).toEqual([['quitter', 3], ['quitter', 7]]);
  });
});
