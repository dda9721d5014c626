// rkt's per-app stream modes (`rkt run --stdin/--stdout/--stderr`, RKT_EXPERIMENT_ATTACH) and its attach
// entrypoint's endpoints: what stage0 writes into the pod manifest and what a stage1 reads of it, in one place.

/** rkt's app annotations of the stream modes (its "logging and attaching design"). */
export const APP_STREAM_ANNOTATIONS = {
  stdin: 'coreos.com/rkt/stage2/stdin',
  stdout: 'coreos.com/rkt/stage2/stdout',
  stderr: 'coreos.com/rkt/stage2/stderr',
} as const;

export type AppStreamName = keyof typeof APP_STREAM_ANNOTATIONS;
export const APP_STREAM_NAMES: readonly AppStreamName[] = ['stdin', 'stdout', 'stderr'];

/**
 * The modes rkt's flags took for each stream (`log` is not one of stdin's), and the defaults (rkt's: stdin
 * closed, the output logged). `interactive` is a value rkt's stage1 read (units.go's SetupAppIO: the stream on
 * the pod's terminal) but no rkt stage0 wrote: its flags refused it, and `rkt run --interactive` reached the
 * stage1 as run's `--interactive`, which took the terminal for all three streams before any annotation was read.
 * So rkt-ts writes none either (cat-manifest of an `--interactive` pod shows no stream annotations, as rkt's), and
 * takes one from a `--pod-manifest` as the default, as an app without stream modes.
 */
export const APP_STREAM_MODES = {
  stdin: ['null', 'stream', 'tty'],
  stdout: ['log', 'null', 'stream', 'tty'],
  stderr: ['log', 'null', 'stream', 'tty'],
} as const satisfies Record<AppStreamName, readonly string[]>;

export type AppStreamMode = 'null' | 'log' | 'stream' | 'tty' | 'interactive';
export type AppStreamModes = Readonly<Record<AppStreamName, AppStreamMode>>;

export const DEFAULT_APP_STREAM_MODES: AppStreamModes = { stdin: 'null', stdout: 'log', stderr: 'log' };

/**
 * An app's stream modes from its pod manifest annotations (absent: the defaults). A value rkt's annotations did
 * not allow for that stream is an error naming the app and the annotation, and so is `tty` with `stream`.
 */
export function appStreamModes(app: string, annotations: ReadonlyArray<{ name: string; value: string }> | undefined): AppStreamModes {
  const modes: Record<AppStreamName, AppStreamMode> = { ...DEFAULT_APP_STREAM_MODES };
  for (const stream of APP_STREAM_NAMES) {
    const value = annotations?.find((a) => a.name === APP_STREAM_ANNOTATIONS[stream])?.value;
    if (value === undefined) continue;
    if (value !== 'interactive' && !(APP_STREAM_MODES[stream] as readonly string[]).includes(value)) {
      throw new Error(`app ${app}: annotation ${APP_STREAM_ANNOTATIONS[stream]}=${JSON.stringify(value)} is not a ${stream} mode (${APP_STREAM_MODES[stream].join(', ')})`);
    }
    modes[stream] = value as AppStreamMode;
  }
  // rkt's attach serves an app's terminal (ttymux) or its streams (iomux), never both.
  const tty = APP_STREAM_NAMES.find((s) => modes[s] === 'tty');
  const stream = APP_STREAM_NAMES.find((s) => modes[s] === 'stream');
  if (tty !== undefined && stream !== undefined) throw new Error(`app ${app}: --${tty}=tty cannot be combined with --${stream}=stream (an app attaches a terminal or streams)`);
  return modes;
}

/** Whether an app's modes are all the defaults: nothing to attach to, nothing a stage1 without attach must do. */
export function isDefaultStreamModes(m: AppStreamModes): boolean {
  return APP_STREAM_NAMES.every((s) => m[s] === DEFAULT_APP_STREAM_MODES[s] || m[s] === 'interactive');
}

/** The endpoints an attach connects to: rkt's names (`stdin`, `stdout`, `stderr`, `tty`). */
export type AttachEndpointName = 'stdin' | 'stdout' | 'stderr' | 'tty';

/**
 * The attach entrypoint's arguments for `rkt attach --mode=MODE`, rkt's createStage1AttachFlags: `list`,
 * `auto` (or empty: every endpoint the app has), or a comma-separated list of `stdin`, `stdout`, `stderr`,
 * `tty` (both directions), `tty-in`, `tty-out`, never a tty with a stream. Throws a one-line message on
 * anything else.
 */
export function attachModeArgs(mode: string): string[] {
  if (mode === 'list') return ['--action=list'];
  // `--mode=` too, as rkt 1.30's rkt/attach.go: auto-attach, not refused (a stage0 check here would refuse what rkt ran).
  if (mode === 'auto' || mode === '') return ['--action=auto-attach'];
  const e = { ttyIn: false, ttyOut: false, stdin: false, stdout: false, stderr: false };
  for (const part of mode.split(',')) {
    if (part === 'stdin' || part === 'stdout' || part === 'stderr') e[part] = true;
    else if (part === 'tty') e.ttyIn = e.ttyOut = true;
    else if (part === 'tty-in') e.ttyIn = true;
    else if (part === 'tty-out') e.ttyOut = true;
    else throw new Error(`--mode=${mode}: unknown endpoint ${JSON.stringify(part)} (list, auto, or stdin, stdout, stderr, tty, tty-in, tty-out joined by commas)`);
  }
  if ((e.ttyIn || e.ttyOut) && (e.stdin || e.stdout || e.stderr)) {
    throw new Error(`--mode=${mode}: incompatible endpoints, cannot simultaneously attach TTY and streams`);
  }
  return [
    '--action=custom-attach',
    `--tty-in=${e.ttyIn}`,
    `--tty-out=${e.ttyOut}`,
    `--stdin=${e.stdin}`,
    `--stdout=${e.stdout}`,
    `--stderr=${e.stderr}`,
  ];
}

/** One endpoint of an app as its endpoints file lists it (rkt's iottymux `Endpoint`). */
export interface AttachEndpoint {
  readonly name: AttachEndpointName;
  readonly domain: 'unix';
  /** The socket's path, relative to the pod directory (a unix socket's path has at most 107 bytes). */
  readonly address: string;
}

/** An app's endpoints file (rkt's iottymux `Targets`, version 1). */
export interface AttachTargets {
  readonly version: 1;
  readonly targets: readonly AttachEndpoint[];
}
