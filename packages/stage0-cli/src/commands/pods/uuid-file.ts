import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/**
 * The pods a command names: its UUID arguments, or with `--uuid-file=FILE` the one UUID in FILE, as `rkt run
 * --uuid-file-save` writes it (rkt's ReadUUIDFromFile: the file's text without surrounding white space). Both
 * at once, or neither, is a usage error, as rkt printed its usage then.
 */
export function podArgs(ctx: CommandContext, args: readonly string[]): readonly string[] {
  const file = ctx.flags.string('uuid-file');
  if (!ctx.flags.changed('uuid-file')) {
    if (args.length === 0) throw new CliError('CLI_BAD_ARGS', 'needs a pod UUID or --uuid-file=FILE', { hint: `run "rkt help ${ctx.command}" for usage` });
    return args;
  }
  if (args.length > 0) throw new CliError('CLI_BAD_ARGS', `--uuid-file=${file} and a UUID argument (${JSON.stringify(args[0])}) are mutually exclusive`);
  let text: string;
  try {
    text = readFileSync(isAbsolute(file) ? file : resolve(ctx.cwd, file), 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new CliError('CLI_BAD_FLAG_VALUE', `--uuid-file=${file}: cannot read the pod UUID: ${why}`, { cause: err });
  }
  const uuid = text.trim();
  if (!UUID.test(uuid)) {
    const shown = uuid === '' ? 'the file is empty' : `${JSON.stringify(uuid.length > 60 ? `${uuid.slice(0, 60)}...` : uuid)} is not a pod UUID`;
    throw new CliError('CLI_BAD_FLAG_VALUE', `--uuid-file=${file}: ${shown}`);
  }
  return [uuid.toLowerCase()];
}
