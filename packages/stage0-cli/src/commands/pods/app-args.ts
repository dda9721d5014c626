import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { isEnvironmentVariableName } from '@rkt/appc-spec/lean';
import type { PrepareAppInput } from '@rkt/controller/lean';
import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { parseMountFlag } from './volumes.js';
import { ISOLATOR_FLAG_KEYS, isolatorsFromFlags, type IsolatorFlagValues } from './isolators.js';

type EnvironmentVariable = { name: string; value: string };

interface AppFlagValues extends IsolatorFlagValues {
  exec?: string;
  name?: string;
  user?: string;
  group?: string;
  workingDir?: string;
  environment: string[];
  mount: string[];
}

/** rkt's per-app flags that take one value (a later one replaces an earlier one), flag name -> key. */
const SINGLE_VALUE_FLAGS: Readonly<Record<string, Exclude<keyof AppFlagValues, 'environment' | 'mount'>>> = {
  exec: 'exec',
  name: 'name',
  user: 'user',
  group: 'group',
  'working-dir': 'workingDir',
  ...ISOLATOR_FLAG_KEYS,
};

function parseEnvPair(raw: string, where: string): EnvironmentVariable {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new CliError('CLI_BAD_FLAG_VALUE', `${where}: ${JSON.stringify(raw)} is not NAME=VALUE`);
  const name = raw.slice(0, eq);
  // Checked here rather than by the pod manifest's schema, whose error would name apps[0].app.environment[1].
  if (!isEnvironmentVariableName(name)) {
    throw new CliError('CLI_BAD_FLAG_VALUE', `${where}: ${JSON.stringify(name)} is not an environment variable name (letters, digits, "_", "." and "-", not starting with a digit)`);
  }
  return { name, value: raw.slice(eq + 1) };
}

/** `--set-env-file` then `--set-env`: rkt's pod-wide environment, which every app gets. */
function podEnvironment(ctx: CommandContext): EnvironmentVariable[] {
  const env: EnvironmentVariable[] = [];
  for (const file of ctx.flags.strings('set-env-file')) {
    const path = resolvePath(ctx.cwd, file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new CliError('CLI_BAD_FLAG_VALUE', `--set-env-file ${file}: ${(err as Error).message}`, { cause: err });
    }
    text.split('\n').forEach((line, i) => {
      const t = line.trim();
      if (t === '' || t.startsWith('#')) return;
      env.push(parseEnvPair(t, `${path}:${i + 1}`));
    });
  }
  for (const pair of ctx.flags.strings('set-env')) env.push(parseEnvPair(pair, '--set-env'));
  return env;
}

/** Checked here rather than by the pod manifest's schema, whose error would name apps[0].app.workingDirectory. */
function workingDirectory(dir: string): string {
  if (!dir.startsWith('/')) throw new CliError('CLI_BAD_FLAG_VALUE', `--working-dir ${JSON.stringify(dir)}: must be an absolute path`);
  return dir;
}

function toInput(v: AppFlagValues, podEnv: readonly EnvironmentVariable[], args: readonly string[]): Omit<PrepareAppInput, 'imageId'> {
  // rkt's --environment overrides --set-env: later entries of a name win.
  const environment = [...podEnv, ...v.environment.map((pair) => parseEnvPair(pair, '--environment'))];
  const isolators = isolatorsFromFlags(v);
  return {
    ...(v.name !== undefined ? { name: v.name } : {}),
    ...(v.exec !== undefined ? { exec: v.exec } : {}),
    ...(args.length > 0 ? { args } : {}),
    // rkt overrode the image's user, group and working directory only with a non-empty value: `--user=` keeps
    // the image's (the pod manifest's schema would otherwise refuse it, naming apps[0].app.user).
    ...(v.user !== undefined && v.user !== '' ? { user: v.user } : {}),
    ...(v.group !== undefined && v.group !== '' ? { group: v.group } : {}),
    ...(v.workingDir !== undefined && v.workingDir !== '' ? { workingDirectory: workingDirectory(v.workingDir) } : {}),
    ...(environment.length > 0 ? { environment } : {}),
    ...(v.mount.length > 0 ? { mounts: v.mount.map(parseMountFlag) } : {}),
    ...(isolators.length > 0 ? { isolators } : {}),
  };
}

/**
 * The apps of `rkt run|prepare IMAGE [APP FLAGS] [-- ARG... [---]]...`, as rkt's parseApps read them: a
 * per-app flag applies to the image before it, and given before any image it is refused, except
 * `--mount`, which then applies to every app. Each image's arguments come from the parser (`ctx.appArgs`).
 */
export function parseApps(ctx: CommandContext, images: readonly string[]): { image: string; input: Omit<PrepareAppInput, 'imageId'> }[] {
  const apps: AppFlagValues[] = images.map(() => ({ environment: [], mount: [] }));
  // Where a flag was given says which app it is for: `before` images came before it.
  const eachGiven = (flagName: string, use: (app: AppFlagValues | undefined, value: string) => void) => {
    const values = ctx.flags.strings(flagName);
    ctx.flags.positions(flagName).forEach((before, i) => use(before === 0 ? undefined : apps[before - 1], values[i] as string));
  };
  const mustFollowAnImage = (flagName: string) => new CliError('CLI_BAD_ARGS', `--${flagName} must follow an image`);
  for (const [flagName, key] of Object.entries(SINGLE_VALUE_FLAGS)) {
    eachGiven(flagName, (app, value) => {
      if (app === undefined) throw mustFollowAnImage(flagName);
      // rkt refused a second --exec for one image rather than silently dropping one of them.
      if (flagName === 'exec' && app.exec !== undefined) throw new CliError('CLI_BAD_ARGS', '--exec specified multiple times for the same image');
      app[key] = value;
    });
  }
  eachGiven('environment', (app, value) => {
    if (app === undefined) throw mustFollowAnImage('environment');
    app.environment.push(value);
  });
  const everyApp: string[] = [];
  eachGiven('mount', (app, value) => (app === undefined ? everyApp : app.mount).push(value));
  const podEnv = podEnvironment(ctx);
  return images.map((image, i) => {
    const v = apps[i] as AppFlagValues;
    return { image, input: toInput({ ...v, mount: [...everyApp, ...v.mount] }, podEnv, ctx.appArgs[i] ?? []) };
  });
}
