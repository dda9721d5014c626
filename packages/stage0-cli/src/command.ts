import type { FlagSpec } from './argv/flag-spec.js';
import type { ParsedFlags } from './argv/parsed-flags.js';
import type { GlobalOptions } from './globals.js';

/** Where a command writes text: `process.stdout`/`process.stderr`, or a buffer in tests. */
export interface TextSink {
  write(chunk: string): unknown;
  /** Whether it is a terminal: a progress bar is drawn only then. */
  readonly isTTY?: boolean;
}

/** Lines on stderr prefixed with the command's name, as rkt's `stderr` logger did. */
export interface Logger {
  /** Printed only under `--debug`. */
  debug(message: string): void;
  /** Always printed: something the user should know that is not a failure. */
  warn(message: string): void;
}

export interface CommandContext {
  /** The command's path without `rkt`, e.g. `version` or `image list`; error lines start with it. */
  readonly command: string;
  readonly globals: GlobalOptions;
  /** This invocation's flags by name: the command's own, and the global ones (typed in `globals`). */
  readonly flags: ParsedFlags;
  /** How many positional arguments came before a `--`, or -1 without one (cobra's ArgsLenAtDash). */
  readonly argsLenAtDash: number;
  /** For a command with `appArgs`: each image's own arguments (those after its `--`), by position. */
  readonly appArgs: readonly (readonly string[])[];
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  readonly log: Logger;
  /** The working directory; reading it fails (a CliError) if that directory was deleted. */
  readonly cwd: string;
  /**
   * The data directory (`--dir`, else paths.d's `data`, else /var/lib/rkt) with symlinks resolved (a missing one
   * is returned as given), computed on first use: a malformed paths.d fails only a command that asks for it.
   */
  dataDir(): string;
  /**
   * Work that must finish before the process ends, whether the command succeeds or fails: events still on
   * their way to an event bus. Awaited in order after the command returns or throws; a task must not throw.
   */
  atEnd(task: () => Promise<void>): void;
}

/** What a command file exports. A returned number is the exit status (0 when nothing is returned). */
export interface CommandModule {
  run(ctx: CommandContext, args: readonly string[]): Promise<number | void> | number | void;
}

/**
 * One entry of the command table. Everything help and the parser need is here, so the command's
 * code (`load`) is imported only when that command runs.
 */
export interface CommandSpec {
  readonly name: string;
  /** One line, shown in command lists. */
  readonly summary: string;
  /** Paragraphs shown under DESCRIPTION by `rkt help <command>`. */
  readonly description?: string;
  /** The positional arguments in the usage line, e.g. `IMAGE...`. */
  readonly args?: string;
  /** Bounds on the number of positional arguments, checked before the command is loaded. */
  readonly minArgs?: number;
  readonly maxArgs?: number;
  readonly flags?: readonly FlagSpec[];
  /** Absent for a group such as `image`, which only holds subcommands. */
  readonly load?: () => Promise<CommandModule>;
  /**
   * The command's lean bundle (lean-bundle.ts), tried first where there is one (not under --debug): a run it
   * cannot complete is given to `load`'s from its start.
   */
  readonly loadLean?: () => Promise<CommandModule>;
  readonly subcommands?: readonly CommandSpec[];
  readonly hidden?: boolean;
  /** false: every word after the first positional argument is an argument, flags included (pflag's SetInterspersed). */
  readonly interspersed?: boolean;
  /**
   * rkt run's syntax (its parseApps): a `--` after an image starts that image's arguments, which a `---` ends;
   * flags are read again after it, and a `---` anywhere else is ignored. The arguments are in `appArgs`.
   */
  readonly appArgs?: boolean;
}

/** Identity, for type checking and inference at the definition site. */
export function defineCommand(spec: CommandSpec): CommandSpec {
  return spec;
}
