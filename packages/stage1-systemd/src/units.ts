/** How an app's standard input is connected (rkt's `--interactive`: the terminal, or a pipe relayed by run). */
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
   * More `[Service]` directives for this app (isolators, volumes' mounts), added by their own modules:
   * each line one `Key=value`, already escaped for a unit file.
   */
  serviceExtra?: readonly string[];
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

/**
 * The file name of an app's stream socket: `<app>.<stream>`, with a long app name replaced by its hash. A
 * unix socket's path has at most 107 bytes, both inside the pod and where the run entrypoint binds it
 * (relative to the pod directory), and an appc name can be longer than that.
 */
export function appIoName(app: string, stream: 'stdin' | 'stdout' | 'stderr'): string {
  // node:crypto only when needed: loading it costs every pod start about 9 ms.
  const name = app.length <= 64 ? app : process.getBuiltinModule('node:crypto').createHash('sha256').update(app).digest('hex').slice(0, 32);
  return `${name}.${stream}`;
}

/** Where an app's stream socket is inside the pod (systemd connects to it for `file:`). */
export function appIoPath(app: string, stream: 'stdin' | 'stdout' | 'stderr'): string {
  return `${IO_DIR}/${appIoName(app, stream)}`;
}

/** Where an app's status is written inside the pod: `ExecMainCode ExecMainStatus Result`. */
export function appStatusPath(app: string): string {
  return `${STATUS_DIR}/${app}`;
}

/** Written by an app's reaper once the app started, so that an app killed with its pod is told from one never started. */
export function appStartedPath(app: string): string {
  return `${STATUS_DIR}/${app}.started`;
}

/** Names the first app that failed (created exclusively: the first reaper to get there wins). */
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
  return [
    spec.stdin === 'fifo' ? `StandardInput=file:${appIoPath(spec.name, 'stdin')}` : 'StandardInput=null',
    // Sockets the run entrypoint relays to rkt's stdout and stderr byte for byte (the pod's console is a
    // pty, which would turn \n into \r\n and mix in systemd's own messages).
    `StandardOutput=file:${appIoPath(spec.name, 'stdout')}`,
    `StandardError=file:${appIoPath(spec.name, 'stderr')}`,
  ];
}

/** The `[Service]` lines of an app's unit: everything about how its process runs. */
export function appServiceLines(spec: AppUnitSpec): string[] {
  return [
    'Type=exec',
    `RootDirectory=${stage2Root(spec.name)}`,
    // /proc, /sys and /dev (with /dev/pts and /dev/shm, nspawn's) inside the app's root, as an appc
    // executor must provide them.
    'MountAPIVFS=yes',
    `WorkingDirectory=${spec.workingDirectory.replace(/%/g, '%%')}`,
    `User=${spec.uid}`,
    `Group=${spec.gid}`,
    ...(spec.supplementaryGids !== undefined && spec.supplementaryGids.length > 0 ? [`SupplementaryGroups=${spec.supplementaryGids.join(' ')}`] : []),
    ...spec.environment.map((e) => `Environment=${quote(`${e.name}=${e.value}`, false)}`),
    ...(spec.preStart !== undefined ? [execLine('ExecStartPre', spec.preStart, spec.name, 'the pre-start event handler')] : []),
    execLine('ExecStart', spec.exec, spec.name, 'exec'),
    // Runs however the app ended, `rkt stop` included, before its reaper records the status.
    ...(spec.postStop !== undefined ? [execLine('ExecStopPost', spec.postStop, spec.name, 'the post-stop event handler')] : []),
    ...ioLines(spec),
    ...(spec.serviceExtra ?? []),
  ];
}

/**
 * The `[Unit]` lines shared by an app and its reaper: no default dependencies (the stage1 boots nothing
 * but the apps), but stopped by any shutdown of the pod (`rkt stop` halts it, a failed app exits it), so
 * that the apps get SIGTERM from their own unit and the reapers record how they ended.
 */
function podMemberLines(mounts: readonly string[]): string[] {
  // The pod's bind mounts are mount units that a shutdown stops too: without RequiresMountsFor= they
  // could be unmounted before the unit using them has stopped (a reaper would write its status into
  // the stage1's tmpfs, not the pod directory; a post-stop handler would not find its user).
  return ['DefaultDependencies=no', 'Conflicts=shutdown.target', 'Before=shutdown.target', `RequiresMountsFor=${mounts.join(' ')}`];
}

