import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { PrepareAppInput } from '@rkt/controller/lean';
import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { parseMountFlag } from './volumes.js';
import { ISOLATOR_FLAG_KEYS, isolatorsFromFlags, type IsolatorFlagValues } from './isolators.js';

interface AppFlagValues extends IsolatorFlagValues {
  exec?: string;
  name?: string;
  setEnv: string[];
  setEnvFile: string[];
  user?: string;
  group?: string;
  workingDir?: string;
  /** `--mount`s given for this app alone. */
  mount: string[];
}

function parseEnvPair(raw: string, where: string): { name: string; value: string } {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new CliError('CLI_BAD_FLAG_VALUE', `${where}: ${JSON.stringify(raw)} is not NAME=VALUE`);
  return { name: raw.slice(0, eq), value: raw.slice(eq + 1) };
}

function environmentOf(v: AppFlagValues, cwd: string): { name: string; value: string }[] {
  const env: { name: string; value: string }[] = [];
  for (const file of v.setEnvFile) {
    const path = resolvePath(cwd, file);
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
  for (const pair of v.setEnv) env.push(parseEnvPair(pair, '--set-env'));
  return env;
}

function toInput(image: string, v: AppFlagValues, args: readonly string[], cwd: string): { image: string; input: Omit<PrepareAppInput, 'imageId'> } {
  const environment = environmentOf(v, cwd);
  const isolators = isolatorsFromFlags(v);
  return {
    image,
    input: {
      ...(v.name !== undefined ? { name: v.name } : {}),
      ...(v.exec !== undefined ? { exec: v.exec } : {}),
      ...(args.length > 0 ? { args } : {}),
      ...(v.user !== undefined ? { user: v.user } : {}),
      ...(v.group !== undefined ? { group: v.group } : {}),
      ...(v.workingDir !== undefined ? { workingDirectory: v.workingDir } : {}),
      ...(environment.length > 0 ? { environment } : {}),
      ...(v.mount.length > 0 ? { mounts: v.mount.map(parseMountFlag) } : {}),
      ...(isolators.length > 0 ? { isolators } : {}),
    },
  };
}

const APP_FLAG_KEYS: Record<string, keyof AppFlagValues> = {
  exec: 'exec',
  name: 'name',
  'set-env': 'setEnv',
  'set-env-file': 'setEnvFile',
  user: 'user',
  group: 'group',
  'working-dir': 'workingDir',
  mount: 'mount',
  ...ISOLATOR_FLAG_KEYS,
};

/**
 * The apps of `rkt run|prepare IMAGE... [-- ARG... [--- IMAGE [APP FLAGS] [-- ARG...]]...]`, as rkt
 * read them: the flags given before `--` and the arguments up to the first `---` belong to the last
 * image before `--`; each group after a `---` is an image, its own flags and, after `--`, its
 * arguments.
 */
export function parseApps(ctx: CommandContext, args: readonly string[]): { image: string; input: Omit<PrepareAppInput, 'imageId'> }[] {
  const dash = ctx.argsLenAtDash < 0 ? args.length : ctx.argsLenAtDash;
  const images = args.slice(0, dash);
  const after = args.slice(dash);
  const groups: string[][] = [[]];
  for (const a of after) {
    if (a === '---') groups.push([]);
    else groups[groups.length - 1]!.push(a);
  }
  const opt = (name: string) => (ctx.flags.changed(name) ? ctx.flags.string(name) : undefined);
  const first: AppFlagValues = {
    setEnv: [...ctx.flags.strings('set-env')],
    setEnvFile: [...ctx.flags.strings('set-env-file')],
    mount: [],
  };
  // rkt's --mount: before any image it applies to every app, after an image to that image's app.
  const globalMounts: string[] = [];
  const ownMounts = images.map((): string[] => []);
  const mountFlags = ctx.flags.strings('mount');
  ctx.flags.positions('mount').forEach((before, i) => {
    const raw = mountFlags[i] as string;
    if (before === 0) globalMounts.push(raw);
    else ownMounts[Math.min(before, images.length) - 1]?.push(raw);
  });
  for (const [f, key] of [['exec', 'exec'], ['name', 'name'], ['user', 'user'], ['group', 'group'], ['working-dir', 'workingDir']] as const) {
    const v = opt(f);
    if (v !== undefined) first[key] = v;
  }
  // Isolator flags as rkt's --mount: after an image they apply to it, before any image to every app.
  const ownIsolators = images.map((): IsolatorFlagValues => ({}));
  const globalIsolators: IsolatorFlagValues = {};
  for (const [f, key] of Object.entries(ISOLATOR_FLAG_KEYS)) {
    const values = ctx.flags.strings(f);
    ctx.flags.positions(f).forEach((before, i) => {
      const target = before === 0 ? globalIsolators : ownIsolators[Math.min(before, images.length) - 1];
      if (target !== undefined) target[key] = values[i] as string;
    });
  }
  const apps = images.map((image, i) =>
    i === images.length - 1
      ? toInput(image, { ...first, ...globalIsolators, ...ownIsolators[i], mount: [...globalMounts, ...(ownMounts[i] ?? [])] }, groups[0] ?? [], ctx.cwd)
      : toInput(image, { setEnv: [], setEnvFile: [], ...globalIsolators, ...ownIsolators[i], mount: [...globalMounts, ...(ownMounts[i] ?? [])] }, [], ctx.cwd),
  );
  for (const group of groups.slice(1)) {
    const [image, ...rest] = group;
    if (image === undefined) continue;
    const v: AppFlagValues = { setEnv: [], setEnvFile: [], mount: [...globalMounts], ...globalIsolators };
    let appArgs: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const tok = rest[i]!;
      if (tok === '--') {
        appArgs = rest.slice(i + 1);
        break;
      }
      const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(tok);
      const key = m ? APP_FLAG_KEYS[m[1]!] : undefined;
      if (!m || key === undefined) throw new CliError('CLI_BAD_ARGS', `image ${image}: unexpected ${JSON.stringify(tok)} (per-app flags: ${Object.keys(APP_FLAG_KEYS).map((k) => `--${k}`).join(', ')})`);
      let value = m[2];
      if (value === undefined) {
        value = rest[++i];
        if (value === undefined) throw new CliError('CLI_FLAG_NEEDS_VALUE', `image ${image}: flag --${m[1]} needs a value`);
      }
      if (key === 'setEnv' || key === 'setEnvFile' || key === 'mount') v[key].push(value);
      else v[key] = value;
    }
    apps.push(toInput(image, v, appArgs, ctx.cwd));
  }
  return apps;
}
