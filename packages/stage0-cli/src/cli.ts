import { commandName, parseArgv } from './argv/parse.js';
import type { TextSink } from './command.js';
import { ROOT } from './commands/registry.js';
import { createContext, createLogger } from './context.js';
import { markAtypicalRun } from './code-cache.js';
import { clearLeanBundleMiss, leanBundleMissed } from './lean-bundle.js';
import { CliError, EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_MISSING_COMMAND } from './errors.js';
import { describeGlobalOptions, GLOBAL_FLAGS, globalOptions } from './globals.js';
import { fdSink } from './output/fd-sink.js';
import { reportError } from './report-error.js';
import { requireVendored, VENDOR_HOOK } from './vendored.js';

// writeCodeCache for bin/rkt, which loads this core from a V8 code cache; all four for the tests of the built core.
export { markAtypicalRun, requireCodeCached, writeCodeCache } from './code-cache.js';
export { requireVendored } from './vendored.js';

export interface CliIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Read only when a relative path needs it: rkt works in a deleted working directory otherwise. */
  readonly cwd: string;
}

/**
 * Runs one `rkt` invocation and returns its exit status. Never throws: every failure becomes one
 * line `<command>: <what went wrong>` on stderr (plus the stack under `--debug`) and status 254.
 * Without `given`, it is the executable: it uses the process's streams and working directory and
 * takes over the process's last-resort error and broken-pipe handling. Code embedding the CLI
 * passes its own `CliIo`.
 */
export async function runCli(argv: readonly string[], given?: CliIo): Promise<number> {
  // For the command bundles' footer (build/lazy-builtins.cjs): zod and openpgp through a code cache.
  (globalThis as Record<symbol, unknown>)[VENDOR_HOOK] ??= requireVendored;
  // Known before parsing succeeds, so that a bad flag's error can carry its stack too.
  const state = { command: 'rkt', debug: debugRequested(argv) };
  const io = given ?? processIo(state);
  let ended: (() => Promise<void>) | undefined;
  try {
    const inv = parseArgv(argv, ROOT, GLOBAL_FLAGS);
    const command = commandName(inv.path);
    state.command = command;
    const globals = globalOptions(inv.flags, () => io.cwd);
    state.debug = globals.debug;
    const log = createLogger(io.stderr, command, globals.debug);
    log.debug(describeGlobalOptions(globals));

    const leaf = inv.path[inv.path.length - 1];
    if (inv.flags.bool('help') || leaf?.load === undefined) {
      const { renderUsage } = await import('./help/usage.js');
      io.stdout.write(renderUsage(inv.path, ROOT, GLOBAL_FLAGS));
      if (inv.flags.bool('help')) return 0;
      // rkt printed the usage and "missing command", and exited 2.
      io.stderr.write(`${command}: missing command (run "rkt help" for usage)\n`);
      return EXIT_MISSING_COMMAND;
    }
    // A lean bundle where the command has one (its usual run in a third of the code to load), not under --debug.
    const loadLean = globals.debug ? undefined : leaf.loadLean;
    const lean = loadLean !== undefined;
    const mod = await (loadLean ?? leaf.load)();
    const ctx = createContext({
      command,
      globals,
      flags: inv.flags,
      argsLenAtDash: inv.argsLenAtDash,
      appArgs: inv.appArgs,
      stdout: io.stdout,
      stderr: io.stderr,
      cwd: () => io.cwd,
    });
    ended = () => ctx.ended();
    let status: number | void;
    try {
      status = await mod.run(ctx, inv.args);
    } catch (err) {
      const missed = lean ? leanBundleMissed() : undefined;
      if (missed === undefined) throw err;
      // Given to the full bundle from the start, as lean-bundle.ts says; the lean bundle's code cache is not
      // written from a run that stopped part way.
      clearLeanBundleMiss();
      markAtypicalRun();
      status = await (await leaf.load()).run(ctx, inv.args);
    }
    return typeof status === 'number' ? status : 0;
  } catch (err) {
    // A command bundle's code cache is written once, by the first run that needs it, and holds what that run
    // compiled: not by one that stopped part way (a pod that does not exist), which lacks most of the command.
    markAtypicalRun();
    reportError(io.stderr, state.command, err, state.debug);
    return EXIT_FAILURE;
  } finally {
    await ended?.();
  }
}

/**
 * The process's own streams, with their write failures handled, and a last resort for errors
 * no command awaited (a callback that threw): the same one line and 254 as any other failure.
 */
function processIo(state: { command: string; debug: boolean }): CliIo {
  const crash = (err: unknown) => {
    reportError(stderr, state.command, err, state.debug);
    process.exit(EXIT_FAILURE);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  const stdout = fdSink(1, () => process.stdout, (err) => {
    // A reader that stops early (`rkt image list | head -1`) closes the pipe. rkt died of SIGPIPE
    // there without a word; Node ignores SIGPIPE and reports EPIPE, so leave as quietly, with the
    // status a shell gives a process killed by SIGPIPE.
    if (err.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
    stderr.write(`rkt: cannot write the output: ${err.message}\n`);
    process.exit(EXIT_FAILURE);
  });
  // Nowhere left to report a failure to write the errors themselves.
  const stderr = fdSink(2, () => process.stderr, () => process.exit(EXIT_FAILURE));
  return {
    stdout,
    stderr,
    get cwd() {
      try {
        return process.cwd();
      } catch (err) {
        throw new CliError('CLI_WORKING_DIR', `cannot read the working directory: ${(err as Error).message}`, {
          cause: err,
        });
      }
    },
  };
}

/** `--debug` or `--debug=<true>` before any `--`. */
function debugRequested(argv: readonly string[]): boolean {
  let debug = false;
  for (const a of argv) {
    if (a === '--') break;
    if (a === '--debug') debug = true;
    else if (a.startsWith('--debug=')) debug = ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(a.slice(8));
  }
  return debug;
}
