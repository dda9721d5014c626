import { readFileSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';

/**
 * How a stop asked the pod to end: `TERM`, a halt (`rkt stop`: each app gets SIGTERM, then its post-stop
 * handler), or `KILL` (`rkt stop --force`: the pod's PID 1 is killed, and every process with it).
 */
export type StopKind = 'TERM' | 'KILL';

/** In the pod directory: written by the stop entrypoint before it signals anything. */
const STOP_FILE = 'stage1-stop';

/**
 * Notes a stop in the pod directory. The stop entrypoint writes it before it looks for a pid to signal,
 * and the run entrypoint reads it after it wrote nspawn's pid (`ppid`): of the two, at least one sees the
 * other, so a stop that finds no pid yet (the run entrypoint is still writing the units, or nspawn still
 * setting the pod up) is not lost. The
 * note also tells the statuses apart at the end: an app without one was stopped before it ran.
 */
export function noteStop(podDir: string, kind: StopKind): void {
  // A forced stop after a halt stays forced.
  if (kind === 'TERM' && readStop(podDir) === 'KILL') return;
  writeFileSync(join(podDir, STOP_FILE), `${kind}\n`);
}

/** The stop noted in the pod directory, if any; a note caught half written is a stop all the same. */
export function readStop(podDir: string): StopKind | undefined {
  let text: string;
  try {
    text = readFileSync(join(podDir, STOP_FILE), 'utf8');
  } catch {
    return undefined;
  }
  return text.trim() === 'KILL' ? 'KILL' : 'TERM';
}

/** The status of an app that such a stop ended (or ended before it ran): 128 + the signal's number, as rkt reports a killed app. */
export function stopStatus(kind: StopKind): number {
  return 128 + osConstants.signals[kind === 'KILL' ? 'SIGKILL' : 'SIGTERM'];
}
