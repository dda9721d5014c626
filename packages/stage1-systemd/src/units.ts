import { constants as osConstants } from 'node:os';

/** How an app's standard input is connected (rkt's `--interactive`: the terminal, or a pipe relayed by run). */
/**
 * An app's standard streams: `null` and `fifo` (rkt's stdin relayed) with its output on sockets run relays (an
 * app added to a running mutable pod's too: the app/add entrypoint has the relay serve them, added-streams.ts),
 * `tty` the pod's console for all three (rkt's terminal).
 */
export type AppStdin = 'null' | 'fifo' | 'tty';

/** What the run entrypoint needs of one app of the pod manifest (appc 0.8.11 `apps[].app`). */
export interface AppUnitSpec {
  name: string;
  exec: readonly string[];
  /** Numeric, already resolved against the app's own /etc/passwd and /etc/group (or a file's owner). */
  uid: number;
  gid: number;
  supplementaryGids?: readonly number[];
  workingDirectory: string;
  /** The app's whole environment, in order (later entries win): see environment.ts. */
  environment: ReadonlyArray<{ name: string; value: string }>;
  /** appc event handlers: run in the app's root, as its user, before its exec and after it ended. */
  preStart?: readonly string[];
  postStop?: readonly string[];
  stdin?: AppStdin;
  /**
   * rkt's `tty` stream modes: the streams that are the app's own pseudo-terminal (its slave, bound into the pod
   * at `appTtyPath`), the others as `stdin` and the output sockets say.
   */
  tty?: Readonly<Record<'stdin' | 'stdout' | 'stderr', boolean>>;
  /** Where that pseudo-terminal is in the pod, when not at `appTtyPath` (an added app's: added-streams.ts). */
  ttyPath?: string;
  /**
   * More `[Service]` directives for this app (isolators, volumes' mounts), added by their own modules:
   * each line one `Key=value`, already escaped for a unit file.
   */
  serviceExtra?: readonly string[];
  /**
   * Files of the app (`/etc/hostname`) that its unit binds from APP_ETC_DIR (`BindPaths=`) rather than the
   * run entrypoint writing them into its root: their links lead below /run and the like (etc-files.ts).
   */
  etcBinds?: readonly string[];
}

/** The unit of an app: one name per app, so a pod's units never collide. */
export function appUnitName(app: string): string {
  return `rkt-app-${app}.service`;
}

/** Where the app's rootfs is bind-mounted inside the stage1 (the pod's root), as rkt placed it. */
export function stage2Root(app: string): string {
  return `/opt/stage2/${app}/rootfs`;
}

/** Where the pod's `stage1-io` directory (the apps' stream sockets) is inside the pod. */
export const IO_DIR = '/rkt/io';
/** Where the pod's `stage1-status` directory (each app's recorded status) is inside the pod. */
export const STATUS_DIR = '/rkt/status';
/** Where each app's pseudo-terminal (rkt's `tty` mode: a slave of the host's devpts) is bound inside the pod. */
export const TTY_DIR = '/rkt/tty';

/** The path of an app's pseudo-terminal inside the pod (its unit's `TTYPath=`). */
export function appTtyPath(app: string): string {
  return `${TTY_DIR}/${appIoBase(app)}`;
}

/** Where the pod's `stage1-app-etc` directory (files the apps' units bind: etcBinds) is inside the pod. */
export const APP_ETC_DIR = '/rkt/etc';

/** The file an app's unit binds at `path` of the app (etcBinds): `/rkt/etc/<app>/hostname`. */
export function appEtcSource(app: string, path: string): string {
  return `${APP_ETC_DIR}/${app}/${path.slice(path.lastIndexOf('/') + 1)}`;
}

/**
 * The file name of an app's stream socket: `<app>.<stream>`, with a long app name replaced by its hash. A
 * unix socket's path has at most 107 bytes, both inside the pod and where the run entrypoint binds it
 * (relative to the pod directory), and an appc name can be longer than that.
 */
export function appIoName(app: string, stream: 'stdin' | 'stdout' | 'stderr'): string {
  return `${appIoBase(app)}.${stream}`;
}

/** An app's name as its socket paths use it: itself, or its hash when it is longer than 64 characters. */
export function appIoBase(app: string): string {
  // node:crypto only when needed: loading it costs every pod start about 9 ms.
  return app.length <= 64 ? app : process.getBuiltinModule('node:crypto').createHash('sha256').update(app).digest('hex').slice(0, 32);
}

