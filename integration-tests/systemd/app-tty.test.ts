// rkt's tty mode for an app added to a running sandbox (`rkt app add --stdin=tty --stdout=tty --stderr=tty`, which
// rkt 1.30's app add took: its stage1's app-add wrote the unit through the same SetupAppIO as run's, with a ttymux
// in the pod): the app's own terminal, through `rkt attach`, run after run (`rkt app start` again), and nothing of
// it left after `rkt app rm`, stop and gc.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rktBin, type RktResult } from '../pods/harness.js';
import { expectNothingLeft, systemdPodTests } from './harness.js';

const pods = systemdPodTests();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EXPERIMENTS = { RKT_EXPERIMENT_APP: 'true', RKT_EXPERIMENT_ATTACH: 'true' };

describe('rkt app add --stdin=tty --stdout=tty --stderr=tty (systemd sandbox)', () => {
  // In a pod of its own user namespace too, where the terminal is its root's (`stat` shows 0 there, not nobody).
  it.each([[[] as string[]], [['--private-users']]])('the added app has a terminal of its own, reached through rkt attach, run after run (sandbox flags %j)', async (flags) => {
    const { env, aci } = pods;
    const rkt = (args: readonly string[], input?: string): RktResult => {
      const r = spawnSync(rktBin, env.args(args), { cwd: env.tmp, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...EXPERIMENTS }, ...(input !== undefined ? { input } : {}) });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const ok = (what: string, r: RktResult): RktResult => (expect(r.status, `${what}: ${r.stderr}`).toBe(0), r);
    ok('rkt fetch', rkt(['fetch', aci]));
    const sandbox = env.start(['app', 'sandbox', ...flags, `--stage1-path=${env.stage1!.aci}`], { env: EXPERIMENTS });
    const { uuid } = await env.waitRunning();
    const podDir = join(env.dataDir, 'pods', 'run', uuid);
    // It reads a line first: nothing it prints is lost before the attach (a tty's output with no client goes nowhere).
    const script = 'read x; tty; stat -c "owner %u" "$(tty)"; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all three a terminal; echo "got $x"; stty size';
    ok('rkt app add', rkt(['app', 'add', uuid, 'example.com/busybox', '--name=term', '--stdin=tty', '--stdout=tty', '--stderr=tty', '--exec=/bin/sh', '--', '-c', script]));
    expect(ok('rkt app list', rkt(['app', 'list', '--no-legend', uuid])).stdout).toBe('term\tcreated\n');
    // One endpoint, the terminal, from the add on (rkt's ttymux).
    const listed = JSON.parse(ok('rkt attach --mode=list', rkt(['attach', '--app=term', '--mode=list', uuid])).stdout) as { targets: { name: string }[] };
    expect(listed.targets.map((t) => t.name)).toEqual(['tty']);
    for (const run of ['one', 'two']) {
      ok(`run ${run}: rkt app start`, rkt(['app', 'start', uuid, '--app=term']));
      // The terminal echoes the typed line, ends each line with \r\n, and is 24x80 until an attach gives a size.
      const attached = rkt(['attach', '--app=term', uuid], `${run}\n`);
      expect(attached, `run ${run}: ${attached.stderr}`).toMatchObject({ status: 0, stdout: `${run}\r\n/opt/stage2/term/tty\r\nowner 0\r\nall three a terminal\r\ngot ${run}\r\n24 80\r\n` });
      for (let i = 0; i < 200 && !/^term\texited\n$/.test(rkt(['app', 'list', '--no-legend', uuid]).stdout); i++) await sleep(50);
      expect(JSON.parse(ok('rkt app status', rkt(['app', 'status', '--format=json', uuid, '--app=term'])).stdout)).toMatchObject({ state: 'exited', exit_code: 0 });
    }
    ok('rkt app rm', rkt(['app', 'rm', uuid, '--app=term']));
    expect(env.mounts().filter((m) => m.includes('/appsinfo/term')), 'the app\'s mounts (its terminals too)').toEqual([]);
    expect(existsSync(join(podDir, 'stage1-attach', 'term')), 'its attach endpoints').toBe(false);
    ok('rkt stop', env.run(['stop', uuid]));
    const done = await sandbox.done;
    expect(done.status, done.stderr).toBe(0);
    const ended = join(env.dataDir, 'pods', existsSync(join(env.dataDir, 'pods', 'run', uuid)) ? 'run' : 'exited-garbage', uuid);
    expect(readdirSync(join(ended, 'stage1-attach')), 'attach directories after the pod').toEqual([]);
    expectNothingLeft(env, uuid);
  }, 180_000);
});
