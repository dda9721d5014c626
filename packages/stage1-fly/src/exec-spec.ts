import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { App } from '@rkt/appc-spec';

/** ace.md: the PATH an app gets when neither its image nor the user sets one. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Everything fly-exec needs to start one app. */
export interface ExecSpec {
  readonly rootfs: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
  readonly cwd: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

export class FlyError extends Error {
  readonly code: 'FLY_BAD_POD' | 'FLY_USER' | 'FLY_EXEC';
  constructor(code: FlyError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlyError';
    this.code = code;
  }
}

/**
 * The process an app runs as, from its (already merged) app section: ace.md's user and group are a
 * numeric ID, a name looked up in the app's own /etc/passwd or /etc/group, or an absolute path whose
 * owner is used. `inherited` is the host environment when the pod asked for `--inherit-env`: the
 * app's own variables win over it.
 */
export function resolveExecSpec(o: {
  rootfs: string;
  appName: string;
  app: App;
  inherited?: Readonly<Record<string, string>>;
}): ExecSpec {
  const { app, rootfs, appName } = o;
  const exec = app.exec;
  if (exec === undefined || exec.length === 0) {
    throw new FlyError('FLY_EXEC', `app ${JSON.stringify(appName)} has no exec: give one with --exec`);
  }
  const env: Record<string, string> = { ...(o.inherited ?? {}) };
  env.PATH ??= DEFAULT_PATH;
  for (const v of app.environment ?? []) env[v.name] = v.value;
  env.AC_APP_NAME = appName;
  return {
    rootfs,
    uid: resolveId(rootfs, app.user, 'user', appName),
    gid: resolveId(rootfs, app.group, 'group', appName),
    groups: app.supplementaryGIDs ?? [],
    cwd: app.workingDirectory ?? '/',
    argv: exec,
    env,
  };
}

function resolveId(rootfs: string, value: string, kind: 'user' | 'group', appName: string): number {
  if (/^[0-9]+$/.test(value)) return Number(value);
  if (value.startsWith('/')) {
    try {
      const st = statSync(join(rootfs, value));
      return kind === 'user' ? st.uid : st.gid;
    } catch (err) {
      throw new FlyError('FLY_USER', `app ${JSON.stringify(appName)}: cannot find the ${kind} of ${value} in its rootfs`, { cause: err });
    }
  }
  const db = kind === 'user' ? 'etc/passwd' : 'etc/group';
  let text: string;
  try {
    text = readFileSync(join(rootfs, db), 'utf8');
  } catch (err) {
    throw new FlyError('FLY_USER', `app ${JSON.stringify(appName)}: ${kind} ${JSON.stringify(value)} is a name, and its rootfs has no /${db}`, { cause: err });
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === value && fields[2] !== undefined && /^[0-9]+$/.test(fields[2])) return Number(fields[2]);
  }
  throw new FlyError('FLY_USER', `app ${JSON.stringify(appName)}: no ${kind} ${JSON.stringify(value)} in /${db} of its rootfs`);
}

/** The argument list of fly-exec (see native/fly-exec.c). */
export function flyExecArgs(spec: ExecSpec): string[] {
  return [
    spec.rootfs,
    String(spec.uid),
    String(spec.gid),
    spec.groups.length === 0 ? '-' : spec.groups.join(','),
    spec.cwd,
    '--',
    ...spec.argv,
  ];
}
