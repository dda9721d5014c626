import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { isEnvironmentVariableName } from '@rkt/appc-spec/lean';
import type { PrepareAppInput } from '@rkt/controller/lean';
import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { parseBool } from '../../argv/flag-spec.js';
import { signatureFiles, type SignatureFile } from '../signature-flag.js';
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
  readonlyRootfs?: string;
  supplementaryGids: string[];
  userAnnotation: string[];
  userLabel: string[];
  stdin?: string;
  stdout?: string;
  stderr?: string;
}

/**
 * rkt's stream modes of `--stdin`, `--stdout`, `--stderr` (RKT_EXPERIMENT_ATTACH), by flag: what its flags took,
 * in its words when refused. Kept here rather than imported, so that a plain `rkt run` loads nothing more.
 */
const STREAM_MODES: Readonly<Record<'stdin' | 'stdout' | 'stderr', readonly string[]>> = {
  stdin: ['null', 'stream', 'tty'],
  stdout: ['log', 'null', 'stream', 'tty'],
  stderr: ['log', 'null', 'stream', 'tty'],
};

function streamModes(v: AppFlagValues): { streams?: Partial<Record<'stdin' | 'stdout' | 'stderr', string>> } {
  const streams: Partial<Record<'stdin' | 'stdout' | 'stderr', string>> = {};
  for (const s of ['stdin', 'stdout', 'stderr'] as const) {
    const value = v[s];
    if (value === undefined) continue;
    if (!STREAM_MODES[s].includes(value)) throw new CliError('CLI_BAD_FLAG_VALUE', `--${s}=${value}: invalid ${s} mode ${JSON.stringify(value)} (${STREAM_MODES[s].join(', ')})`);
    streams[s] = value;
  }
  // An app attaches its own terminal (rkt's ttymux) or its streams (iomux), never both.
  const tty = (['stdin', 'stdout', 'stderr'] as const).find((s) => streams[s] === 'tty');
  const stream = (['stdin', 'stdout', 'stderr'] as const).find((s) => streams[s] === 'stream');
  if (tty !== undefined && stream !== undefined) throw new CliError('CLI_BAD_FLAG_VALUE', `--${tty}=tty cannot be combined with --${stream}=stream for one app (it attaches a terminal or streams)`);
  return Object.keys(streams).length > 0 ? { streams } : {};
}

/** rkt's per-app flags that add to a list, flag name -> key. */
const LIST_FLAGS = {
  environment: 'environment',
  'supplementary-gids': 'supplementaryGids',
  'user-annotation': 'userAnnotation',
  'user-label': 'userLabel',
} as const;

/** rkt's per-app flags that take one value (a later one replaces an earlier one), flag name -> key. */
const SINGLE_VALUE_FLAGS: Readonly<Record<string, Exclude<keyof AppFlagValues, 'environment' | 'mount' | 'supplementaryGids' | 'userAnnotation' | 'userLabel'>>> = {
  exec: 'exec',
  'readonly-rootfs': 'readonlyRootfs',
  name: 'name',
  user: 'user',
  group: 'group',
  'working-dir': 'workingDir',
  ...ISOLATOR_FLAG_KEYS,
  // Declared only under RKT_EXPERIMENT_ATTACH (flags.ts's APP_STREAM_FLAGS): read only when the command has them.
  stdin: 'stdin',
  stdout: 'stdout',
  stderr: 'stderr',
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

/** `--user-annotation`s or `--user-label`s of one app (or a sandbox's pod) as the map rkt made of them: a later value of a name wins. */
export function stringMap(flagName: string, pairs: readonly string[]): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  const map: Record<string, string> = {};
  for (const raw of pairs) {
    const eq = raw.indexOf('=');
    if (eq <= 0) throw new CliError('CLI_BAD_FLAG_VALUE', `--${flagName}=${raw}: not NAME=VALUE`);
    // defineProperty: a `__proto__` name stays an own key, as the schema keeps it.
    Object.defineProperty(map, raw.slice(0, eq), { value: raw.slice(eq + 1), enumerable: true, writable: true, configurable: true });
  }
  return map;
}

/** `--supplementary-gids=1024,2048` (repeatable: each adds its IDs), as rkt's: group IDs, decimal. */
function supplementaryGids(values: readonly string[]): number[] | undefined {
  if (values.length === 0) return undefined;
  return values.flatMap((raw) =>
    raw.split(',').map((s) => {
      const gid = /^[0-9]+$/.test(s) ? Number(s) : Number.NaN;
      if (!(gid <= 0xffff_fffe)) throw new CliError('CLI_BAD_FLAG_VALUE', `--supplementary-gids=${raw}: ${JSON.stringify(s)} is not a group ID (0 to 4294967294)`);
      return gid;
    }),
  );
}