/** Where an app's stream socket is inside the pod (systemd connects to it for `file:`). */
export function appIoPath(app: string, stream: 'stdin' | 'stdout' | 'stderr'): string {
  return `${IO_DIR}/${appIoName(app, stream)}`;
}

/** Where an app's status is written inside the pod: `ExecMainCode ExecMainStatus Result`. */
export function appStatusPath(app: string): string {
  return `${STATUS_DIR}/${app}`;
}

/**
 * Written once the app's unit started running a process (the run entrypoint writes it when systemd connects
 * the app's standard streams), so that an app killed with its pod is told from one never started.
 */
export function appStartedPath(app: string): string {
  return `${STATUS_DIR}/${app}.started`;
}

/** Names the first app that failed (created exclusively: the first app's status recorder to get there wins). */
export const FIRST_FAILURE_FILE = '.first-failure';

/**
 * One word of a unit file's command line or assignment, double-quoted: systemd expands `%` specifiers
 * everywhere and `$` variables in Exec*= lines, so both are doubled to reach the app verbatim.
 */
export function quote(word: string, dollars: boolean): string {
  let s = word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\n/g, '\\n');
  if (dollars) s = s.replace(/\$/g, '$$$$');
  return `"${s}"`;
}

function execLine(key: string, argv: readonly string[], app: string, what: string): string {
  if (argv.length === 0 || !(argv[0] as string).startsWith('/')) {
    throw new Error(`app ${app}: ${what} must start with an absolute path`);
  }
  return `${key}=${argv.map((w) => quote(w, true)).join(' ')}`;
}

/** The standard streams of an app: sockets the run entrypoint relays, or the pod's console for a terminal. */
function ioLines(spec: AppUnitSpec): string[] {
  if (spec.stdin === 'tty') {
    // nspawn's --console=interactive made /dev/console a pty wired to rkt's terminal; systemd opens it
    // before entering the app's root. tty-force: systemd's own console output (quiet anyway) yields.
    return ['TTYPath=/dev/console', 'StandardInput=tty-force', 'StandardOutput=tty', 'StandardError=tty'];
  }
  if (spec.tty !== undefined) {
    // rkt's tty mode: systemd opens the pty's slave (bound into the pod) before entering the app's root and,
    // for its stdin, makes it the app's controlling terminal; `tty` (not tty-force) waits for a previous
    // command of the unit to let go of it.
    const t = spec.tty;
    const path = spec.ttyPath ?? appTtyPath(spec.name);
    return [
      `TTYPath=${path}`,
      // Also at that path in the app's root: ttyname(3) (`tty`) finds the terminal by the path the kernel
      // gives for its fd, which must lead to the same file there (rkt's apps saw `/rkt/iottymux/<app>/...`).
      `BindPaths=${path}`,
      t.stdin ? 'StandardInput=tty' : spec.stdin === 'fifo' ? `StandardInput=file:${appIoPath(spec.name, 'stdin')}` : 'StandardInput=null',
      t.stdout ? 'StandardOutput=tty' : `StandardOutput=file:${appIoPath(spec.name, 'stdout')}`,
      t.stderr ? 'StandardError=tty' : `StandardError=file:${appIoPath(spec.name, 'stderr')}`,
    ];
  }
  return [
    spec.stdin === 'fifo' ? `StandardInput=file:${appIoPath(spec.name, 'stdin')}` : 'StandardInput=null',
    // Sockets the run entrypoint relays to rkt's stdout and stderr byte for byte (the pod's console is a
    // pty, which would turn \n into \r\n and mix in systemd's own messages).
    `StandardOutput=file:${appIoPath(spec.name, 'stdout')}`,
    `StandardError=file:${appIoPath(spec.name, 'stderr')}`,
  ];
}

/**
 * How many commands of an app's unit (its text, `appUnit`) systemd runs before the app's own: its
 * ExecStartPre= lines, one after another. The unit's StandardInput= is every command's, so each of them
 * connects to the app's stdin socket in turn, and the app's connection is the one after theirs.
 */
export function commandsBeforeMain(unit: string): number {
  return unit.split('\n').filter((l) => l.startsWith('ExecStartPre=')).length;
}

