// The fly stage1 passes SIGTERM (as `rkt stop` and stage0 send it) on to its app: also one sent while fly is
// starting the app, when its signals are blocked around the clone (~1 ms). strace widens that window: it holds
// fly's clone(2) of the app for 0.7 s on its way out (and every other clone of the run, stage0's keeper's
// included), and the test sends SIGTERM to fly meanwhile. Until
// session 32 fly learned the app's pid only after letting signals in again, and such a SIGTERM went nowhere.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { busyboxAciOfFile, rktBin, STAGE1S, useSeededEnv } from './harness.js';

const testEnv = useSeededEnv(STAGE1S.find((s) => s.name === 'fly')!);
const aci = busyboxAciOfFile();

describe('fly: signals', () => {
  it('passes on a SIGTERM sent while it starts the app', async () => {
    const env = testEnv();
    const trace = join(env.tmp, 'trace');
    // The app's exec is traced too, so that strace prints fly's held clone as it begins (`<unfinished ...>`).
    const child = spawn(
      'strace',
      ['-f', '-qq', '-o', trace, '-e', 'trace=clone,execve', '-e', 'inject=clone:delay_exit=700000', '--', rktBin, ...env.args(['run', aci.path, '--exec=/bin/sh', '--', '-c', 'exec busybox sleep 20'])],
      { cwd: env.tmp, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      let fly: number | undefined;
      for (let i = 0; i < 600 && fly === undefined; i++) {
        const held = existsSync(trace) ? /^(\d+) +clone\([^\n]*CLONE_VFORK[^\n]*<unfinished \.\.\.>/m.exec(readFileSync(trace, 'utf8')) : null;
        if (held !== null) fly = Number(held[1]);
        else await new Promise((r) => setTimeout(r, 20));
      }
      expect(fly).toBeDefined();
      process.kill(fly!, 'SIGTERM');
      // The app ended by the signal (128 + 15), as `rkt run` reports it, long before its 20 s.
      expect(await exited).toBe(143);
      expect(stderr).toBe('');
      // Sent to the app by fly.
      expect(readFileSync(trace, 'utf8')).toContain(`--- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=${fly}, `);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  }, 60_000);
});
