/**
 * rkt's exit statuses: 254 for rkt's own failures (bad flags, unknown commands, anything a command
 * could not do), 2 when no command was given at all (rkt printed the usage then), 0 for success,
 * 141 when the output's reader went away.
 * A command that runs something (a pod, an app) may return that thing's status instead.
 */
export const EXIT_OK = 0;
export const EXIT_MISSING_COMMAND = 2;
export const EXIT_FAILURE = 254;
/** 128 + SIGPIPE: the reader of the output went away (`rkt list | head -1`), as rkt was killed then. */
export const EXIT_BROKEN_PIPE = 141;

export type CliErrorCode =
  | 'CLI_UNKNOWN_COMMAND'
  | 'CLI_UNKNOWN_FLAG'
  | 'CLI_FLAG_NEEDS_VALUE'
  | 'CLI_BAD_FLAG_VALUE'
  | 'CLI_BAD_ARGS'
  | 'CLI_DATA_DIR'
  | 'CLI_WORKING_DIR';

const CLI_ERROR = Symbol.for('rkt-ts.CliError');

/**
 * An error of the command line itself or of a command's use of it. Like every error with a `code`
 * (appc-spec's `AppcError`, the store's errors), it becomes one line `<command>: <message>` and exit 254.
 */
export class CliError extends Error {
  readonly code: CliErrorCode;
  /** Appended to the one-line message, e.g. `run "rkt help" for usage`. */
  readonly hint: string | undefined;
  /** The line's prefix when it is not the running command (a parse error names what was parsed). */
  readonly command: string | undefined;

  constructor(
    code: CliErrorCode,
    message: string,
    options: { hint?: string; command?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // Spelled out: the CLI's bundles are minified without keeping names.
    this.name = 'CliError';
    this.code = code;
    this.hint = options.hint;
    this.command = options.command;
  }

  /**
   * bin/rkt's CommonJS core and the commands' ES modules each hold a copy of this class, so an
   * error a command throws must still be recognised by the core that reports it.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [CLI_ERROR]?: unknown })[CLI_ERROR] === true;
  }

  /** Marks every CliError, whichever copy of the class made it. */
  get [CLI_ERROR](): true {
    return true;
  }
}

/** What the CLI needs from any error to report it: a stable code and a message. */
export interface CodedError {
  readonly code: string;
  readonly message: string;
}

export function isCodedError(err: unknown): err is Error & CodedError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string';
}
