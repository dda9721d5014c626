/** A command-line mistake: printed as `appc <cmd>: <message>` with exit 254, like every other error. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface FlagSpec {
  /** `boolean` flags take no value (`--x`, `--x=true`, `--x=false`); `string` ones take `--x=v` or `--x v`. */
  type: 'boolean' | 'string';
  /** Allowed values of a string flag. */
  values?: readonly string[];
}

export interface ParsedArgs {
  flags: Map<string, string | boolean>;
  positionals: string[];
  help: boolean;
}

/**
 * GNU-style flags for one command: `--name`, `--name=value`, `--name value`, `--` ends flags. `-h`/`--help`
 * and `--debug` are accepted everywhere.
 */
export function parseArgs(argv: readonly string[], spec: Readonly<Record<string, FlagSpec>>): ParsedArgs {
  const flags = new Map<string, string | boolean>();
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (arg === '--debug') continue;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unknown flag ${arg}`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const f = spec[name];
    if (f === undefined) throw new UsageError(`unknown flag --${name}`);
    if (f.type === 'boolean') {
      if (inline === undefined || inline === 'true') flags.set(name, true);
      else if (inline === 'false') flags.set(name, false);
      else throw new UsageError(`--${name} takes no value (or =true, =false), got "${inline}"`);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      i++;
    }
    if (f.values !== undefined && !f.values.includes(value)) {
      throw new UsageError(`--${name} must be one of ${f.values.join(', ')}, got "${value}"`);
    }
    flags.set(name, value);
  }
  return { flags, positionals, help };
}
