import type { CommandSpec } from '../command.js';
import { CliError } from '../errors.js';
import { flag, parseBool, type FlagSpec, type FlagValue } from './flag-spec.js';
import { ParsedFlags } from './parsed-flags.js';

/** cobra adds `-h, --help` to every command. */
export const HELP_FLAG = flag.bool('help', 'help for this command', { short: 'h' });

export interface Invocation {
  /** The commands named on the line, outermost first (`[image, list]`); empty for bare `rkt`. */
  readonly path: readonly CommandSpec[];
  /** Global flags, the command's own flags and `--help`, all in one set. */
  readonly flags: ParsedFlags;
  readonly args: readonly string[];
  readonly argsLenAtDash: number;
  /**
   * For a command with `appArgs`: for each positional argument (an image), the words given after a
   * `--` that followed it, up to a `---`. Empty for other commands.
   */
  readonly appArgs: readonly (readonly string[])[];
}

/**
 * Parses argv the way cobra and pflag do: the command path is found first (flags may come before,
 * between or after command names), then every flag is read against the global flags plus the
 * chosen command's own. `--flag=value`, `--flag value`, `-f value`, `-fvalue`, bundled bool
 * shorthands (`-abc`), `--bool`/`--bool=false`, repeated flags, `--` ending the flags.
 */
export function parseArgv(argv: readonly string[], root: CommandSpec, globals: readonly FlagSpec[]): Invocation {
  const { path, pathIndexes } = findCommand(argv, root, globals);
  const command = path[path.length - 1] ?? root;
  const where = commandName(path);
  const specs = new Map<string, FlagSpec>();
  for (const spec of [...globals, ...(command.flags ?? []), HELP_FLAG]) specs.set(spec.name, spec);
  const shorts = new Map<string, FlagSpec>();
  for (const spec of specs.values()) if (spec.short !== undefined) shorts.set(spec.short, spec);

  const values = new Map<string, FlagValue>();
  const changed = new Set<string>();
  const positions = new Map<string, number[]>();
  const set = (spec: FlagSpec, raw: string | undefined, shown: string) => {
    const value = convert(spec, raw, shown, where);
    positions.set(spec.name, [...(positions.get(spec.name) ?? []), args.length]);
    if (spec.kind === 'strings') {
      const before = changed.has(spec.name) ? (values.get(spec.name) as readonly string[]) : [];
      values.set(spec.name, [...before, ...(value as readonly string[])]);
    } else {
      values.set(spec.name, value);
    }
    changed.add(spec.name);
  };

  const args: string[] = [];
  const appArgs: string[][] = [];
  let argsLenAtDash = -1;
  // rkt's parseApps: how many images there were at the last `--`, to catch a second one for the same image.
  let imagesAtLastDash = 0;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i] as string;
    if (pathIndexes.has(i)) continue;
    if (command.appArgs === true && (tok === '--' || tok === '---')) {
      // rkt ignored a `---` that ends no app arguments, so `IMG1 --- IMG2` is two images.
      if (tok === '---') continue;
      if (args.length === 0) throw usageError('CLI_BAD_ARGS', 'an image is required before any app arguments', where);
      if (imagesAtLastDash === args.length) throw usageError('CLI_BAD_ARGS', 'only one set of app arguments allowed per image', where);
      imagesAtLastDash = args.length;
      if (argsLenAtDash < 0) argsLenAtDash = args.length;
      const own: string[] = [];
      for (i++; i < argv.length && argv[i] !== '---'; i++) own.push(argv[i] as string);
      appArgs[args.length - 1] = own;
      continue;
    }
    // A command that runs another one (rkt enter) reads no flags after its first argument, as pflag's
    // SetInterspersed(false): `rkt enter UUID sh -c ...` passes -c to sh.
    if (command.interspersed === false && args.length > 0) {
      args.push(tok);
      continue;
    }
    if (tok === '--') {
      argsLenAtDash = args.length;
      args.push(...argv.slice(i + 1));
      break;
    }
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq === -1 ? tok.slice(2) : tok.slice(2, eq);
      const spec = specs.get(name);
      if (spec === undefined) throw usageError('CLI_UNKNOWN_FLAG', `unknown flag: --${name}`, where);
      if (eq !== -1) set(spec, tok.slice(eq + 1), `--${name}`);
      else if (spec.kind === 'bool') set(spec, undefined, `--${name}`);
      else if (optionalValue(spec) !== undefined) set(spec, optionalValue(spec), `--${name}`);
      else {
        if (i + 1 >= argv.length) throw usageError('CLI_FLAG_NEEDS_VALUE', `flag needs an argument: --${name}`, where);
        set(spec, argv[++i], `--${name}`);
      }
      continue;
    }
    if (tok.startsWith('-') && tok.length > 1) {
      const letters = tok.slice(1);
      for (let j = 0; j < letters.length; j++) {
        const letter = letters[j] as string;
        const spec = shorts.get(letter);
        if (spec === undefined) {
          throw usageError('CLI_UNKNOWN_FLAG', `unknown shorthand flag: '${letter}' in ${tok}`, where);
        }
        const rest = letters.slice(j + 1);
        if (spec.kind === 'bool') {
          if (rest.startsWith('=')) {
            set(spec, rest.slice(1), `-${letter}`);
            break;
          }
          set(spec, undefined, `-${letter}`);
          continue;
        }
        if (rest !== '') set(spec, rest.startsWith('=') ? rest.slice(1) : rest, `-${letter}`);
        else if (i + 1 < argv.length) set(spec, argv[++i], `-${letter}`);
        else throw usageError('CLI_FLAG_NEEDS_VALUE', `flag needs an argument: -${letter}`, where);
        break;
      }
      continue;
    }
    args.push(tok);
    if (command.appArgs === true) appArgs.push([]);
  }
  // As in cobra, asking for help wins over a wrong number of arguments.
  if (values.get(HELP_FLAG.name) !== true) checkArgCount(command, args, where);
  return { path, flags: new ParsedFlags(specs, values, changed, positions), args, argsLenAtDash, appArgs };
}

