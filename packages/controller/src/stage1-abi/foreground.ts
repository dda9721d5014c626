import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

/**
 * Waits for a child that has the terminal (an entered command), as a shell waits for its foreground
 * job: ^C and ^\ reach the child directly (the terminal signals its whole process group), so this
 * process ignores them rather than die first; SIGTERM and SIGHUP sent to it are passed on. Resolves
 * to the child's exit status, 128 + signal when it was killed.
 */
export async function waitForeground(child: ChildProcess, what: string): Promise<number> {
  const ignore = (): void => {};
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new Error(`cannot run ${what}: ${err.message}`, { cause: err })));
      child.once('exit', (code, sig) => resolve(code ?? 128 + (sig === null ? 0 : constants.signals[sig])));
    });
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGQUIT', ignore);
    process.off('SIGTERM', forward);
    process.off('SIGHUP', forward);
  }
}
