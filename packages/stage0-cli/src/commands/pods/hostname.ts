import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { checkHostname } from './flags.js';

/** `--hostname` of rkt run and run-prepared, checked: undefined when not given. */
export function hostnameFlag(ctx: CommandContext): string | undefined {
  if (!ctx.flags.changed('hostname')) return undefined;
  const value = ctx.flags.string('hostname');
  const wrong = checkHostname(value);
  if (wrong !== undefined) throw new CliError('CLI_BAD_FLAG_VALUE', `--hostname ${JSON.stringify(value)}: ${wrong}`);
  return value;
}