/** The service that runs one app. Its reaper (reaperUnit) records its end and ends the pod when due. */
export function appUnit(spec: AppUnitSpec): string {
  return ['[Unit]', `Description=rkt app ${spec.name}`, ...podMemberLines([stage2Root(spec.name), IO_DIR, '/etc/passwd', '/etc/group']), '', '[Service]', ...appServiceLines(spec), ''].join('\n');
}

/** The reaper of an app: started with the pod, stopped by BindsTo= when its app ends. */
export function reaperUnitName(app: string): string {
  return `rkt-reaper-${app}.service`;
}

/**
 * The reaper runs in the stage1 (no RootDirectory=, so the stage1's dash and systemctl): when its app
 * stops, its ExecStop= records the app's main process status (ExecMainCode is CLD_EXITED 1, CLD_KILLED 2
 * or CLD_DUMPED 3, or 0 when it never ran; ExecMainStatus the exit code or signal number; Result why
 * the unit ended). A failed app names itself the first failure, if no app did before, and makes
 * systemd exit, which stops its siblings (SIGTERM) and ends the pod. Once every app has a status the run
 * entrypoint ends the pod from outside (whenAllSettled): nothing is left to stop by then, and systemd's own
 * shutdown (exit.target, unmounts, systemd-shutdown) would cost more than the whole app did. A status is
 * written as soon as the app's main process has ended, though, while a post-stop handler may still run: in
 * a pod with handlers the last reaper makes systemd exit instead (exitWhenAllDone: every app of the pod),
 * which waits for them.
 */
export function reaperUnit(app: string, exitWhenAllDone?: readonly string[]): string {
  // dash builtins only (the stage1 has no coreutils). `systemctl show` prints safe KEY=value lines; set
  // -C creates the first-failure file exclusively (O_EXCL), so of two failing apps one is first. The
  // first failure is named before the status is written: a status tells the run entrypoint that this
  // app is settled (one write of one line, so it is read whole or not at all).
  const failed = '[ "$Result" != success ] || [ "$ExecMainCode" != 1 ] || [ "$ExecMainStatus" != 0 ]';
  const script = [
    `eval "$(systemctl show --property=ExecMainCode --property=ExecMainStatus --property=Result ${appUnitName(app)})"`,
    `if ${failed}; then (set -C; echo ${app} > ${STATUS_DIR}/${FIRST_FAILURE_FILE}) 2>/dev/null; fi`,
    `echo "$ExecMainCode $ExecMainStatus $Result" > ${appStatusPath(app)}`,
    `if ${failed}; then systemctl --no-block exit || :; fi`,
    ...(exitWhenAllDone !== undefined ? [`if ${exitWhenAllDone.map((a) => `[ -e ${appStatusPath(a)} ]`).join(' && ')}; then systemctl --no-block exit || :; fi`] : []),
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
    `ExecStop=/bin/dash -c ${quote(script, true)}`,
    // The pod's console is rkt's terminal: nothing of the reaper's belongs there.
    'StandardOutput=null',
    'StandardError=null',
    '',
  ].join('\n');
}

/** The target systemd boots: the apps' services and their reapers, all started together. */
export function podTarget(apps: readonly string[]): string {
  return ['[Unit]', 'Description=rkt pod', 'DefaultDependencies=no', `Wants=${[...apps.map(appUnitName), ...apps.map(reaperUnitName)].join(' ')}`, ''].join('\n');
}

/**
 * An app's status as its reaper recorded it, as rkt reports it: the exit status; 128 + the signal's
 * number for a killed app (CLD_KILLED 2, CLD_DUMPED 3); a main process that never ran (its pre-start
 * handler failed, say) is a failure, 1.
 */
export function parseAppStatus(text: string): number {
  const m = /^([0-9]+) ([0-9]+)(?: ([a-z-]+))?$/.exec(text.trim());
  if (m === null) throw new Error(`unreadable app status ${JSON.stringify(text)}`);
  const [code, value] = [Number(m[1]), Number(m[2])];
  if (code === 2 || code === 3) return 128 + value;
  if (code === 0) return m[3] === undefined || m[3] === 'success' ? 0 : 1;
  return value;
}