function checkArgCount(command: CommandSpec, args: readonly string[], where: string): void {
  const { minArgs = 0, maxArgs = Infinity } = command;
  const plural = (n: number) => `${n} argument${n === 1 ? '' : 's'}`;
  if (args.length > maxArgs) {
    const extra = args.slice(maxArgs).map((a) => JSON.stringify(a)).join(' ');
    const takes = maxArgs === 0 ? 'takes no arguments' : `takes at most ${plural(maxArgs)}`;
    throw usageError('CLI_BAD_ARGS', `${takes}; unexpected ${extra}`, where);
  }
  if (args.length < minArgs) {
    throw usageError('CLI_BAD_ARGS', `needs at least ${plural(minArgs)}${command.args ? ` (${command.args})` : ''}`, where);
  }
}

/** `image list` for `[image, list]`, `rkt` for the bare command. */
export function commandName(path: readonly CommandSpec[]): string {
  return path.length === 0 ? 'rkt' : path.map((c) => c.name).join(' ');
}

/** Exact name first, then, as rkt enabled in cobra, an unambiguous prefix (`rkt vers`). */
export function findSubcommand(parent: CommandSpec, word: string): CommandSpec | undefined {
  const subs = parent.subcommands ?? [];
  const exact = subs.find((c) => c.name === word);
  if (exact !== undefined) return exact;
  const byPrefix = subs.filter((c) => !c.hidden && c.name.startsWith(word));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

function findCommand(
  argv: readonly string[],
  root: CommandSpec,
  globals: readonly FlagSpec[],
): { path: CommandSpec[]; pathIndexes: Set<number> } {
  const path: CommandSpec[] = [];
  const pathIndexes = new Set<number>();
  let node = root;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i] as string;
    if (tok === '--') break;
    if (tok.startsWith('-') && tok.length > 1) {
      if (takesNextArgument(tok, node, globals)) i++;
      continue;
    }
    if ((node.subcommands ?? []).length === 0) break;
    const child = findSubcommand(node, tok);
    if (child !== undefined) {
      node = child;
      path.push(child);
      pathIndexes.add(i);
      continue;
    }
    // A runnable command takes positional arguments; a group (or rkt itself) only takes commands.
    if (node.load !== undefined) break;
    const parent = ['rkt', ...path.map((c) => c.name)].join(' ');
    const err = usageError('CLI_UNKNOWN_COMMAND', `unknown command ${JSON.stringify(tok)} for "${parent}"`, commandName(path));
    const near = suggestions(node, tok);
    if (near.length === 0) throw err;
    const didYouMean = `did you mean ${near.map((n) => JSON.stringify(n)).join(' or ')}?`;
    throw new CliError(err.code, err.message, { command: err.command, hint: `${didYouMean} ${err.hint ?? ''}`.trim() });
  }
  return { path, pathIndexes };
}

