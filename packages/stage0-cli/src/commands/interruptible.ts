import { markAtypicalRun } from '../code-cache.js';

/**
 * The signals that ask a command to stop (^C at a terminal, `kill`, the terminal closed), with the status a
 * shell reports for a process they end: 128 + the signal's number, as EXIT_BROKEN_PIPE is for SIGPIPE.
 */
const STOP_SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const;

/**
 * Runs `work` with SIGINT, SIGTERM and SIGHUP turned into an abort of the signal it is given, as `rkt events`
 * and `rkt metadata-service` stop on theirs: a listener for the command's duration, so that its clean-up
 * (finally blocks) runs where Node's default action would end the process at once, leaving the temp file a
 * write beside its output had made (`rkt export`, `rkt image export`). Once one of them came, the command
 * ends silently with the status a shell gives a process that signal killed (130, 143, 129): whatever `work`
 * threw then was the signal's doing (a terminal's ^C reaches the command's helpers too). Later signals only
 * let the clean-up finish. Returns that status, or undefined when no signal came.
 */
export async function interruptible(work: (signal: AbortSignal) => Promise<void>): Promise<number | undefined> {
  const controller = new AbortController();
  const received: { status?: number } = {};
  const listeners = STOP_SIGNALS.map(([name, status]) => {
    const listener = (): void => {
      received.status ??= status;
      controller.abort(new Error(`interrupted by ${name}`));
    };
    process.on(name, listener);
    return [name, listener] as const;
  });
  try {
    await work(controller.signal);
  } catch (err) {
    if (received.status === undefined) throw err;
  } finally {
    for (const [name, listener] of listeners) process.off(name, listener);
  }
  // The code cache of a run cut short would hold only part of the command.
  if (received.status !== undefined) markAtypicalRun();
  return received.status;
}
