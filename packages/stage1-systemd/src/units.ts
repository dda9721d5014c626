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
export function appUnit(spec: AppUnitSpec): string {
  if (spec.exec.length === 0 || !(spec.exec[0] as string).startsWith('/')) {
    throw new Error(`app ${spec.name}: exec must start with an absolute path`);
  }
  const env = [{ name: 'AC_APP_NAME', value: spec.name }, ...spec.environment.filter((e) => e.name !== 'AC_APP_NAME')];
  return [
    '[Unit]',
    `Description=rkt app ${spec.name}`,
    // No sysinit.target and friends: the stage1 boots nothing but the apps.
    'DefaultDependencies=no',
    'SuccessAction=exit',
    'FailureAction=exit',
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

/** The target systemd boots: the apps' services and nothing else. */
export function podTarget(apps: readonly string[]): string {
  return [
    '[Unit]',
    'Description=rkt pod',
    'DefaultDependencies=no',
    `Wants=${apps.map(appUnitName).join(' ')}`,
    `After=${apps.map(appUnitName).join(' ')}`,
    '',
  ].join('\n');
}