/** cobra's "did you mean": subcommands within two edits of the word, or starting with it. */
function suggestions(parent: CommandSpec, word: string): string[] {
  return (parent.subcommands ?? [])
    .filter((c) => !c.hidden && (editDistance(c.name, word.toLowerCase()) <= 2 || c.name.startsWith(word)))
    .map((c) => c.name);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/**
 * While the command is not known yet, a flag's kind decides whether the next word is its value or
 * a command name: the global flags, the command so far, then the commands below it are asked.
 */
function takesNextArgument(tok: string, node: CommandSpec, globals: readonly FlagSpec[]): boolean {
  let spec: FlagSpec | undefined;
  if (tok.startsWith('--')) {
    if (tok.includes('=')) return false;
    const name = tok.slice(2);
    spec = lookup(node, globals, (s) => s.name === name);
  } else {
    if (tok.length !== 2) return false;
    const letter = tok[1];
    spec = lookup(node, globals, (s) => s.short === letter);
  }
  return spec !== undefined && spec.kind !== 'bool' && (!tok.startsWith('--') || optionalValue(spec) === undefined);
}

/** The value of a bare `--flag` whose value is optional (pflag's NoOptDefVal); undefined when one is required. */
function optionalValue(spec: FlagSpec): string | undefined {
  return spec.kind === 'string' || spec.kind === 'strings' ? spec.noOptDefault : undefined;
}

function lookup(node: CommandSpec, globals: readonly FlagSpec[], match: (s: FlagSpec) => boolean): FlagSpec | undefined {
  const found = globals.find(match) ?? (match(HELP_FLAG) ? HELP_FLAG : undefined);
  if (found !== undefined) return found;
  const queue: CommandSpec[] = [node];
  for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
    const own = c.flags?.find(match);
    if (own !== undefined) return own;
    queue.push(...(c.subcommands ?? []));
  }
  return undefined;
}

function convert(spec: FlagSpec, raw: string | undefined, shown: string, where: string): FlagValue {
  const bad = (why: string) =>
    usageError('CLI_BAD_FLAG_VALUE', `invalid value ${JSON.stringify(raw)} for ${shown}: ${why}`, where);
  const checked = (parse: ((raw: string) => string) | undefined, value: string): string => {
    if (parse === undefined) return value;
    try {
      return parse(value);
    } catch (err) {
      throw bad(err instanceof Error ? err.message : String(err));
    }
  };
  switch (spec.kind) {
    case 'bool': {
      if (raw === undefined) return true;
      const b = parseBool(raw);
      if (b === undefined) throw bad('expected true or false');
      return b;
    }
    case 'string': {
      const value = raw ?? '';
      if (spec.choices !== undefined && !spec.choices.includes(value)) {
        throw bad(`allowed values: ${spec.choices.map((c) => (c === '' ? '""' : c)).join(', ')}`);
      }
      return checked(spec.parse, value);
    }
    case 'strings': {
      const value = raw ?? '';
      const parts = spec.separator === undefined ? [value] : value.split(spec.separator);
      return parts.map((p) => checked(spec.parse, p));
    }
    case 'int': {
      const value = raw ?? '';
      if (!/^[+-]?\d+$/.test(value)) throw bad('expected an integer');
      const n = Number.parseInt(value, 10);
      if (spec.min !== undefined && n < spec.min) throw bad(`must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw bad(`must be at most ${spec.max}`);
      return n;
    }
  }
}

type UsageErrorCode =
  | 'CLI_UNKNOWN_COMMAND'
  | 'CLI_UNKNOWN_FLAG'
  | 'CLI_FLAG_NEEDS_VALUE'
  | 'CLI_BAD_FLAG_VALUE'
  | 'CLI_BAD_ARGS';

function usageError(code: UsageErrorCode, message: string, where: string): CliError {
  const hint = where === 'rkt' ? 'run "rkt help" for usage' : `run "rkt help ${where}" for usage`;
  return new CliError(code, message, { hint, command: where });
}