/** `--readonly-rootfs=true|false`: rkt's flag takes a Go boolean. */
function readonlyRootfs(raw: string | undefined): boolean | undefined {
  if (raw === undefined) return undefined;
  const value = parseBool(raw);
  if (value === undefined) throw new CliError('CLI_BAD_FLAG_VALUE', `--readonly-rootfs=${raw}: must be a boolean (true or false)`);
  return value;
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
    ...optional('supplementaryGIDs', supplementaryGids(v.supplementaryGids)),
    ...optional('userAnnotations', stringMap('user-annotation', v.userAnnotation)),
    ...optional('userLabels', stringMap('user-label', v.userLabel)),
    ...optional('readOnlyRootFS', readonlyRootfs(v.readonlyRootfs)),
    ...streamModes(v),
  };
}

function optional<K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: T };
}

/**
 * The apps of `rkt run|prepare IMAGE [APP FLAGS] [-- ARG... [---]]...`, as rkt's parseApps read them: a
 * per-app flag applies to the image before it, and given before any image it is refused, except
 * `--mount`, which then applies to every app. Each image's arguments come from the parser (`ctx.appArgs`).
 */
export function parseApps(ctx: CommandContext, images: readonly string[]): ParsedApp[] {
  const apps: AppFlagValues[] = images.map(() => ({ environment: [], mount: [], supplementaryGids: [], userAnnotation: [], userLabel: [] }));
  // Where a flag was given says which app it is for: `before` images came before it.
  const eachGiven = (flagName: string, use: (app: AppFlagValues | undefined, value: string) => void) => {
    const values = ctx.flags.strings(flagName);
    ctx.flags.positions(flagName).forEach((before, i) => use(before === 0 ? undefined : apps[before - 1], values[i] as string));
  };
  const mustFollowAnImage = (flagName: string) => new CliError('CLI_BAD_ARGS', `--${flagName} must follow an image`);
  for (const [flagName, key] of Object.entries(SINGLE_VALUE_FLAGS)) {
    if (!ctx.flags.has(flagName)) continue;
    eachGiven(flagName, (app, value) => {
      if (app === undefined) throw mustFollowAnImage(flagName);
      // rkt refused a second --exec for one image rather than silently dropping one of them.
      if (flagName === 'exec' && app[key] !== undefined) throw new CliError('CLI_BAD_ARGS', `--${flagName} specified multiple times for the same image`);
      app[key] = value;
    });
  }
  for (const [flagName, key] of Object.entries(LIST_FLAGS)) {
    eachGiven(flagName, (app, value) => {
      if (app === undefined) throw mustFollowAnImage(flagName);
      app[key].push(value);
    });
  }
  const signatures = signatureFiles(ctx, images, 'apps');
  const everyApp: string[] = [];
  eachGiven('mount', (app, value) => (app === undefined ? everyApp : app.mount).push(value));
  const podEnv = podEnvironment(ctx);
  return images.map((image, i) => {
    const v = apps[i] as AppFlagValues;
    const signature = signatures[i];
    return {
      image,
      input: toInput({ ...v, mount: [...everyApp, ...v.mount] }, podEnv, ctx.appArgs[i] ?? []),
      ...(signature !== undefined ? { signature } : {}),
    };
  });
}

/** One app of the command line: its image argument, its overrides, and `--signature`'s file. */
export interface ParsedApp {
  image: string;
  input: Omit<PrepareAppInput, 'imageId'>;
  signature?: SignatureFile;
}

/**
 * The one app of `rkt app add UUID IMAGE [APP FLAGS] [-- ARG...]`: rkt's per-app flags as `rkt run` reads them
 * (`--mount` and `--signature` aside: a sandbox has no volumes, and its images come from the store or a file), a
 * single-value flag given twice keeping the later, `args` the arguments after `--`.
 */
export function parseOneApp(ctx: CommandContext, args: readonly string[]): Omit<PrepareAppInput, 'imageId'> {
  const v: AppFlagValues = { environment: [], mount: [], supplementaryGids: [], userAnnotation: [], userLabel: [] };
  for (const [flagName, key] of Object.entries(LIST_FLAGS)) v[key].push(...ctx.flags.strings(flagName));
  for (const [flagName, key] of Object.entries(SINGLE_VALUE_FLAGS)) {
    if (!ctx.flags.has(flagName)) continue;
    const values = ctx.flags.strings(flagName);
    if (values.length > 0) v[key] = values[values.length - 1];
  }
  return toInput(v, [], args);
}
