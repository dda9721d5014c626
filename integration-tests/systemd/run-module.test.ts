// The systemd stage1's run entrypoint as a module in rkt's own process (rkt-ts.dev/stage1/run-module):
// what a user sees of it (no second Node process in the pod's process tree, rkt itself nspawn's parent),
// the fallback to executing /rkt/run when the module cannot be used, and a kill -9 of rkt run, which
// leaves no process of rkt's own to end the pod, still ending it.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, podCgroups, podProcesses, RktEnv, STAGE1S } from '../pods/harness.js';

const systemd = STAGE1S.find((s) => s.name === 'systemd')!;
let env: RktEnv;
let aci: string;

beforeAll(() => ensureBuilt(), 600_000);
beforeEach(async () => {
  env = new RktEnv(systemd);
  aci = await buildBusyboxAci(env.tmp);
});
afterEach(async () => {
  await env.cleanup();
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

/** Nothing of the pod is left on the host once it exited and was collected. */
function expectCollected(uuid: string): void {
  expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
  expect(podProcesses(uuid)).toEqual([]);
  expect(podCgroups(uuid)).toEqual([]);
  expect(env.mounts()).toEqual([]);
}

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
    expectCollected(uuid);
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
      expectCollected(uuid);
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
    expectCollected(uuid);
  });
});