/** How the pod ends around an app's status. */
export interface AppStatusOptions {
  /** In a pod with post-stop handlers, every app of the pod: the last status written then makes systemd exit. */
  exitWhenAllDone?: readonly string[];
  /** Whether the app has a reaper (needsReaper), which records its status and that it started. */
  reaped?: boolean;
  /**
   * Whether the app's units write the started marker (appStartedPath) before the app: without stream
   * sockets (a terminal) nothing else tells the run entrypoint that the app started.
   */
  markStarted?: boolean;
  /**
   * An app of a mutable pod (`rkt app sandbox`): its end, failed or not, ends nothing but itself (rkt's mutable pods
   * lived until `rkt stop`), so the recorder names no first failure and halts nothing.
   */
  mutable?: boolean;
}

/**
 * Whether an app's status is left to a reaper (reaperUnit) rather than recorded by its own unit
 * (statusRecorderLines). The recorder needs RootDirectoryStartOnly=, which would take the appc event handlers
 * out of the app's root. And it runs after what is left of a failed app is killed, which takes until
 * TimeoutStopSec= when systemd cannot tell that a cgroup emptied: in a pod booted with the legacy cgroup
 * layout (resource isolators on a hybrid host: pod-isolation.ts); the reaper records the status as the
 * app's main process ends.
 */
export function needsReaper(spec: Pick<AppUnitSpec, 'preStart' | 'postStop'>, legacyCgroups: boolean): boolean {
  return legacyCgroups || spec.preStart !== undefined || spec.postStop !== undefined;
}

/**
 * The dash script that records an app's status: `$EXIT_CODE $EXIT_STATUS $SERVICE_RESULT` as systemd hands
 * them to ExecStop= and ExecStopPost= (EXIT_CODE `exited`, `killed` or `dumped`, `-` when the main process never ran;
 * EXIT_STATUS the exit code or the signal; SERVICE_RESULT why the unit ended). A failed app names itself the
 * first failure, if no app did before, and ends the pod (`exit`: systemd's halt or exit), which stops its
 * siblings (SIGTERM). Once every app has a status the run entrypoint ends the pod from outside (whenAllSettled): nothing
 * is left to stop by then, and systemd's own shutdown (exit.target, unmounts, systemd-shutdown) would cost
 * more than the whole app did. In a pod with post-stop handlers the last status written makes systemd exit
 * instead, which waits for them.
 */
function recordStatusScript(app: string, exitWhenAllDone: readonly string[] | undefined, exit: string, mutable = false): string {
  if (mutable) return ['exec > /dev/null 2>&1', `echo "\${EXIT_CODE:--} \${EXIT_STATUS:--} $SERVICE_RESULT" > ${appStatusPath(app)}`].join('; ');
  // dash builtins only (the stage1 has no coreutils). Its output would be the app's streams (the
  // recorder's): nothing of its own belongs there. set -C creates the first-failure file exclusively
  // (O_EXCL), so of two failing apps one is first. The first failure is named before the status is written:
  // a status tells the run entrypoint that this app is settled (one write of one line, so it is read whole
  // or not at all).
  const failed = '[ "$SERVICE_RESULT" != success ] || [ "$EXIT_CODE" != exited ] || [ "$EXIT_STATUS" != 0 ]';
  return [
    'exec > /dev/null 2>&1',
    `if ${failed}; then (set -C; echo ${app} > ${STATUS_DIR}/${FIRST_FAILURE_FILE}); fi`,
    `echo "\${EXIT_CODE:--} \${EXIT_STATUS:--} $SERVICE_RESULT" > ${appStatusPath(app)}`,
    `if ${failed}; then ${exit}; fi`,
    ...(exitWhenAllDone !== undefined ? [`if ${exitWhenAllDone.map((a) => `[ -e ${appStatusPath(a)} ]`).join(' && ')}; then ${exit}; fi`] : []),
  ].join('; ');
}

/**
 * The app's status recorder, in its own unit, without a process of its own before the app's: `+` and
 * RootDirectoryStartOnly= run it in the stage1 (the stage1's dash, the status directory), unfiltered, as root.
 * As ExecStop=, which systemd runs as soon as the main process has ended, before it kills what is left of the
 * app (which can take until TimeoutStopSec= here: systemd in a pod with a cgroup v1 controller bound in does
 * not learn that the cgroup emptied) and before the post-stop handler; stopped from outside (`rkt stop`, a
 * sibling's failure), ExecStop= runs before the SIGTERM, so it leaves the status to ExecStopPost=, which also
 * catches an app that never started (no ExecStop= then).
 */
