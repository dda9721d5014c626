/** What the run entrypoint needs of one app of the pod manifest (appc 0.8.11 `apps[].app`). */
export interface AppUnitSpec {
  name: string;
  exec: readonly string[];
  /** Numeric, already resolved against the app's own /etc/passwd and /etc/group. */
  uid: number;
  gid: number;
  workingDirectory: string;
  environment: ReadonlyArray<{ name: string; value: string }>;
}

/** The unit of an app: one name per app, so a pod's units never collide. */
export function appUnitName(app: string): string {
  return `rkt-app-${app}.service`;
}

/** Where the app's rootfs is bind-mounted inside the stage1 (the pod's root), as rkt placed it. */
export function stage2Root(app: string): string {
  return `/opt/stage2/${app}/rootfs`;
}

/** Where an app's output FIFO is inside the pod (the run entrypoint binds the pod's `stage1-io` there). */
export function appIoPath(app: string, stream: 'stdout' | 'stderr'): string {
  return `/rkt/io/${app}.${stream}`;
}

/** Where a multi-app pod's app status is written inside the pod (the run entrypoint binds `stage1-status`). */
export function appStatusPath(app: string): string {
  return `/rkt/status/${app}`;
}

/**
 * One word of a unit file's command line or assignment, double-quoted: systemd expands `%` specifiers
 * everywhere and `$` variables in ExecStart=, so both are doubled to reach the app verbatim.
 */
function quote(word: string, dollars: boolean): string {
  let s = word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\n/g, '\\n');
  if (dollars) s = s.replace(/\$/g, '$$$$');
  return `"${s}"`;
}

/**
 * The service that runs one app. `SuccessAction=`/`FailureAction=exit` belong in [Unit] (systemd
 * ignores them in [Service]): when the app ends, systemd in the pod exits with the app's status, which
 * systemd-nspawn returns, so the pod ends with its app.
 */
export function appUnit(spec: AppUnitSpec, multi = false): string {
  if (spec.exec.length === 0 || !(spec.exec[0] as string).startsWith('/')) {
    throw new Error(`app ${spec.name}: exec must start with an absolute path`);
  }
  const env = [{ name: 'AC_APP_NAME', value: spec.name }, ...spec.environment.filter((e) => e.name !== 'AC_APP_NAME')];
  return [
    '[Unit]',
    `Description=rkt app ${spec.name}`,
    // No sysinit.target and friends: the stage1 boots nothing but the apps.
    'DefaultDependencies=no',
    // One app: its end is the pod's end, and systemd's exit status is the app's. Several apps: each
    // app's reaper (reaperUnit) records its status and the last one ends the pod.
    ...(multi ? [] : ['SuccessAction=exit', 'FailureAction=exit']),
    '',
    '[Service]',
    'Type=exec',
    `RootDirectory=${stage2Root(spec.name)}`,
    // /proc, /sys and /dev inside the app's root, as an appc executor must provide them.
    'MountAPIVFS=yes',
    `WorkingDirectory=${spec.workingDirectory.replace(/%/g, '%%')}`,
    `User=${spec.uid}`,
    `Group=${spec.gid}`,
    ...env.map((e) => `Environment=${quote(`${e.name}=${e.value}`, false)}`),
    `ExecStart=${spec.exec.map((w) => quote(w, true)).join(' ')}`,
    // FIFOs the run entrypoint relays to rkt's stdout and stderr byte for byte (the pod's console is a
    // pty, which would turn \n into \r\n and mix in systemd's own messages).
    'StandardInput=null',
    `StandardOutput=file:${appIoPath(spec.name, 'stdout')}`,
    `StandardError=file:${appIoPath(spec.name, 'stderr')}`,
    '',
  ].join('\n');
}

/** The reaper of an app in a multi-app pod: started with the pod, stopped by BindsTo= when its app ends. */
export function reaperUnitName(app: string): string {
  return `rkt-reaper-${app}.service`;
}

/**
 * The reaper runs in the stage1 (no RootDirectory=, so the stage1's dash and systemctl): when its app
 * stops, its ExecStop= records the app's main process status (ExecMainCode is CLD_EXITED 1, CLD_KILLED 2
 * or CLD_DUMPED 3; ExecMainStatus the exit code or signal number) and, once every app of the pod has a
 * status, makes systemd exit, the way SuccessAction=exit does for a single app.
 */
export function reaperUnit(app: string, all: readonly string[]): string {
  const status = appStatusPath(app);
  const allDone = all.map((a) => `[ -e ${appStatusPath(a)} ]`).join(' && ');
  // dash builtins only (the stage1 has no coreutils): the two values split by the shell, one echo.
  const script =
    `set -- $(systemctl show --property=ExecMainCode --property=ExecMainStatus --value ${appUnitName(app)});` +
    ` echo "$1 $2" > ${status}; if ${allDone}; then systemctl --no-block exit 0; fi`;
  return [
    '[Unit]',
    `Description=rkt reaper of app ${app}`,
    'DefaultDependencies=no',
    `BindsTo=${appUnitName(app)}`,
    // Started before its app (so it is active even when the app ends at once), hence stopped after it.
    `Before=${appUnitName(app)}`,
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=/bin/dash -c :`,
    `ExecStop=/bin/dash -c ${quote(script, true)}`,
    '',
  ].join('\n');
}

/** The target systemd boots: the apps' services and nothing else. */
export function podTarget(apps: readonly string[]): string {
  const units = apps.length > 1 ? [...apps.map(appUnitName), ...apps.map(reaperUnitName)] : apps.map(appUnitName);
  return [
    '[Unit]',
    'Description=rkt pod',
    'DefaultDependencies=no',
    `Wants=${units.join(' ')}`,
    '',
  ].join('\n');
}
