import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopPodProcesses } from '@rkt/controller/stage1-abi';
import { podTakesHalt } from '../halt.js';
import { fail, parseEntrypointArgs } from './args.js';

/** How long a stop waits for a booting pod's systemd to take the halt before passing it on anyway. */
const BOOT_WAIT_MS = 10_000;

/**
 * A pod stopped while its systemd is still starting would lose the halt (see podTakesHalt): wait, briefly,
 * for systemd to catch it, or for the pod to be gone.
 */
function waitForHalt(podDir: string): void {
  let nspawnPid: number;
  try {
    nspawnPid = Number(readFileSync(join(podDir, 'ppid'), 'utf8').trim());
  } catch {
    return;
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const end = Date.now() + BOOT_WAIT_MS; Date.now() < end; Atomics.wait(pause, 0, 0, 10)) {
    if (podTakesHalt(nspawnPid) || !existsSync(`/proc/${nspawnPid}`)) return;
  }
}

/**
 * `coreos.com/rkt/stage1/stop`: `[--force] UUID`, in the pod directory. SIGTERM to systemd-nspawn (the
 * `ppid` file) makes it power the pod's systemd off: every app's unit is stopped (SIGTERM, then its
 * post-stop handlers). --force SIGKILLs the pod's PID 1, which takes down its whole pid namespace.
 */
try {
  const force = parseEntrypointArgs(process.argv.slice(2)).options.get('force') === 'true';
  if (!force) waitForHalt(process.cwd());
  stopPodProcesses(process.cwd(), force);
} catch (err) {
  fail('stop', err);
}