function statusRecorderLines(app: string, exitWhenAllDone: readonly string[] | undefined, mutable = false): string[] {
  // MountAPIVFS= gives the unit's processes a /run of their own, without systemd's private socket: systemctl
  // cannot reach PID 1 from here. Its halt signal (SIGRTMIN+3, which `rkt stop` sends through nspawn too)
  // ends the pod instead.
  const record = recordStatusScript(app, exitWhenAllDone, 'kill -37 1', mutable);
  return [
    `ExecStop=+/bin/dash -c ${quote(`[ -n "$EXIT_CODE" ] || exit 0; ${record}`, true)}`,
    `ExecStopPost=+/bin/dash -c ${quote(`[ -e ${appStatusPath(app)} ] && exit 0; ${record}`, true)}`,
  ];
}

/**
 * How long an app that is stopped (`rkt stop`, a sibling's failure, ^C) has between its SIGTERM and the
 * SIGKILL to whatever of it is left, and its post-stop handler to run: rkt's stop ends a pod promptly,
 * where systemd's default (90 s) would keep an app that ignores SIGTERM running for a minute and a half.
 */
export const STOP_GRACE_SECONDS = 5;

/** The `[Service]` lines of an app's unit: everything about how its process runs (and, without a reaper, how its end is recorded). */
export function appServiceLines(spec: AppUnitSpec, status: AppStatusOptions = {}): string[] {
  const own = status.reaped !== true;
  return [
    'Type=exec',
    `RootDirectory=${stage2Root(spec.name)}`,
    ...(own ? ['RootDirectoryStartOnly=yes'] : []),
    // /proc, /sys and /dev (with /dev/pts and /dev/shm, nspawn's) inside the app's root, as an appc
    // executor must provide them.
    'MountAPIVFS=yes',
    // After the API mounts: systemd resolves the target through the app's links inside its root, and makes it.
    ...(spec.etcBinds ?? []).map((p) => `BindPaths=${appEtcSource(spec.name, p)}:${p}`),
    `WorkingDirectory=${spec.workingDirectory.replace(/%/g, '%%')}`,
    `User=${spec.uid}`,
    `Group=${spec.gid}`,
    ...(spec.supplementaryGids !== undefined && spec.supplementaryGids.length > 0 ? [`SupplementaryGroups=${spec.supplementaryGids.join(' ')}`] : []),
    ...spec.environment.map((e) => `Environment=${quote(`${e.name}=${e.value}`, false)}`),
    // A process before the app's own: only for a terminal, where a human waits anyway.
    ...(own && status.markStarted === true ? [`ExecStartPre=+/bin/dash -c ${quote(`echo > ${appStartedPath(spec.name)}`, true)}`] : []),
    ...(spec.preStart !== undefined ? [execLine('ExecStartPre', spec.preStart, spec.name, 'the pre-start event handler')] : []),
    execLine('ExecStart', spec.exec, spec.name, 'exec'),
    ...(own ? statusRecorderLines(spec.name, status.exitWhenAllDone, status.mutable) : []),
    // Runs however the app ended, `rkt stop` included, after its reaper recorded the status.
    ...(spec.postStop !== undefined ? [execLine('ExecStopPost', spec.postStop, spec.name, 'the post-stop event handler')] : []),
    `TimeoutStopSec=${STOP_GRACE_SECONDS}s`,
    ...ioLines(spec),
    ...(spec.serviceExtra ?? []),
  ];
}

/**
 * The `[Unit]` lines of an app and its reaper: no default dependencies (the stage1 boots nothing but the
 * apps), but stopped by any shutdown of the pod (`rkt stop` halts it, a failed app exits it), so that the
 * apps get SIGTERM from their own unit and record how they ended.
 */
function podMemberLines(mounts: readonly string[]): string[] {
  // The pod's bind mounts are mount units that a shutdown stops too: without RequiresMountsFor= they
  // could be unmounted before the unit using them has stopped (a status would be written into the
  // stage1's tmpfs, not the pod directory; a post-stop handler would not find its user).
  return ['DefaultDependencies=no', 'Conflicts=shutdown.target', 'Before=shutdown.target', `RequiresMountsFor=${mounts.join(' ')}`];
}

/** The service that runs one app. It records its own end, unless its reaper does (needsReaper). */
export function appUnit(spec: AppUnitSpec, status: AppStatusOptions = {}): string {
  const mounts = [
    stage2Root(spec.name),
    IO_DIR,
    ...(status.reaped !== true ? [STATUS_DIR] : []),
    ...(spec.etcBinds !== undefined && spec.etcBinds.length > 0 ? [APP_ETC_DIR] : []),
    '/etc/passwd',
    '/etc/group',
  ];
  return ['[Unit]', `Description=rkt app ${spec.name}`, ...podMemberLines(mounts), '', '[Service]', ...appServiceLines(spec, status), ''].join('\n');
}

