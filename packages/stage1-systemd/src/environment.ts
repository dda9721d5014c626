/** The spec's PATH for an app whose image and user set none (appc 0.8.11, ACE "Execution Environment"). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Variables of the stage1's own process that are the pod's plumbing, never the app's. */
const NOT_INHERITED = new Set(['RKT_LOCK_FD']);

/**
 * An app's environment, as rkt composed it, later sources overriding earlier ones: the spec's default
 * `PATH`; with `--inherit-env`, rkt's own environment; the image's and the user's variables (already
 * merged in the pod manifest); then what the executor defines, `AC_APP_NAME` and `container`.
 */
export function appEnvironment(
  app: string,
  manifestEnv: ReadonlyArray<{ name: string; value: string }>,
  inherited?: Readonly<Record<string, string | undefined>>,
): Array<{ name: string; value: string }> {
  const env = new Map<string, string>([['PATH', DEFAULT_PATH]]);
  for (const [name, value] of Object.entries(inherited ?? {})) if (value !== undefined && !NOT_INHERITED.has(name)) env.set(name, value);
  for (const e of manifestEnv) env.set(e.name, e.value);
  env.set('AC_APP_NAME', app);
  // systemd's convention for "you run in a container", set by the container manager (rkt set its name).
  env.set('container', 'rkt');
  return [...env].map(([name, value]) => ({ name, value }));
}