/** The reaper of an app (needsReaper): started with the pod, stopped by BindsTo= when its app ends. */
export function reaperUnitName(app: string): string {
  return `rkt-reaper-${app}.service`;
}

/**
 * The reaper runs in the stage1 (no RootDirectory=, so the stage1's dash and systemctl). BindsTo= stops it when its app starts deactivating,
 * which is as its main process ends, before the post-stop handler: its ExecStop= learns how the app's main
 * process ended from systemd (ExecMainCode is CLD_EXITED 1, CLD_KILLED 2 or CLD_DUMPED 3, or 0 when it
 * never ran; ExecMainStatus the exit code or signal number) and records it as the recorder would.
 */
export function reaperUnit(app: string, exitWhenAllDone?: readonly string[], mutable = false): string {
  const fromSystemctl = [
    `eval "$(/bin/systemctl show --property=ExecMainCode --property=ExecMainStatus --property=Result ${appUnitName(app)})"`,
    'SERVICE_RESULT=$Result EXIT_STATUS=$ExecMainStatus',
    'case $ExecMainCode in 1) EXIT_CODE=exited;; 2) EXIT_CODE=killed;; 3) EXIT_CODE=dumped;; *) EXIT_CODE=- EXIT_STATUS=-;; esac',
  ].join('; ');
  return [
    '[Unit]',
    `Description=rkt reaper of app ${app}`,
    ...podMemberLines([STATUS_DIR]),
    `BindsTo=${appUnitName(app)}`,
    // Started before its app (so it is active even when the app ends at once), hence stopped after it.
    `Before=${appUnitName(app)}`,
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=/bin/dash -c ${quote(`echo > ${appStartedPath(app)}`, true)}`,
    `ExecStop=/bin/dash -c ${quote(`${fromSystemctl}; ${recordStatusScript(app, exitWhenAllDone, '/bin/systemctl --no-block exit || :', mutable)}`, true)}`,
    // The pod's console is rkt's terminal: nothing of the reaper's belongs there.
    'StandardOutput=null',
    'StandardError=null',
    '',
  ].join('\n');
}

/** The target systemd boots: the apps' services and their reapers, if any, all started together. */
export function podTarget(apps: readonly string[], reaped: readonly string[] = []): string {
  return ['[Unit]', 'Description=rkt pod', 'DefaultDependencies=no', `Wants=${[...apps.map(appUnitName), ...reaped.map(reaperUnitName)].join(' ')}`, ''].join('\n');
}

/**
 * An app's status as recorded (`$EXIT_CODE $EXIT_STATUS $SERVICE_RESULT`: recordStatusScript), as rkt reports it:
 * the exit status; 128 + the signal's number for a killed app (`killed TERM`, `dumped SEGV`); a main process
 * that never ran (`- -`: its pre-start handler failed, say) is a failure, 1, unless the unit succeeded.
 */
export function parseAppStatus(text: string): number {
  const m = /^(exited|killed|dumped|-) ([0-9]+|[A-Z0-9+]+|-) ([a-z-]+)$/.exec(text.trim());
  if (m === null) throw new Error(`unreadable app status ${JSON.stringify(text)}`);
  const [, code, value, result] = m as unknown as [string, string, string, string];
  if (code === '-') return result === 'success' ? 0 : 1;
  if (code === 'exited' && /^[0-9]+$/.test(value)) return Number(value);
  if (code !== 'exited') {
    const signal = /^[0-9]+$/.test(value) ? Number(value) : signalNumber(value);
    if (signal !== undefined) return 128 + signal;
  }
  throw new Error(`unreadable app status ${JSON.stringify(text)}`);
}

/**
 * Whether a recorded status is that of an app whose main process never ran and that did not fail by
 * itself: stopped while its unit was starting (`- - success`) or while its pre-start handler ran, which
 * the stop's SIGTERM ended (`- - signal`).
 */
export function stoppedBeforeMain(text: string): boolean {
  return /^- - (success|signal)$/.test(text.trim());
}

/** A signal's number from systemd's name for it (`TERM`; `RTMIN+3` for a real-time one). */
function signalNumber(name: string): number | undefined {
  const rt = /^RTMIN\+([0-9]+)$/.exec(name);
  const signals = osConstants.signals as Record<string, number | undefined>;
  // glibc's SIGRTMIN, which Node's table leaves out.
  if (rt !== null) return 34 + Number(rt[1]);
  return signals[`SIG${name}`];
}
